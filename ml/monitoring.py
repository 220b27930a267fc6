"""Monitoring of deployed models as pure functions: feature drift (population stability index and a
distribution test per feature), prediction drift between scoring runs, realised performance once
outcomes are known, change detection on the stream of per-customer errors (river's ADWIN and
Page-Hinkley), and the two decisions built on them: whether the drift sensor requests a retraining run,
and whether a retrained challenger replaces the champion. Plain Python; the Dagster sensors and assets
call these and write the results to the tables described by MONITORING_TABLES_DDL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from ml.metrics import brier_score, roc_auc

__all__ = [
    "PSI_EPSILON",
    "ADWIN_DEFAULTS",
    "PAGE_HINKLEY_DEFAULTS",
    "MONITORING_TABLES_DDL",
    "ensure_monitoring_tables",
    "population_stability_index",
    "categorical_population_stability_index",
    "feature_drift",
    "drifted_share",
    "feature_drift_rows",
    "prediction_drift",
    "detect_changes",
    "error_stream",
    "realised_classification_performance",
    "REALISED_COLUMNS",
    "realised_regression_performance",
    "absolute_log_errors",
    "exceedance_stream",
    "realised_ranking_performance",
    "ranking_miss_stream",
    "SensorDecision",
    "should_retrain",
    "promotion_decision",
]

#: Share given to a bin one of the two samples leaves empty, so its log ratio stays finite. A bin the
#: reference never saw but holding 1% of the current sample then adds (0.01 - 1e-4) * ln(100) = 0.046.
PSI_EPSILON = 1e-4

#: ADWIN as river ships it. On 0/1 errors going from a 10% to a 20% rate after 2,000 events, the delay
#: over 100 seeded streams was median 335 events (90th percentile 591), with no alarm on 30 stable
#: streams of 30,000 events. delta=0.01 halves the slow tail but alarmed on 2 of those 30 stable streams.
ADWIN_DEFAULTS: dict = {"delta": 0.002, "clock": 32}

#: Page-Hinkley tuned for 0/1 error streams (river's defaults: threshold 50 needs ~500 events for this
#: shift, and alpha=0.9999 fades the sums so the test drifts into false alarms after ~10,000 events).
#: alpha=1 makes it the textbook one-sided CUSUM: delta is the allowance per event (a bit under half the
#: 0.1 shift it should catch), threshold the evidence needed. Same streams as ADWIN: median delay 226
#: events (max 524 of 100), no alarm on the 30 stable streams. mode="up": a falling error rate is no
#: reason to retrain, and a one-sided test spends its false-alarm budget on one side only.
PAGE_HINKLEY_DEFAULTS: dict = {"delta": 0.04, "threshold": 15.0, "alpha": 1.0, "mode": "up", "min_instances": 30}

MONITORING_TABLES_DDL = (
    "create schema if not exists ml",
    # one row per (scoring run, feature, statistic): statistic is 'psi', 'ks' or 'chi2' (the test's
    # statistic), 'p_value' or 'missing_p_value'; `drifted` is the feature's verdict, repeated on its rows
    """
    create table if not exists ml.feature_drift (
        model_version varchar not null,
        scored_at timestamptz not null,
        feature varchar not null,
        statistic varchar not null,
        value double,
        drifted boolean not null
    )
    """,
    # one row per scoring run whose label window has closed, measured when the outcomes were known;
    # roc_auc is NULL when the outcomes hold one class only
    """
    create table if not exists ml.realised_performance (
        model_name varchar not null,
        model_version varchar not null,
        scored_at timestamptz not null,
        measured_at timestamptz not null,
        n bigint not null,
        positive_rate double not null,
        mean_predicted double,
        roc_auc double,
        brier double,
        mean_actual double,
        rmse double,
        mae double,
        hit_rate_at_10 double,
        recall_at_10 double,
        ndcg_at_10 double
    )
    """,
    # warehouses made before lifetime value and recommendations were monitored: widen in place
    *(f"alter table ml.realised_performance add column if not exists {column} double"
      for column in ("mean_actual", "rmse", "mae", "hit_rate_at_10", "recall_at_10", "ndcg_at_10")),
    "alter table ml.realised_performance alter column mean_predicted drop not null",
    "alter table ml.realised_performance alter column brier drop not null",
)
#: ml.realised_performance's columns in table order. Which are filled depends on the model: classifiers
#: (n customers, positive_rate = share with the outcome, mean_predicted, roc_auc, brier), lifetime value
#: (positive_rate = share who bought, mean_predicted / mean_actual revenue, rmse, mae), recommendations
#: (n customers listed, positive_rate = share who bought anything, *_at_10 over those buyers).
REALISED_COLUMNS = ("model_name", "model_version", "scored_at", "measured_at", "n", "positive_rate", "mean_predicted",
                    "roc_auc", "brier", "mean_actual", "rmse", "mae", "hit_rate_at_10", "recall_at_10", "ndcg_at_10")


def ensure_monitoring_tables(connection: duckdb.DuckDBPyConnection) -> None:
    for statement in MONITORING_TABLES_DDL:
        connection.execute(statement)


# --------------------------------------------------------------------------------------------- PSI

def _psi_from_counts(reference_counts: np.ndarray, current_counts: np.ndarray, epsilon: float) -> float:
    reference_share = np.maximum(reference_counts / reference_counts.sum(), epsilon)
    current_share = np.maximum(current_counts / current_counts.sum(), epsilon)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def _numeric(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from None
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one value, got 0")
    if np.isinf(array).any():
        raise ValueError(f"{name} must not hold infinite values")
    return array


def population_stability_index(reference, current, *, bins: int = 10, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of a numeric feature: how far `current` moved from `reference`.

    PSI = sum over bins of (c - r) * ln(c / r), with r and c the shares of each sample in the bin.
    Rules of thumb: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.

    Bins come from the reference alone:

    - edges are the reference's quantiles at 0, 1/bins, ..., 1 with duplicates dropped, so tied values
      (a feature that is 0 for half the customers) give fewer, wider bins instead of empty ones; the
      first bin is [q0, q1], then (q_i-1, q_i];
    - two more bins hold current values below the reference's minimum and above its maximum (the
      reference has none there, so values never seen in training weigh in through `epsilon`);
    - a constant reference has three bins: below, equal to and above its value;
    - NaN is a bin of its own in both samples, so a rise in missing values is drift too.

    A share of 0 is replaced by `epsilon` (not renormalised) so the logarithm stays finite.

    Parameters
    ----------
    reference, current : array-like of shape (n_samples,)
        Numeric values; NaN allowed, infinities not.
    bins : int
        Quantile bins wanted (fewer when the reference has ties).
    epsilon : float
        Share substituted for an empty bin.

    Returns
    -------
    float
        0 for identical binned distributions, larger the further apart.
    """
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"bins must be an int >= 1, got {bins!r}")
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    reference = _numeric(reference, "reference")
    current = _numeric(current, "current")
    observed = reference[~np.isnan(reference)]
    if observed.size:
        edges = np.unique(np.quantile(observed, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size == 1:  # constant reference: below / equal / above
            edges = np.repeat(edges, 2)
        bin_count = edges.size + 1  # below the minimum, edges.size - 1 intervals, above the maximum
    else:  # a reference that is all NaN: everything observed now is new
        edges, bin_count = np.array([]), 1

    def counts(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        present = values[~missing]
        if edges.size:
            # searchsorted(left) counts the edges strictly below x: x in (e_i-1, e_i] -> i; x == e_0 -> 0,
            # which belongs to the first closed interval [e_0, e_1] (index 1), not below the minimum
            index = np.searchsorted(edges, present, side="left")
            index[present == edges[0]] = 1
        else:
            index = np.zeros(present.size, dtype=int)
        return np.append(np.bincount(index, minlength=bin_count), missing.sum()).astype(float)

    return _psi_from_counts(counts(reference), counts(current), epsilon)


_MISSING = "<missing>"


def _category_labels(values) -> pd.Series:
    series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    return series.where(series.notna(), _MISSING).map(str)


def categorical_population_stability_index(reference, current, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of a categorical feature: each category is a bin.

    The bins are the union of the categories of both samples, so a category the reference never had
    counts with reference share `epsilon`; missing values (None, NaN) are a category of their own.
    Categories are compared by their string form (1 and "1" are one category).
    """
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    reference_labels, current_labels = _category_labels(reference), _category_labels(current)
    for name, labels in (("reference", reference_labels), ("current", current_labels)):
        if labels.empty:
            raise ValueError(f"{name} must hold at least one value, got 0")
    categories = sorted(set(reference_labels) | set(current_labels))
    reference_counts = reference_labels.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    current_counts = current_labels.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    return _psi_from_counts(reference_counts, current_counts, epsilon)


# ------------------------------------------------------------------------------------ feature drift

def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, *, features: Sequence[str],
                  psi_threshold: float = 0.2, p_value: float = 0.01, bins: int = 10) -> pd.DataFrame:
    """Drift of each feature between the training reference and the current scoring population.

    Numeric features (by the reference's dtype; booleans count as categorical) get the quantile-bin PSI
    and the two-sample Kolmogorov-Smirnov test on their non-missing values; categorical ones the
    categorical PSI and a chi-squared test of the 2 x categories contingency table (missing values a
    category).

    KS ignores missing values, so for numeric features with any a second test compares the missing
    shares (chi-squared on missing / present x reference / current): a feature that is suddenly missing
    for half the customers has drifted even if its observed values have not.

    A feature is drifted when **both** its PSI exceeds `psi_threshold` **and** a test's p-value (the
    distribution test's or the missing-share test's) is below `p_value`. PSI is the effect size: how
    much the population moved. The p-value alone flags negligible shifts once samples are large (with
    200,000 customers, a shift of 2% of a standard deviation gives p < 0.01 at a PSI under 0.05); PSI
    alone is noisy on small samples (two samples of 200 from one distribution have a PSI of 0.15 on
    average, above 0.3 one time in 20). Requiring both asks for a shift that is large and not sampling noise.

    Returns
    -------
    pandas.DataFrame
        One row per feature, in the order given: feature, kind ("numeric" / "categorical"), psi, test
        ("ks" / "chi2"), statistic, p_value, missing_p_value, drifted. statistic and p_value are NaN
        when a sample has no non-missing value; missing_p_value is NaN for categorical features (missing
        is one of their categories) and for numeric ones missing in neither sample.
    """
    if not 0 < p_value < 1:
        raise ValueError(f"p_value must be in (0, 1), got {p_value}")
    if psi_threshold <= 0:
        raise ValueError(f"psi_threshold must be > 0, got {psi_threshold}")
    features = list(features)
    if not features:
        raise ValueError("features must name at least one column, got none")
    for name, frame in (("reference", reference), ("current", current)):
        missing = [feature for feature in features if feature not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks feature columns {missing}")
        if frame.empty:
            raise ValueError(f"{name} must hold at least one row, got 0")
    rows = []
    for feature in features:
        reference_values, current_values = reference[feature], current[feature]
        if _is_numeric(reference_values):
            kind, test = "numeric", "ks"
            reference_numbers = _numeric(reference_values, f"reference[{feature!r}]")
            current_numbers = _numeric(current_values, f"current[{feature!r}]")
            psi = population_stability_index(reference_numbers, current_numbers, bins=bins)
            reference_present = reference_numbers[~np.isnan(reference_numbers)]
            current_present = current_numbers[~np.isnan(current_numbers)]
            if reference_present.size and current_present.size:
                result = stats.ks_2samp(reference_present, current_present)
                statistic, probability = float(result.statistic), float(result.pvalue)
            else:
                statistic = probability = math.nan
            missing_counts = [(reference_numbers.size - reference_present.size, reference_present.size),
                              (current_numbers.size - current_present.size, current_present.size)]
            missing_probability = math.nan
            if missing_counts[0][0] or missing_counts[1][0]:
                missing_probability = float(stats.chi2_contingency(np.array(missing_counts)).pvalue)
        else:
            kind, test, missing_probability = "categorical", "chi2", math.nan
            psi = categorical_population_stability_index(reference_values, current_values)
            reference_labels, current_labels = _category_labels(reference_values), _category_labels(current_values)
            table = pd.concat([reference_labels.value_counts().rename("reference"),
                               current_labels.value_counts().rename("current")], axis=1).fillna(0).T
            result = stats.chi2_contingency(table.to_numpy())
            statistic, probability = float(result.statistic), float(result.pvalue)
        significant = any(not math.isnan(value) and value < p_value for value in (probability, missing_probability))
        rows.append({"feature": feature, "kind": kind, "psi": psi, "test": test, "statistic": statistic,
                     "p_value": probability, "missing_p_value": missing_probability,
                     "drifted": bool(psi > psi_threshold and significant)})
    return pd.DataFrame(rows, columns=["feature", "kind", "psi", "test", "statistic", "p_value", "missing_p_value",
                                       "drifted"])


def drifted_share(drift_frame: pd.DataFrame) -> float:
    """Share of features flagged drifted in a `feature_drift` result (what the drift sensor compares)."""
    if drift_frame.empty:
        raise ValueError("drift_frame must hold at least one feature, got 0 rows")
    return float(drift_frame["drifted"].astype(bool).mean())


def feature_drift_rows(drift_frame: pd.DataFrame, model_version: str, scored_at: datetime) -> pd.DataFrame:
    """`feature_drift`'s result in the long format of ml.feature_drift: one row per feature and statistic
    ("psi", the test's name, "p_value", and "missing_p_value" where measured), columns model_version,
    scored_at, feature, statistic, value, drifted (the feature's verdict on each of its rows)."""
    required = {"feature", "psi", "test", "statistic", "p_value", "drifted"}
    if not required <= set(drift_frame.columns):
        absent = sorted(required - set(drift_frame.columns))
        raise ValueError(f"drift_frame must be a feature_drift result; missing columns {absent}")
    if not model_version:
        raise ValueError("model_version must be a non-empty string")
    scored = pd.Timestamp(scored_at)
    if scored.tzinfo is None:
        raise ValueError(f"scored_at must be timezone-aware (ml.feature_drift stores timestamptz), got {scored_at!r}")
    rows = []
    for row in drift_frame.itertuples(index=False):
        measured = [("psi", row.psi), (row.test, row.statistic), ("p_value", row.p_value)]
        if not pd.isna(getattr(row, "missing_p_value", math.nan)):
            measured.append(("missing_p_value", row.missing_p_value))
        for statistic, value in measured:
            rows.append({"model_version": model_version, "scored_at": scored, "feature": row.feature,
                         "statistic": statistic, "value": None if pd.isna(value) else float(value),
                         "drifted": bool(row.drifted)})
    frame = pd.DataFrame(rows, columns=["model_version", "scored_at", "feature", "statistic", "value", "drifted"])
    return frame.astype({"value": "float64", "drifted": "bool"})


def prediction_drift(previous_scores, current_scores, *, bins: int = 10) -> dict[str, float]:
    """How the score distribution moved since the previous scoring run.

    Returns
    -------
    dict
        psi (quantile bins of the previous scores), ks_statistic, ks_p_value, mean_previous,
        mean_current, mean_shift (current minus previous), n_previous, n_current.
    """
    previous = _numeric(previous_scores, "previous_scores")
    current = _numeric(current_scores, "current_scores")
    if np.isnan(previous).any() or np.isnan(current).any():
        raise ValueError("previous_scores and current_scores must not hold NaN (a model scores every customer)")
    result = stats.ks_2samp(previous, current)
    return {
        "psi": population_stability_index(previous, current, bins=bins),
        "ks_statistic": float(result.statistic),
        "ks_p_value": float(result.pvalue),
        "mean_previous": float(previous.mean()),
        "mean_current": float(current.mean()),
        "mean_shift": float(current.mean() - previous.mean()),
        "n_previous": int(previous.size),
        "n_current": int(current.size),
    }


# ------------------------------------------------------------------------------- change detection

DETECTORS = ("adwin", "page_hinkley")


def detect_changes(errors: Iterable[float], *, detectors: Sequence[str] = DETECTORS,
                   adwin: dict | None = None, page_hinkley: dict | None = None) -> dict[str, list[int]]:
    """Stream `errors` in time order through river's change detectors; where each one fired.

    Parameters
    ----------
    errors : iterable of float
        One error per customer prediction, oldest first (e.g. `error_stream`'s 0/1 misclassifications).
    detectors : sequence of {"adwin", "page_hinkley"}
    adwin, page_hinkley : dict, optional
        Parameters overriding ADWIN_DEFAULTS / PAGE_HINKLEY_DEFAULTS (see them for how those were chosen;
        Page-Hinkley's delta and threshold are in the errors' units, so retune them for other errors).

    Returns
    -------
    dict
        detector name -> indices into `errors` at which it signalled a change, ascending. After a
        signal river restarts the detector (Page-Hinkley) or drops the old window (ADWIN), so a
        lasting change is signalled once, a second change again.
    """
    from river import drift  # deferred: only the monitoring steps need river

    unknown = sorted(set(detectors) - set(DETECTORS))
    if unknown or not detectors:
        raise ValueError(f"detectors must be a non-empty selection of {DETECTORS}, got {list(detectors)}")
    values = np.asarray(list(errors), dtype=float)
    if values.ndim != 1 or np.isnan(values).any() or np.isinf(values).any():
        raise ValueError("errors must be a flat sequence of finite numbers")
    made = {
        "adwin": lambda: drift.ADWIN(**{**ADWIN_DEFAULTS, **(adwin or {})}),
        "page_hinkley": lambda: drift.PageHinkley(**{**PAGE_HINKLEY_DEFAULTS, **(page_hinkley or {})}),
    }
    detections: dict[str, list[int]] = {}
    for name in dict.fromkeys(detectors):
        detector = made[name]()
        found = []
        for index, value in enumerate(values.tolist()):
            detector.update(value)
            if detector.drift_detected:
                found.append(index)
        detections[name] = found
    return detections


def _columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")


def _joined(predictions: pd.DataFrame, outcomes: pd.DataFrame, *, score: str, outcome: str, noun: str) -> pd.DataFrame:
    """Predictions (customer_id, `score`, scored_at) beside their outcome; customers without one are left out."""
    _columns(predictions, "predictions", ("customer_id", score, "scored_at"))
    _columns(outcomes, "outcomes", ("customer_id", outcome))
    if outcomes["customer_id"].duplicated().any():
        raise ValueError(f"outcomes must hold one {noun} per customer_id; found duplicates")
    return predictions.merge(outcomes[["customer_id", outcome]], on="customer_id", how="inner")


def _labelled(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    joined = _joined(predictions, outcomes, score="probability", outcome="label", noun="label")
    if not joined["label"].isin((0, 1)).all():
        raise ValueError("outcomes.label must hold only 0 and 1")
    return joined


def error_stream(predictions: pd.DataFrame, outcomes: pd.DataFrame, *, threshold: float = 0.5) -> np.ndarray:
    """Per-customer 0/1 errors (`probability >= threshold` disagreeing with the label) in time order:
    by scored_at, then customer_id, since customers scored in one run have no order of their own.
    Customers without an outcome are left out. This is the stream PAGE_HINKLEY_DEFAULTS is tuned for."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    joined = _labelled(predictions, outcomes).sort_values(["scored_at", "customer_id"], kind="stable")
    predicted = (joined["probability"].to_numpy(dtype=float) >= threshold).astype(float)
    return np.abs(predicted - joined["label"].to_numpy(dtype=float))


def realised_classification_performance(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Realised performance of past predictions once their label window has closed.

    Parameters
    ----------
    predictions : pandas.DataFrame
        customer_id, probability, scored_at (and model_version, if several versions are measured at once).
    outcomes : pandas.DataFrame
        customer_id, label: what happened in the window after scoring (1 = churned / purchased).
        Predictions of customers without an outcome are left out.

    Returns
    -------
    pandas.DataFrame
        One row per scoring run (model_version, if given, and scored_at): n, positive_rate,
        mean_predicted (calibration at a glance: compare with positive_rate), roc_auc (NaN when the
        outcomes hold one class only) and brier. With model_name and measured_at added these are the
        rows of ml.realised_performance (see MONITORING_TABLES_DDL).
    """
    joined = _labelled(predictions, outcomes)
    if joined.empty:
        raise ValueError("no prediction has an outcome: predictions and outcomes share no customer_id")
    keys = [column for column in ("model_version", "scored_at") if column in joined.columns]
    rows = []
    for key, group in joined.groupby(keys, sort=True):
        labels = group["label"].to_numpy(dtype=float)
        scores = group["probability"].to_numpy(dtype=float)
        rows.append({
            **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
            "n": int(labels.size),
            "positive_rate": float(labels.mean()),
            "mean_predicted": float(scores.mean()),
            "roc_auc": roc_auc(labels, scores) if np.unique(labels).size == 2 else math.nan,
            "brier": brier_score(labels, scores),
        })
    return pd.DataFrame(rows, columns=[*keys, "n", "positive_rate", "mean_predicted", "roc_auc", "brier"])


def realised_regression_performance(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Realised performance of past revenue forecasts once their window has closed.

    Parameters
    ----------
    predictions : pandas.DataFrame
        customer_id, predicted, scored_at (and model_version, if several versions are measured at once).
    outcomes : pandas.DataFrame
        customer_id, actual: the revenue the customer brought in the window after scoring (0 if none).
        Predictions of customers without an outcome are left out.

    Returns
    -------
    pandas.DataFrame
        One row per scoring run: n, positive_rate (share of customers who brought revenue), mean_predicted,
        mean_actual (bias at a glance), rmse and mae.
    """
    joined = _joined(predictions, outcomes, score="predicted", outcome="actual", noun="row")
    if joined.empty:
        raise ValueError("no prediction has an outcome: predictions and outcomes share no customer_id")
    values = joined[["predicted", "actual"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("predicted and actual must be finite numbers")
    keys = [column for column in ("model_version", "scored_at") if column in joined.columns]
    rows = []
    for key, group in joined.groupby(keys, sort=True):
        predicted, actual = group["predicted"].to_numpy(dtype=float), group["actual"].to_numpy(dtype=float)
        error = predicted - actual
        rows.append({
            **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
            "n": int(actual.size), "positive_rate": float((actual > 0).mean()),
            "mean_predicted": float(predicted.mean()), "mean_actual": float(actual.mean()),
            "rmse": float(np.sqrt(np.mean(error ** 2))), "mae": float(np.mean(np.abs(error))),
        })
    return pd.DataFrame(rows, columns=[*keys, "n", "positive_rate", "mean_predicted", "mean_actual", "rmse", "mae"])


def absolute_log_errors(predicted, actual) -> np.ndarray:
    """|log(1 + predicted) - log(1 + actual)| per customer, with negative values (net refunds) counted as 0:
    revenue errors on a scale where a 100 vs 200 miss weighs like 1,000 vs 2,000, so a few big spenders do
    not make the whole stream."""
    predicted, actual = np.asarray(predicted, dtype=float), np.asarray(actual, dtype=float)
    if predicted.shape != actual.shape:
        raise ValueError(f"predicted and actual differ in shape: {predicted.shape} vs {actual.shape}")
    if not (np.isfinite(predicted).all() and np.isfinite(actual).all()):
        raise ValueError("predicted and actual must be finite numbers")
    return np.abs(np.log1p(np.maximum(predicted, 0.0)) - np.log1p(np.maximum(actual, 0.0)))


def exceedance_stream(errors, reference_errors, *, quantile: float = 0.9) -> np.ndarray:
    """0/1 per error: whether it exceeds the `quantile` of `reference_errors` (e.g. the oldest measured
    scoring run). A continuous error stream becomes one whose rate is 1 - quantile while the model performs
    as it did on the reference, the regime ADWIN_DEFAULTS and PAGE_HINKLEY_DEFAULTS were tuned on (a rise
    from 10% to 20% is caught within a few hundred events)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    values, reference = np.asarray(errors, dtype=float).ravel(), np.asarray(reference_errors, dtype=float).ravel()
    if reference.size == 0:
        raise ValueError("reference_errors is empty: nothing to set the exceedance threshold from")
    if not (np.isfinite(values).all() and np.isfinite(reference).all()):
        raise ValueError("errors must be finite numbers")
    return (values > np.quantile(reference, quantile)).astype(float)


def _ranked_lists(recommendations: pd.DataFrame, purchases: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per (scoring run, customer listed): the products recommended in rank order, and the set of
    distinct products the customer bought in the window (empty when they bought nothing)."""
    _columns(recommendations, "recommendations", ("customer_id", "scored_at", "rank", "product_id"))
    _columns(purchases, "purchases", ("customer_id", "scored_at", "product_id"))
    if k <= 0:
        raise ValueError(f"k must be a positive integer, got {k}")
    keys = [column for column in ("model_version", "scored_at") if column in recommendations.columns]
    listed = (recommendations[recommendations["rank"] <= k].sort_values([*keys, "customer_id", "rank"], kind="stable")
              .groupby([*keys, "customer_id"], sort=True)["product_id"].agg(list).rename("recommended").reset_index())
    bought = (purchases.groupby(["scored_at", "customer_id"])["product_id"].agg(lambda values: set(values))
              .rename("bought").reset_index())
    joined = listed.merge(bought, on=["scored_at", "customer_id"], how="left")
    joined["bought"] = [value if isinstance(value, set) else set() for value in joined["bought"]]
    return joined


def realised_ranking_performance(recommendations: pd.DataFrame, purchases: pd.DataFrame, *, k: int = 10) -> pd.DataFrame:
    """Realised performance of past recommendation lists once their window has closed.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        customer_id, scored_at, rank, product_id (and model_version): the lists as they were served.
    purchases : pandas.DataFrame
        customer_id, scored_at, product_id: what each listed customer bought in the window after that
        scoring run (one row per product bought; repeats are fine).
    k : int, default=10

    Returns
    -------
    pandas.DataFrame
        One row per scoring run: n (customers listed), positive_rate (share of them who bought anything),
        and hit_rate_at_10, recall_at_10, ndcg_at_10 over the customers who bought (ml.recommend.metrics;
        NaN when nobody did). The offline protocol of bench-recommender, applied to the lists served.
    """
    from ml.recommend.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k

    joined = _ranked_lists(recommendations, purchases, k)
    if joined.empty:
        raise ValueError("recommendations hold no list")
    keys = [column for column in ("model_version", "scored_at") if column in joined.columns]
    rows = []
    for key, group in joined.groupby(keys, sort=True):
        buyers = group[[len(bought) > 0 for bought in group["bought"]]]
        lists, truth = buyers["recommended"].tolist(), buyers["bought"].tolist()
        rows.append({
            **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
            "n": int(len(group)), "positive_rate": float(len(buyers) / len(group)),
            "hit_rate_at_10": hit_rate_at_k(lists, truth, k) if lists else math.nan,
            "recall_at_10": recall_at_k(lists, truth, k) if lists else math.nan,
            "ndcg_at_10": ndcg_at_k(lists, truth, k) if lists else math.nan,
        })
    return pd.DataFrame(rows, columns=[*keys, "n", "positive_rate", "hit_rate_at_10", "recall_at_10", "ndcg_at_10"])


def ranking_miss_stream(recommendations: pd.DataFrame, purchases: pd.DataFrame, *, k: int = 10) -> np.ndarray:
    """Per customer who bought in the window, 1 when none of their top-k was among what they bought (a miss,
    1 - HitRate@k), in time order: by scored_at, then customer_id. Customers who bought nothing are left out:
    their list had nothing to hit."""
    joined = _ranked_lists(recommendations, purchases, k).sort_values(["scored_at", "customer_id"], kind="stable")
    buyers = joined[[len(bought) > 0 for bought in joined["bought"]]]
    return np.array([0.0 if set(recommended[:k]) & bought else 1.0
                     for recommended, bought in zip(buyers["recommended"], buyers["bought"])], dtype=float)


# ------------------------------------------------------------------------------------ decisions

@dataclass(frozen=True)
class SensorDecision:
    """Whether the drift sensor requests a retraining run, and why (logged and stored either way)."""

    fire: bool
    reason: str


def should_retrain(*, drift_detected: bool, drifted_share: float, new_labelled_outcomes: int,
                   last_training_at: datetime | None, last_trigger_at: datetime | None, now: datetime,
                   min_new_outcomes: int, min_interval: timedelta, drift_share_threshold: float) -> SensorDecision:
    """The drift sensor's decision.

    A drift signal is a change detected on the error stream (`drift_detected`) or a share of drifted
    features of at least `drift_share_threshold`. It fires only when, besides a drift signal:

    - debounce: at least `min_new_outcomes` labelled outcomes arrived since the last training (a model
      retrained on the same labels would learn nothing new);
    - rate limit: the previous trigger (`last_trigger_at`) is at least `min_interval` ago.

    Checks run in that order and the reason names the first that stopped it.
    """
    if not 0.0 <= drifted_share <= 1.0:  # also refuses NaN
        raise ValueError(f"drifted_share must be in [0, 1], got {drifted_share}")
    if not 0.0 < drift_share_threshold <= 1.0:
        raise ValueError(f"drift_share_threshold must be in (0, 1], got {drift_share_threshold}")
    if new_labelled_outcomes < 0 or min_new_outcomes < 0:
        raise ValueError(f"new_labelled_outcomes and min_new_outcomes must be >= 0, got "
                         f"{new_labelled_outcomes} and {min_new_outcomes}")
    if min_interval < timedelta(0):
        raise ValueError(f"min_interval must not be negative, got {min_interval}")
    for name, moment in (("last_training_at", last_training_at), ("last_trigger_at", last_trigger_at)):
        if moment is not None and moment > now:
            raise ValueError(f"{name} ({moment}) must not be after now ({now})")

    signals = []
    if drift_detected:
        signals.append("a change in the error stream")
    if drifted_share >= drift_share_threshold:
        signals.append(f"{drifted_share:.0%} of features drifted (threshold {drift_share_threshold:.0%})")
    if not signals:
        return SensorDecision(False, f"no drift: no change in the error stream and {drifted_share:.0%} of features "
                                     f"drifted (threshold {drift_share_threshold:.0%})")
    signal = " and ".join(signals)
    since = f"since the last training at {last_training_at:%Y-%m-%d %H:%M}" if last_training_at else "and never trained"
    if new_labelled_outcomes < min_new_outcomes:
        return SensorDecision(False, f"debounced: {signal}, but only {new_labelled_outcomes} new labelled outcomes "
                                     f"{since} (needs {min_new_outcomes})")
    if last_trigger_at is not None and now - last_trigger_at < min_interval:
        next_allowed = last_trigger_at + min_interval
        return SensorDecision(False, f"rate-limited: {signal}, but the last retraining was requested at "
                                     f"{last_trigger_at:%Y-%m-%d %H:%M}; next allowed at {next_allowed:%Y-%m-%d %H:%M}")
    return SensorDecision(True, f"retrain: {signal}, with {new_labelled_outcomes} new labelled outcomes {since}")


def promotion_decision(champion_metric: float | None, challenger_metric: float, *, higher_is_better: bool,
                       tolerance: float, challenger_scores, probabilities: bool = True) -> tuple[bool, str]:
    """Whether a retrained challenger replaces the champion; the reason is recorded either way.

    The challenger must pass sanity checks on its holdout scores: non-empty, no NaN or infinity, not
    constant, and (with `probabilities`, for classifiers) within [0, 1]. Then it must not be worse than
    the champion by more than `tolerance` (absolute, in the metric's units) on the primary metric,
    both measured on the same time-based holdout. Without a champion (`champion_metric` None or NaN)
    a sane challenger is promoted. Schema checks belong to the caller, who knows the tables.
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    scores = np.asarray(challenger_scores, dtype=float).ravel()
    if scores.size == 0:
        return False, "rejected: the challenger produced no predictions"
    if not np.isfinite(scores).all():
        return False, f"rejected: {int((~np.isfinite(scores)).sum())} challenger predictions are NaN or infinite"
    if np.ptp(scores) == 0:
        return False, f"rejected: every challenger prediction is {scores[0]:g} (a constant model)"
    if probabilities and ((scores < 0).any() or (scores > 1).any()):
        return False, (f"rejected: challenger probabilities outside [0, 1] "
                       f"(min {scores.min():g}, max {scores.max():g})")
    if challenger_metric is None or math.isnan(challenger_metric):
        return False, "rejected: the challenger's primary metric could not be measured"
    if champion_metric is None or math.isnan(champion_metric):
        return True, f"promoted: no champion metric to compare with; challenger {challenger_metric:.4f}"
    difference = challenger_metric - champion_metric if higher_is_better else champion_metric - challenger_metric
    comparison = f"challenger {challenger_metric:.4f} vs champion {champion_metric:.4f} " \
                 f"({'higher' if higher_is_better else 'lower'} is better, tolerance {tolerance:g})"
    if difference < -tolerance:
        return False, f"rejected: worse than the champion by {-difference:.4f}: {comparison}"
    return True, f"promoted: {comparison}"
