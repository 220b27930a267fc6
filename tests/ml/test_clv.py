"""CLV models: parameter recovery on simulated customers, published identities, baselines and metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.clv import (
    BGNBDModel,
    CustomerLifetimeValue,
    GammaGammaModel,
    HistoricalAverageCLV,
    ZeroCLV,
    aggregate_error,
    bgnbd_log_likelihood,
    clv_metrics,
    holdout_revenue,
    mae,
    rfm_summary,
    rmse,
    spearman,
)

# Known parameters for the simulations, in days: about 5.5 purchases a year while alive, 24% mean dropout.
TRUE_BGNBD = {"r": 0.6, "alpha": 40.0, "a": 0.8, "b": 2.5}
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}
# Relative tolerances, about 3.5 standard deviations of the estimates over 10 seeds of 5,000 customers
# (r 2.7%, alpha 4.7%, a 9.8%, b 11.3%): a and b are the weakly identified pair, as in FHL (2005).
BGNBD_TOLERANCE = {"r": 0.10, "alpha": 0.15, "a": 0.35, "b": 0.40}
# Gamma-Gamma over 10 seeds: p 11%, q 3.3%, v 16.5% (p and v trade off), the population mean p v / (q - 1)
# only 0.6%, so that is held tighter.
GAMMA_GAMMA_TOLERANCE = {"p": 0.35, "q": 0.12, "v": 0.50}
POPULATION_MEAN_SPEND_TOLERANCE = 0.03

# Published CDNOW estimates (FHL 2005, weeks), used with values computed independently by `lifetimes` 0.11.3.
CDNOW_BGNBD = (0.243, 4.414, 0.793, 2.426)


def simulate_bgnbd_purchases(rng, n_customers, *, r, alpha, a, b, observed_days, holdout_days):
    """Purchase times after each customer's first purchase (time 0), from the BG/NBD generative process.

    Each customer buys at Poisson rate lambda ~ Gamma(r, rate alpha) and after every repeat purchase
    drops out for good with probability p ~ Beta(a, b). Simulated up to `observed_days + holdout_days`.

    Returns a DataFrame with one row per repeat purchase: ``customer`` and ``day`` (float).
    """
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    end = observed_days + holdout_days
    clock = np.zeros(n_customers)
    active = np.ones(n_customers, dtype=bool)
    customers, days = [], []
    while active.any():
        index = np.flatnonzero(active)
        clock[index] += rng.exponential(1.0 / rate[index])
        beyond = clock[index] > end[index]
        active[index[beyond]] = False
        buyers = index[~beyond]
        customers.append(buyers)
        days.append(clock[buyers].copy())
        active[buyers[rng.random(buyers.size) < dropout[buyers]]] = False
    return pd.DataFrame({"customer": np.concatenate(customers), "day": np.concatenate(days)})


@pytest.fixture(scope="module")
def simulated_customers():
    """5,000 customers observed 180-720 days after their first purchase, then a 180-day holdout."""
    rng = np.random.default_rng(20260101)
    n_customers = 5_000
    observed_days = rng.uniform(180, 720, n_customers)
    purchases = simulate_bgnbd_purchases(
        rng, n_customers, **TRUE_BGNBD, observed_days=observed_days, holdout_days=np.full(n_customers, 180.0)
    )
    purchases["observed_days"] = observed_days[purchases["customer"]]
    in_history = purchases[purchases["day"] <= purchases["observed_days"]]
    frequency = in_history.groupby("customer").size().reindex(range(n_customers), fill_value=0)
    recency = in_history.groupby("customer")["day"].max().reindex(range(n_customers), fill_value=0.0)
    in_holdout = purchases[purchases["day"] > purchases["observed_days"]]
    holdout = in_holdout.groupby("customer").size().reindex(range(n_customers), fill_value=0)
    return pd.DataFrame(
        {"frequency": frequency.astype(float), "recency": recency, "T": observed_days, "holdout_purchases": holdout}
    )


# --------------------------------------------------------------------------------------------------
# BG/NBD


def test_bgnbd_recovers_the_simulated_parameters_within_tolerance(simulated_customers):
    data = simulated_customers
    model = BGNBDModel().fit(data["frequency"], data["recency"], data["T"])
    for name, true_value in TRUE_BGNBD.items():
        relative_error = abs(model.params_[name] - true_value) / true_value
        assert relative_error < BGNBD_TOLERANCE[name], (name, model.params_[name], true_value)
    # The maximum is a maximum: the true parameters cannot explain the data better.
    true_log_likelihood = bgnbd_log_likelihood(tuple(TRUE_BGNBD.values()), data["frequency"], data["recency"], data["T"]).sum()
    assert model.log_likelihood_ >= true_log_likelihood


def test_bgnbd_expected_purchases_match_the_simulated_holdout_in_total_and_by_frequency(simulated_customers):
    data = simulated_customers
    model = BGNBDModel().fit(data["frequency"], data["recency"], data["T"])
    expected = model.expected_purchases(180, data["frequency"], data["recency"], data["T"])
    assert abs(expected.sum() / data["holdout_purchases"].sum() - 1) < 0.05
    # Conditional on history, not just on average: the classic calibration-by-frequency check.
    by_frequency = pd.DataFrame({"actual": data["holdout_purchases"], "expected": expected}).groupby(
        data["frequency"].clip(upper=7)
    ).mean()
    assert np.allclose(by_frequency["expected"], by_frequency["actual"], rtol=0.25, atol=0.1), by_frequency


def test_bgnbd_log_likelihood_equals_the_hand_computed_formula():
    r, alpha, a, b = CDNOW_BGNBD

    def by_hand(x, t_x, T):
        # FHL (2005) eq. 6 written out with plain gamma and beta functions.
        beta = lambda u, v: math.gamma(u) * math.gamma(v) / math.gamma(u + v)  # noqa: E731
        common = math.gamma(r + x) * alpha**r / math.gamma(r)
        alive = beta(a, b + x) / beta(a, b) * common / (alpha + T) ** (r + x)
        dropped = beta(a + 1, b + x - 1) / beta(a, b) * common / (alpha + t_x) ** (r + x) if x > 0 else 0.0
        return math.log(alive + dropped)

    cases = [(0, 0.0, 38.86), (2, 30.43, 38.86), (5, 12.0, 30.0)]
    computed = bgnbd_log_likelihood(CDNOW_BGNBD, *map(np.array, zip(*cases)))
    assert computed == pytest.approx([by_hand(*case) for case in cases], rel=1e-10)


def test_bgnbd_predictions_match_published_cdnow_example_and_lifetimes():
    model = BGNBDModel()
    model.params_ = dict(zip(BGNBDModel.PARAMETER_NAMES, CDNOW_BGNBD))
    frequency = np.array([0.0, 2.0, 7.0, 25.0])
    recency = np.array([0.0, 30.43, 35.0, 38.0])
    T = np.full(4, 38.86)
    # FHL (2005) p. 280: x=2, t_x=30.43, T=38.86 expects 1.226 purchases in the next 39 weeks.
    assert model.expected_purchases(39, frequency, recency, T) == pytest.approx(
        [0.195098052011, 1.226028174767, 4.387487854488, 16.776940525606], rel=1e-6
    )
    assert model.p_alive(frequency, recency, T) == pytest.approx([1.0, 0.726578570081, 0.843767821928, 0.952554478474], rel=1e-9)
    assert model.expected_purchases_new_customer(39) == pytest.approx(1.1967231933207985, rel=1e-6)


def test_bgnbd_identities_hold_for_fitted_parameters(simulated_customers):
    data = simulated_customers
    model = BGNBDModel().fit(data["frequency"], data["recency"], data["T"])
    # Without a repeat purchase there was never a chance to drop out.
    assert np.all(model.p_alive(np.zeros(3), np.zeros(3), np.array([0.0, 100.0, 1000.0])) == 1.0)
    # A customer just acquired (x = 0, T = 0) expects the unconditional E[X(t)] of eq. 9.
    assert model.expected_purchases(365, [0.0], [0.0], [0.0])[0] == pytest.approx(
        model.expected_purchases_new_customer(365), rel=1e-9
    )
    assert np.all(model.expected_purchases(0, data["frequency"], data["recency"], data["T"]) == 0.0)
    # More time, more purchases; a longer silence since the last purchase, a lower chance of being alive.
    horizons = [model.expected_purchases(t, [4.0], [200.0], [300.0])[0] for t in (30, 90, 365, 3650)]
    assert np.all(np.diff(horizons) > 0)
    silences = model.p_alive([4.0] * 4, [200.0] * 4, [200.0, 300.0, 500.0, 900.0])
    assert np.all(np.diff(silences) < 0) and silences[0] == pytest.approx(1.0 / (1.0 + model.params_["a"] / (model.params_["b"] + 3)))
    # Extreme histories stay finite (the hypergeometric series is transformed to not overflow).
    extreme = model.expected_purchases(365, [500.0, 0.0], [719.0, 0.0], [720.0, 5000.0])
    assert np.all(np.isfinite(extreme)) and extreme[0] > 100


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([-1.0, 2.0], [0.0, 5.0], [10.0, 10.0]), "frequency must be >= 0, got -1"),
        (([1.0, 2.0], [12.0, 5.0], [10.0, 10.0]), "recency must be <= T"),
        (([1.5, 2.0], [1.0, 5.0], [10.0, 10.0]), "frequency must hold whole numbers"),
        (([1.0, 2.0], [1.0, np.nan], [10.0, 10.0]), "recency must be finite numbers, got 1 NaN"),
        (([1.0, 2.0], [1.0, 5.0], [10.0]), "same length, got 2, 2 and 1"),
        (([0.0, 0.0], [0.0, 0.0], [10.0, 10.0]), "frequency must be > 0 for some customers"),
    ],
)
def test_bgnbd_fit_rejects_bad_input_naming_the_parameter(arguments, message):
    with pytest.raises(ValueError, match=message):
        BGNBDModel().fit(*arguments)


def test_estimators_reject_bad_settings_and_use_before_fit():
    with pytest.raises(ValueError, match="penalizer must be a float >= 0, got -0.1"):
        BGNBDModel(penalizer=-0.1).fit([1.0], [1.0], [2.0])
    with pytest.raises(RuntimeError, match="BGNBDModel is not fitted yet"):
        BGNBDModel().p_alive([1.0], [1.0], [2.0])
    model = BGNBDModel()
    model.params_ = dict(zip(BGNBDModel.PARAMETER_NAMES, CDNOW_BGNBD))
    with pytest.raises(ValueError, match="t must be a number of periods >= 0, got -5"):
        model.expected_purchases(-5, [1.0], [1.0], [2.0])
    with pytest.raises(ValueError, match="monetary_value must be > 0, got -3"):
        GammaGammaModel().fit([1.0, 2.0], [10.0, -3.0])
    with pytest.raises(ValueError, match="repeat customers only"):
        GammaGammaModel().fit([0.0, 2.0], [10.0, 3.0])


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma


def test_gamma_gamma_recovers_the_simulated_parameters_within_tolerance():
    rng = np.random.default_rng(7)
    n_customers = 5_000
    frequency = 1 + rng.poisson(3, n_customers)
    # Each customer's spend rate nu ~ Gamma(q, rate v); each purchase ~ Gamma(p, rate nu).
    nu = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1.0 / TRUE_GAMMA_GAMMA["v"], n_customers)
    totals = rng.gamma(TRUE_GAMMA_GAMMA["p"] * frequency, 1.0 / nu)  # sum of x Gamma(p, nu) draws
    model = GammaGammaModel().fit(frequency, totals / frequency)
    for name, true_value in TRUE_GAMMA_GAMMA.items():
        assert abs(model.params_[name] - true_value) / true_value < GAMMA_GAMMA_TOLERANCE[name], (name, model.params_)
    true_mean = TRUE_GAMMA_GAMMA["p"] * TRUE_GAMMA_GAMMA["v"] / (TRUE_GAMMA_GAMMA["q"] - 1)
    assert abs(model.population_average_profit() / true_mean - 1) < POPULATION_MEAN_SPEND_TOLERANCE, model.params_
    # Amounts in cents fit the same model with v in cents: the estimate does not depend on the unit.
    in_cents = GammaGammaModel().fit(frequency, 100 * totals / frequency)
    assert in_cents.params_["v"] == pytest.approx(100 * model.params_["v"], rel=1e-3)
    assert in_cents.params_["p"] == pytest.approx(model.params_["p"], rel=1e-3)


def test_gamma_gamma_expected_spend_matches_lifetimes_and_shrinks_to_the_population_mean():
    model = GammaGammaModel()
    model.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    expected = model.conditional_expected_average_profit([0.0, 1.0, 5.0], [0.0, 20.0, 40.0])
    assert expected == pytest.approx([35.21897810219, 24.638487208009, 39.614592527214], rel=1e-9)
    assert expected[0] == pytest.approx(model.population_average_profit())
    # The more purchases, the closer the estimate sits to the customer's own mean.
    own_mean = 100.0
    estimates = model.conditional_expected_average_profit([1.0, 10.0, 1000.0], [own_mean] * 3)
    assert np.all(np.diff(np.abs(estimates - own_mean)) < 0) and estimates[-1] == pytest.approx(own_mean, rel=0.01)


# --------------------------------------------------------------------------------------------------
# RFM summary from transactions


def test_rfm_summary_counts_purchase_days_before_the_cutoff():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 17:00",  # same day: one purchase occasion, amounts summed
                    "2024-01-11 12:00",
                    "2024-01-31 00:00",  # at the cutoff: excluded
                    "2024-01-30 23:59",  # bought on the last observed day
                    "2024-01-05 10:00",
                    "2024-01-08 10:00",
                ],
                utc=True,
            ),
            "amount": [10.0, 5.0, 30.0, 999.0, 20.0, 8.0, 12.0],
        }
    )
    summary = rfm_summary(
        transactions,
        customer_col="customer_id",
        datetime_col="ordered_at",
        monetary_col="amount",
        observation_end=pd.Timestamp("2024-01-31", tz="UTC"),
    )
    expected = pd.DataFrame(
        {
            "frequency": [1.0, 0.0, 1.0],
            "recency": [10.0, 0.0, 3.0],
            "T": [29.0, 0.0, 25.0],
            "monetary_value": [30.0, 0.0, 12.0],  # mean of repeat purchases only, first purchase excluded
        },
        index=pd.Index(["a", "b", "c"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)

    weekly = rfm_summary(
        transactions,
        customer_col="customer_id",
        datetime_col="ordered_at",
        monetary_col="amount",
        observation_end=pd.Timestamp("2024-01-31", tz="UTC"),
        freq="W",
    )
    assert weekly.loc["a", "recency"] <= weekly.loc["a", "T"] <= 5


def test_rfm_summary_rejects_bad_input_with_a_clear_error():
    transactions = pd.DataFrame(
        {"customer_id": ["a", None], "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02"]), "amount": [1.0, 2.0]}
    )
    arguments = {"customer_col": "customer_id", "datetime_col": "ordered_at", "monetary_col": "amount"}
    with pytest.raises(ValueError, match="'customer_id' must not be null, got 1 null"):
        rfm_summary(transactions, **arguments, observation_end="2024-02-01")
    with pytest.raises(ValueError, match="monetary_col 'revenue' is not a column"):
        rfm_summary(transactions, **{**arguments, "monetary_col": "revenue"}, observation_end="2024-02-01")
    with pytest.raises(ValueError, match="observation_end must be time-zone aware exactly when"):
        rfm_summary(transactions, **arguments, observation_end=pd.Timestamp("2024-02-01", tz="UTC"))
    with pytest.raises(ValueError, match="freq must be a fixed period such as 'D', 'h' or 'W', got 'M'"):
        rfm_summary(transactions.dropna(), **arguments, observation_end="2024-02-01", freq="M")
    with pytest.raises(ValueError, match="'amount' must be finite numbers, got 1 NaN"):
        holdout_revenue(transactions.fillna("b").assign(amount=[1.0, np.nan]), **arguments, start="2024-01-01", end="2024-02-01")
    with pytest.raises(ValueError, match="start must be before end"):
        holdout_revenue(transactions.dropna(), **arguments, start="2024-02-01", end="2024-01-01")


# --------------------------------------------------------------------------------------------------
# Combined model and baselines end to end on simulated transactions


def test_clv_model_beats_both_baselines_on_simulated_transactions():
    rng = np.random.default_rng(11)
    n_customers = 3_000
    first_purchase = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 365, n_customers), unit="D")
    observation_end = pd.Timestamp("2024-07-01", tz="UTC")
    horizon_days = 180
    repeat = simulate_bgnbd_purchases(
        rng,
        n_customers,
        **TRUE_BGNBD,
        observed_days=(observation_end - first_purchase).total_seconds().to_numpy() / 86_400,
        holdout_days=np.full(n_customers, float(horizon_days)),
    )
    spend_rate = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1.0 / TRUE_GAMMA_GAMMA["v"], n_customers)
    transactions = pd.DataFrame(
        {
            "customer_id": np.concatenate([np.arange(n_customers), repeat["customer"].to_numpy()]),
            "ordered_at": np.concatenate(
                [
                    first_purchase.to_numpy(),
                    (first_purchase[repeat["customer"]] + pd.to_timedelta(repeat["day"].to_numpy(), unit="D")).to_numpy(),
                ]
            ),
        }
    )
    transactions["amount"] = rng.gamma(TRUE_GAMMA_GAMMA["p"], 1.0 / spend_rate[transactions["customer_id"]])
    columns = {"customer_col": "customer_id", "datetime_col": "ordered_at", "monetary_col": "amount"}

    summary = rfm_summary(transactions, **columns, observation_end=observation_end)
    actual = holdout_revenue(
        transactions, **columns, start=observation_end, end=observation_end + pd.Timedelta(days=horizon_days), customers=summary.index
    )
    model = CustomerLifetimeValue().fit(summary)
    predicted = model.predict(summary, horizon_days)
    assert list(predicted.columns) == ["expected_purchases", "p_alive", "expected_average_value", "expected_revenue"]
    assert np.allclose(predicted["expected_revenue"], predicted["expected_purchases"] * predicted["expected_average_value"])

    scores = {
        "bgnbd_gamma_gamma": clv_metrics(actual, predicted["expected_revenue"]),
        "historical_average": clv_metrics(actual, HistoricalAverageCLV().fit(summary).predict(summary, horizon_days)),
        "zero": clv_metrics(actual, ZeroCLV().fit(summary).predict(summary, horizon_days)),
    }
    model_scores = scores["bgnbd_gamma_gamma"]
    assert abs(model_scores["aggregate_error"]) < 0.10, scores
    assert model_scores["rmse"] < min(scores["historical_average"]["rmse"], scores["zero"]["rmse"]), scores
    assert model_scores["spearman"] > scores["historical_average"]["spearman"], scores
    assert scores["zero"]["aggregate_error"] == -1.0 and np.isnan(scores["zero"]["spearman"])


def test_historical_average_baseline_uses_repeat_revenue_per_observed_day():
    summary = pd.DataFrame(
        {"frequency": [2.0, 0.0, 0.0], "recency": [50.0, 0.0, 0.0], "T": [100.0, 40.0, 0.0], "monetary_value": [30.0, 0.0, 0.0]},
        index=["a", "b", "c"],
    )
    baseline = HistoricalAverageCLV().fit(summary)
    # Population: 2 * 30 = 60 repeat revenue over 140 customer-days.
    assert baseline.population_daily_revenue_ == pytest.approx(60 / 140)
    # a: 60 over 100 days; b: bought nothing again; c: first purchase on the last day, so the population rate.
    assert baseline.predict(summary, 14).tolist() == pytest.approx([8.4, 0.0, 6.0])
    with pytest.raises(ValueError, match="horizon_days must be a number of periods >= 0, got -1"):
        baseline.predict(summary, -1)


# --------------------------------------------------------------------------------------------------
# Metrics


def test_metrics_equal_hand_computed_values():
    actual = [0.0, 10.0, 20.0, 30.0]
    predicted = [5.0, 5.0, 25.0, 45.0]
    assert aggregate_error(actual, predicted) == pytest.approx((80 - 60) / 60)
    assert rmse(actual, predicted) == pytest.approx(math.sqrt((25 + 25 + 25 + 225) / 4))
    assert mae(actual, predicted) == pytest.approx((5 + 5 + 5 + 15) / 4)
    # Ranks of predicted with the tie averaged: 1.5, 1.5, 3, 4 against 1, 2, 3, 4.
    ranks_actual, ranks_predicted = np.array([1, 2, 3, 4.0]), np.array([1.5, 1.5, 3, 4])
    assert spearman(actual, predicted) == pytest.approx(np.corrcoef(ranks_actual, ranks_predicted)[0, 1])
    assert clv_metrics(actual, predicted)["mae"] == pytest.approx(7.5)


def test_metrics_reject_mismatched_or_degenerate_input():
    with pytest.raises(ValueError, match="same length, got 2 and 3"):
        rmse([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-zero total"):
        aggregate_error([0.0, 0.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="predicted must be finite numbers"):
        mae([1.0, 2.0], [1.0, np.inf])
    assert np.isnan(spearman([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]))
