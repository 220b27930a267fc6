"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, baselines and CLV metrics.

The probabilistic models follow Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model" (BG/NBD) and Fader, Hardie & Lee (2005), "RFM and CLV: Using
Iso-Value Curves for Customer Base Analysis" (Gamma-Gamma), fitted by maximum likelihood with scipy.
`lifetimes` implements the same models but is unmaintained (last release 2020) and is not used here.

Units: `frequency` counts repeat purchase periods, `recency` and `T` are in the summary's periods (days
for ``freq="D"``), and horizons are in those same periods.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


# --------------------------------------------------------------------------------------------------
# Input checks shared by the estimators: each error names the parameter, what is allowed and what arrived.


def _as_float_array(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"{name} must be finite numbers, got {bad} NaN or infinite value(s)")
    return array


def _check_non_negative(array: np.ndarray, name: str) -> None:
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {array.min():g}")


def _check_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frequency = _as_float_array(frequency, "frequency")
    recency = _as_float_array(recency, "recency")
    T = _as_float_array(T, "T")
    if not (frequency.shape == recency.shape == T.shape):
        raise ValueError(
            "frequency, recency and T must have the same length, got "
            f"{frequency.shape[0]}, {recency.shape[0]} and {T.shape[0]}"
        )
    for array, name in ((frequency, "frequency"), (recency, "recency"), (T, "T")):
        _check_non_negative(array, name)
    if np.any(frequency != np.round(frequency)):
        raise ValueError("frequency must hold whole numbers of repeat purchases, got a fractional value")
    if np.any(recency > T):
        raise ValueError(f"recency must be <= T for every customer, got {int(np.sum(recency > T))} with recency > T")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("recency must be 0 where frequency is 0 (no repeat purchase), got a non-zero recency")
    return frequency, recency, T


def _check_penalizer(penalizer) -> float:
    if isinstance(penalizer, bool) or not isinstance(penalizer, (int, float)) or not penalizer >= 0:
        raise ValueError(f"penalizer must be a float >= 0, got {penalizer!r}")
    return float(penalizer)


def _check_horizon(t, name: str) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not t >= 0:
        raise ValueError(f"{name} must be a number of periods >= 0, got {t!r}")
    return float(t)


def _check_fitted(estimator, attribute: str) -> None:
    if not hasattr(estimator, attribute):
        raise RuntimeError(f"{type(estimator).__name__} is not fitted yet: call fit(...) before predicting")


def _maximise(negative_log_likelihood, start: np.ndarray, model: str) -> optimize.OptimizeResult:
    """Minimise over log-parameters, so every parameter stays positive without bounds."""
    result = optimize.minimize(negative_log_likelihood, start, method="L-BFGS-B")
    if not result.success or not np.all(np.isfinite(result.x)):
        # L-BFGS-B sometimes stops on a flat ridge; Nelder-Mead from there needs no gradient.
        result = optimize.minimize(
            negative_log_likelihood,
            result.x if np.all(np.isfinite(result.x)) else start,
            method="Nelder-Mead",
            options={"maxiter": 5000, "xatol": 1e-8, "fatol": 1e-10},
        )
    if not result.success:
        warnings.warn(
            f"{model} maximum likelihood did not converge ({result.message}); check the inputs' units "
            "(recency and T in periods, not timestamps) or raise penalizer to regularise.",
            RuntimeWarning,
            stacklevel=3,
        )
    return result


# --------------------------------------------------------------------------------------------------
# Data preparation


def _checked_transactions(transactions, customer_col, datetime_col, monetary_col, **bounds):
    """Parsed times and amounts, and the bounds as timestamps; a null or mismatched value is an error."""
    if not isinstance(transactions, pd.DataFrame):
        raise TypeError(f"transactions must be a pandas DataFrame, got {type(transactions).__name__}")
    for name, column in (("customer_col", customer_col), ("datetime_col", datetime_col), ("monetary_col", monetary_col)):
        if column not in transactions.columns:
            raise ValueError(f"{name} {column!r} is not a column of transactions; columns are {list(transactions.columns)}")
    times = pd.to_datetime(transactions[datetime_col])
    timestamps = []
    for name, bound in bounds.items():
        timestamp = pd.Timestamp(bound)
        if (times.dt.tz is None) != (timestamp.tz is None):
            raise ValueError(
                f"{name} must be time-zone aware exactly when {datetime_col!r} is; got "
                f"{name}={timestamp!r} and {datetime_col!r} with tz={times.dt.tz}"
            )
        timestamps.append(timestamp)
    for column, values in ((customer_col, transactions[customer_col]), (datetime_col, times)):
        if values.isna().any():
            raise ValueError(f"{column!r} must not be null, got {int(values.isna().sum())} null value(s)")
    amounts = pd.to_numeric(transactions[monetary_col], errors="raise").astype(float)
    if not np.all(np.isfinite(amounts.to_numpy())):
        raise ValueError(f"{monetary_col!r} must be finite numbers, got {int((~np.isfinite(amounts)).sum())} NaN or infinite")
    return times, amounts, timestamps


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    datetime_col: str,
    monetary_col: str,
    observation_end,
    freq: str = "D",
) -> pd.DataFrame:
    """Summarise transactions into the customer-by-sufficient-statistic (CBS) table the models need.

    Only transactions strictly before `observation_end` count. Transactions are grouped into periods of
    length `freq` (several orders on one day are one purchase occasion, their amounts summed), as in
    `lifetimes.utils.summary_data_from_transaction_data` with its period end set to the last period
    before `observation_end`.

    Parameters
    ----------
    transactions : DataFrame, shape (n_transactions, >= 3)
        One row per order, with the customer id, the order time and its amount.
    customer_col, datetime_col, monetary_col : str
        Column names in `transactions`.
    observation_end : timestamp-like
        Exclusive cutoff. Naive or time-zone aware like `datetime_col`.
    freq : str, default "D"
        A fixed period length pandas understands ("D", "h", "W" = 7 days). Recency and T are in these.

    Returns
    -------
    DataFrame, shape (n_customers, 4)
        Indexed by customer id, sorted, with float columns:
        ``frequency`` (repeat purchase periods), ``recency`` (last minus first purchase period),
        ``T`` (last observed period minus first purchase period) and ``monetary_value`` (mean amount of
        the repeat purchase periods, 0 without repeats).
    """
    try:
        period = pd.Timedelta(1, unit=freq) if freq.isalpha() else pd.Timedelta(freq)
    except (ValueError, AttributeError) as error:
        raise ValueError(f"freq must be a fixed period such as 'D', 'h' or 'W', got {freq!r}") from error
    if period <= pd.Timedelta(0):
        raise ValueError(f"freq must be a positive period, got {freq!r}")
    times, amounts, (end,) = _checked_transactions(
        transactions, customer_col, datetime_col, monetary_col, observation_end=observation_end
    )

    before_end = (times < end).to_numpy()
    origin = pd.Timestamp(0, tz=end.tz)
    periods = ((times[before_end] - origin) // period).to_numpy(dtype=np.int64)
    last_observed_period = (end - pd.Timedelta(1, unit="ns") - origin) // period
    occasions = (
        pd.DataFrame(
            {
                "customer": transactions[customer_col].to_numpy()[before_end],
                "period": periods,
                "amount": amounts.to_numpy()[before_end],
            }
        )
        .groupby(["customer", "period"], sort=True, as_index=False)["amount"]
        .sum()
    )
    first_period = occasions.groupby("customer")["period"].transform("min")
    repeat = occasions[occasions["period"] > first_period]
    per_customer = occasions.groupby("customer").agg(first=("period", "min"), last=("period", "max"), n=("period", "size"))
    summary = pd.DataFrame(
        {
            "frequency": (per_customer["n"] - 1).astype(float),
            "recency": (per_customer["last"] - per_customer["first"]).astype(float),
            "T": (last_observed_period - per_customer["first"]).astype(float),
            "monetary_value": repeat.groupby("customer")["amount"].mean().reindex(per_customer.index).fillna(0.0),
        }
    )
    summary.index.name = customer_col
    return summary


def holdout_revenue(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    datetime_col: str,
    monetary_col: str,
    start,
    end,
    customers: Sequence | pd.Index | None = None,
) -> pd.Series:
    """Actual revenue per customer in ``[start, end)``: the target CLV predictions are scored against.

    Parameters
    ----------
    transactions : DataFrame, shape (n_transactions, >= 3)
    customer_col, datetime_col, monetary_col : str
    start, end : timestamp-like
        Window bounds, start inclusive, end exclusive.
    customers : sequence, optional
        Customers to report; those without a purchase in the window get 0. Default: every customer with
        a purchase in the window.

    Returns
    -------
    Series, shape (n_customers,)
        Revenue indexed by customer id, named ``revenue``.
    """
    times, amounts, (start, end) = _checked_transactions(
        transactions, customer_col, datetime_col, monetary_col, start=start, end=end
    )
    if not start < end:
        raise ValueError(f"start must be before end, got start={start} and end={end}")
    in_window = ((times >= start) & (times < end)).to_numpy()
    revenue = amounts[in_window].groupby(transactions[customer_col].to_numpy()[in_window]).sum()
    revenue.index.name = customer_col
    if customers is not None:
        revenue = revenue.reindex(pd.Index(customers, name=customer_col), fill_value=0.0)
    return revenue.rename("revenue")


# --------------------------------------------------------------------------------------------------
# BG/NBD


def bgnbd_log_likelihood(params, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood of the BG/NBD model, FHL (2005) eq. 6, in log space.

    Parameters
    ----------
    params : sequence of 4 floats
        (r, alpha, a, b), all > 0.
    frequency, recency, T : array-like, shape (n_customers,)

    Returns
    -------
    ndarray, shape (n_customers,)
    """
    r, alpha, a, b = (float(value) for value in params)
    x, t_x, T = (np.asarray(values, dtype=float) for values in (frequency, recency, T))
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + special.betaln(a, b + x) - special.betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + T)
    # Dropped out right after the last purchase: B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1); only for x > 0.
    has_repeat = x > 0
    dropped_out = np.full_like(x, -np.inf)
    dropped_out[has_repeat] = (
        np.log(a) - np.log(b + x[has_repeat] - 1) - (r + x[has_repeat]) * np.log(alpha + t_x[has_repeat])
    )
    return common + np.logaddexp(still_alive, dropped_out)


class BGNBDModel:
    """Beta-geometric/NBD model of repeat purchases (Fader, Hardie & Lee 2005).

    While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each repeat
    purchase they drop out for good with probability p ~ Beta(a, b).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the four parameters added to the mean negative log-likelihood; a small value
        (0.001-0.1) keeps the fit stable on few customers.

    Attributes
    ----------
    params_ : dict
        Fitted ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Total log-likelihood at the fitted parameters.
    n_customers_ : int
    """

    PARAMETER_NAMES = ("r", "alpha", "a", "b")

    def __init__(self, *, penalizer=0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency, T):
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like, shape (n_customers,)
            As returned by `rfm_summary`.

        Returns
        -------
        self
        """
        penalizer = _check_penalizer(self.penalizer)
        frequency, recency, T = _check_rfm(frequency, recency, T)
        if frequency.size == 0:
            raise ValueError("frequency must hold at least one customer, got 0")
        if np.all(frequency == 0):
            raise ValueError("frequency must be > 0 for some customers: with no repeat purchase the model is not identified")

        def negative_log_likelihood(log_params):
            params = np.exp(log_params)
            log_likelihood = bgnbd_log_likelihood(params, frequency, recency, T)
            return -log_likelihood.mean() + penalizer * np.sum(params**2)

        # Start near the observed purchase rate so the optimiser does not wander when T is in days.
        rate = max(frequency.mean(), 0.1) / max(T.mean(), 1.0)
        start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
        result = _maximise(negative_log_likelihood, start, "BG/NBD")
        self.params_ = dict(zip(self.PARAMETER_NAMES, np.exp(result.x).tolist()))
        self.log_likelihood_ = float(bgnbd_log_likelihood(np.exp(result.x), frequency, recency, T).sum())
        self.n_customers_ = int(frequency.size)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        _check_fitted(self, "params_")
        return tuple(self.params_[name] for name in self.PARAMETER_NAMES)

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """Probability each customer is still alive at T, FHL (2005) eq. 11 (1 without repeat purchases).

        Parameters
        ----------
        frequency, recency, T : array-like, shape (n_customers,)

        Returns
        -------
        ndarray, shape (n_customers,)
        """
        r, alpha, a, b = self._params()
        x, t_x, T = _check_rfm(frequency, recency, T)
        return self._p_alive(r, alpha, a, b, x, t_x, T)

    @staticmethod
    def _p_alive(r, alpha, a, b, x, t_x, T) -> np.ndarray:
        log_odds_dead = np.full_like(x, -np.inf)
        has_repeat = x > 0
        xr = x[has_repeat]
        log_odds_dead[has_repeat] = (
            np.log(a) - np.log(b + xr - 1) + (r + xr) * (np.log(alpha + T[has_repeat]) - np.log(alpha + t_x[has_repeat]))
        )
        return special.expit(-log_odds_dead)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected number of purchases in the next `t` periods given each history, FHL (2005) eq. 10.

        Parameters
        ----------
        t : float
            Horizon in the summary's periods, >= 0.
        frequency, recency, T : array-like, shape (n_customers,)

        Returns
        -------
        ndarray, shape (n_customers,)
        """
        r, alpha, a, b = self._params()
        t = _check_horizon(t, "t")
        x, t_x, T = _check_rfm(frequency, recency, T)
        if t == 0:
            return np.zeros_like(x)
        if np.isclose(a, 1.0):
            # Eq. 10 divides by (a - 1); nudging a changes the result by far less than its standard error.
            a = 1.0 + 1e-6
        z = t / (alpha + T + t)
        # Euler's transformation of eq. 10's 2F1(r+x, b+x; a+b+x-1; z) times (1-z)^(r+x): the first two
        # arguments no longer grow with x, so the series converges fast and never overflows.
        hypergeometric = np.power(1.0 - z, a - 1.0) * special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        if_alive = (a + b + x - 1.0) / (a - 1.0) * (1.0 - hypergeometric)
        return if_alive * self._p_alive(r, alpha, a, b, x, t_x, T)

    def expected_purchases_new_customer(self, t) -> float:
        """Expected repeat purchases in `t` periods for a customer just acquired, FHL (2005) eq. 9."""
        r, alpha, a, b = self._params()
        t = _check_horizon(t, "t")
        if np.isclose(a, 1.0):
            a = 1.0 + 1e-6
        hypergeometric = special.hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
        return float((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hypergeometric))


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma


def gamma_gamma_log_likelihood(params, frequency, monetary_value) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend under the Gamma-Gamma model (FHL 2005, RFM and CLV).

    Parameters
    ----------
    params : sequence of 3 floats
        (p, q, v), all > 0: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v).
    frequency, monetary_value : array-like, shape (n_customers,)
        Repeat purchases (> 0) and their mean amount (> 0).

    Returns
    -------
    ndarray, shape (n_customers,)
    """
    p, q, v = (float(value) for value in params)
    x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1.0) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + m * x)
    )


class GammaGammaModel:
    """Gamma-Gamma model of the average spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV").

    Assumes spend is independent of purchase frequency; fit it on repeat customers only.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the three parameters added to the mean negative log-likelihood.

    Attributes
    ----------
    params_ : dict
        Fitted ``p``, ``q``, ``v``.
    log_likelihood_ : float
    n_customers_ : int
    """

    PARAMETER_NAMES = ("p", "q", "v")

    def __init__(self, *, penalizer=0.0):
        self.penalizer = penalizer

    @staticmethod
    def _check(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
        x = _as_float_array(frequency, "frequency")
        m = _as_float_array(monetary_value, "monetary_value")
        if x.shape != m.shape:
            raise ValueError(f"frequency and monetary_value must have the same length, got {x.shape[0]} and {m.shape[0]}")
        if x.size and x.min() <= 0:
            raise ValueError(f"frequency must be > 0 (repeat customers only), got {x.min():g}")
        if m.size and m.min() <= 0:
            raise ValueError(f"monetary_value must be > 0, got {m.min():g}")
        return x, m

    def fit(self, frequency, monetary_value):
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency : array-like, shape (n_customers,)
            Repeat purchases, each > 0.
        monetary_value : array-like, shape (n_customers,)
            Mean amount of those purchases, each > 0.

        Returns
        -------
        self
        """
        penalizer = _check_penalizer(self.penalizer)
        x, m = self._check(frequency, monetary_value)
        if x.size < 2:
            raise ValueError(f"frequency must hold at least 2 repeat customers, got {x.size}")
        # Scale amounts to mean 1 so the same start works for cents and thousands; v scales back.
        scale = float(np.mean(m))
        m_scaled = m / scale

        def negative_log_likelihood(log_params):
            params = np.exp(log_params)
            return -gamma_gamma_log_likelihood(params, x, m_scaled).mean() + penalizer * np.sum(params**2)

        result = _maximise(negative_log_likelihood, np.log([1.0, 2.0, 1.0]), "Gamma-Gamma")
        p, q, v = np.exp(result.x)
        self.params_ = {"p": float(p), "q": float(q), "v": float(v * scale)}
        self.log_likelihood_ = float(gamma_gamma_log_likelihood((p, q, v * scale), x, m).sum())
        self.n_customers_ = int(x.size)
        return self

    def population_average_profit(self) -> float:
        """Mean spend per purchase across the population, p v / (q - 1); infinite when q <= 1."""
        _check_fitted(self, "params_")
        p, q, v = (self.params_[name] for name in self.PARAMETER_NAMES)
        return float(p * v / (q - 1.0)) if q > 1.0 else float("inf")

    def conditional_expected_average_profit(self, frequency, monetary_value) -> np.ndarray:
        """Expected spend per future purchase given each history: a weighted mean of population and own.

        Customers with frequency 0 get the population mean.

        Parameters
        ----------
        frequency, monetary_value : array-like, shape (n_customers,)

        Returns
        -------
        ndarray, shape (n_customers,)
        """
        _check_fitted(self, "params_")
        p, q, v = (self.params_[name] for name in self.PARAMETER_NAMES)
        x = _as_float_array(frequency, "frequency")
        m = _as_float_array(monetary_value, "monetary_value")
        if x.shape != m.shape:
            raise ValueError(f"frequency and monetary_value must have the same length, got {x.shape[0]} and {m.shape[0]}")
        _check_non_negative(x, "frequency")
        return (p * (v + x * m)) / (p * x + q - 1.0)


# --------------------------------------------------------------------------------------------------
# Combined model and baselines: each `predict(summary, horizon_days)` gives expected revenue per customer.


def _check_summary(summary) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a DataFrame from rfm_summary, got {type(summary).__name__}")
    missing = [column for column in SUMMARY_COLUMNS if column not in summary.columns]
    if missing:
        raise ValueError(f"summary must have columns {list(SUMMARY_COLUMNS)}, missing {missing}")
    return summary


class CustomerLifetimeValue:
    """BG/NBD for how many purchases, Gamma-Gamma for how much each: expected revenue over a horizon.

    Revenue is undiscounted and in the summary's currency; the horizon is in the summary's periods.

    Parameters
    ----------
    penalizer : float, default 0.0
        Passed to `BGNBDModel`.
    spend_penalizer : float, default 0.0
        Passed to `GammaGammaModel`.

    Attributes
    ----------
    purchases_model_ : BGNBDModel
    spend_model_ : GammaGammaModel
    n_excluded_from_spend_model_ : int
        Repeat customers left out of the spend fit because their mean repeat amount is <= 0 (refunds).
    """

    def __init__(self, *, penalizer=0.0, spend_penalizer=0.0):
        self.penalizer = penalizer
        self.spend_penalizer = spend_penalizer

    def fit(self, summary):
        """Fit both models on an `rfm_summary` table, shape (n_customers, 4). Returns self."""
        summary = _check_summary(summary)
        self.purchases_model_ = BGNBDModel(penalizer=self.penalizer).fit(
            summary["frequency"], summary["recency"], summary["T"]
        )
        repeat = summary["frequency"] > 0
        spendable = repeat & (summary["monetary_value"] > 0)
        self.n_excluded_from_spend_model_ = int((repeat & ~spendable).sum())
        if self.n_excluded_from_spend_model_:
            warnings.warn(
                f"{self.n_excluded_from_spend_model_} repeat customer(s) have a mean repeat amount <= 0 and are "
                "left out of the spend model; net refunds against orders upstream if they should count.",
                UserWarning,
                stacklevel=2,
            )
        self.spend_model_ = GammaGammaModel(penalizer=self.spend_penalizer).fit(
            summary.loc[spendable, "frequency"], summary.loc[spendable, "monetary_value"]
        )
        return self

    def predict(self, summary, horizon_days) -> pd.DataFrame:
        """Expected purchases, P(alive), expected spend per purchase and expected revenue per customer.

        Parameters
        ----------
        summary : DataFrame, shape (n_customers, 4)
            From `rfm_summary`, with recency and T in days.
        horizon_days : float
            Length of the future window, >= 0.

        Returns
        -------
        DataFrame, shape (n_customers, 4)
            Indexed like `summary`: ``expected_purchases``, ``p_alive``, ``expected_average_value``,
            ``expected_revenue``.
        """
        _check_fitted(self, "purchases_model_")
        summary = _check_summary(summary)
        horizon = _check_horizon(horizon_days, "horizon_days")
        frequency, recency, T = summary["frequency"], summary["recency"], summary["T"]
        purchases = self.purchases_model_.expected_purchases(horizon, frequency, recency, T)
        # A non-positive mean (refunds) carries no spend information: such customers get the population mean.
        monetary = summary["monetary_value"].to_numpy(dtype=float)
        informative = (frequency.to_numpy() > 0) & (monetary > 0)
        average_value = self.spend_model_.conditional_expected_average_profit(
            np.where(informative, frequency, 0.0), np.where(informative, monetary, 0.0)
        )
        return pd.DataFrame(
            {
                "expected_purchases": purchases,
                "p_alive": self.purchases_model_.p_alive(frequency, recency, T),
                "expected_average_value": average_value,
                "expected_revenue": purchases * average_value,
            },
            index=summary.index,
        )


class HistoricalAverageCLV:
    """Baseline: each customer's past revenue per day, from repeat purchases, times the horizon.

    The first purchase is left out: it is what put the customer in the table, so counting it would
    inflate the rate of customers seen briefly. Customers observed for no time (T = 0) get the
    population's rate.

    Attributes
    ----------
    population_daily_revenue_ : float
        Repeat revenue per customer-day across the fitted summary.
    """

    def __init__(self):
        pass

    def fit(self, summary):
        """Learn the population's daily revenue from an `rfm_summary` table. Returns self."""
        summary = _check_summary(summary)
        exposure = float(summary["T"].sum())
        revenue = float((summary["frequency"] * summary["monetary_value"]).sum())
        self.population_daily_revenue_ = revenue / exposure if exposure > 0 else 0.0
        return self

    def predict(self, summary, horizon_days) -> pd.Series:
        """Expected revenue per customer over `horizon_days`; Series shape (n_customers,) named ``expected_revenue``."""
        _check_fitted(self, "population_daily_revenue_")
        summary = _check_summary(summary)
        horizon = _check_horizon(horizon_days, "horizon_days")
        T = summary["T"].to_numpy(dtype=float)
        repeat_revenue = (summary["frequency"] * summary["monetary_value"]).to_numpy(dtype=float)
        daily = np.divide(repeat_revenue, T, out=np.full_like(T, self.population_daily_revenue_), where=T > 0)
        return pd.Series(daily * horizon, index=summary.index, name="expected_revenue")


class ZeroCLV:
    """Baseline: nobody buys again. Most customers of most shops don't, so it is harder to beat than it looks."""

    def __init__(self):
        pass

    def fit(self, summary):
        """Nothing to learn; checks the table. Returns self."""
        _check_summary(summary)
        self.fitted_ = True
        return self

    def predict(self, summary, horizon_days) -> pd.Series:
        """Zeros, Series shape (n_customers,) named ``expected_revenue``."""
        _check_fitted(self, "fitted_")
        summary = _check_summary(summary)
        _check_horizon(horizon_days, "horizon_days")
        return pd.Series(0.0, index=summary.index, name="expected_revenue")


# --------------------------------------------------------------------------------------------------
# Metrics: pure functions of actual and predicted revenue, shape (n_customers,) each.


def _check_pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    actual = _as_float_array(actual, "actual")
    predicted = _as_float_array(predicted, "predicted")
    if actual.shape != predicted.shape:
        raise ValueError(f"actual and predicted must have the same length, got {actual.shape[0]} and {predicted.shape[0]}")
    if actual.size == 0:
        raise ValueError("actual must hold at least one customer, got 0")
    return actual, predicted


def aggregate_error(actual, predicted) -> float:
    """Relative error of the total: (sum predicted - sum actual) / sum actual; positive means over-forecast.

    Raises ValueError when the actual total is 0 (the relative error is undefined).
    """
    actual, predicted = _check_pair(actual, predicted)
    total = actual.sum()
    if total == 0:
        raise ValueError("actual must have a non-zero total for a relative aggregate error, got 0")
    return float((predicted.sum() - total) / total)


def rmse(actual, predicted) -> float:
    """Root mean squared error per customer."""
    actual, predicted = _check_pair(actual, predicted)
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def mae(actual, predicted) -> float:
    """Mean absolute error per customer."""
    actual, predicted = _check_pair(actual, predicted)
    return float(np.mean(np.abs(predicted - actual)))


def spearman(actual, predicted) -> float:
    """Spearman rank correlation (ties get average ranks); NaN when either side is constant, e.g. ZeroCLV."""
    actual, predicted = _check_pair(actual, predicted)
    if np.all(actual == actual[0]) or np.all(predicted == predicted[0]):
        return float("nan")
    return float(stats.spearmanr(actual, predicted).statistic)


def clv_metrics(actual, predicted) -> dict[str, float]:
    """All four CLV metrics in one dict: aggregate_error, rmse, mae, spearman (aggregate_error NaN if total 0)."""
    actual, predicted = _check_pair(actual, predicted)
    return {
        "aggregate_error": aggregate_error(actual, predicted) if actual.sum() != 0 else float("nan"),
        "rmse": rmse(actual, predicted),
        "mae": mae(actual, predicted),
        "spearman": spearman(actual, predicted),
    }
