"""Monitoring: drift statistics against hand-computed values, change detection on synthetic error streams
with a known change point, realised performance, and the sensor and promotion decisions."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.monitoring import (
    PSI_EPSILON,
    SensorDecision,
    categorical_population_stability_index,
    detect_changes,
    drifted_share,
    ensure_monitoring_tables,
    error_stream,
    feature_drift,
    feature_drift_rows,
    population_stability_index,
    prediction_drift,
    promotion_decision,
    absolute_log_errors,
    exceedance_stream,
    ranking_miss_stream,
    realised_classification_performance,
    realised_ranking_performance,
    realised_regression_performance,
    should_retrain,
)

EPS = PSI_EPSILON


def psi_term(current_share: float, reference_share: float) -> float:
    return (current_share - reference_share) * math.log(current_share / reference_share)


# ------------------------------------------------------------------------------------------ PSI

def test_numeric_psi_matches_the_hand_computed_value_with_out_of_range_and_missing_bins():
    # bins=2 on 1..10: edges 1, 5.5, 10 -> [1, 5.5] holds 5, (5.5, 10] holds 5; below/above/NaN hold none
    reference = np.arange(1, 11, dtype=float)
    current = np.array([1, 2, 3, 4, 5, 6, 7, 8, 11, np.nan])  # 5 | 3 | above: 1 | NaN: 1
    expected = psi_term(0.5, 0.5) + psi_term(0.3, 0.5) + psi_term(0.1, EPS) + psi_term(0.1, EPS)
    assert population_stability_index(reference, current, bins=2) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.4823, abs=1e-4)


def test_tied_reference_values_merge_quantile_bins_instead_of_leaving_them_empty():
    # quartiles of six 0s and 1..4 are 0, 0, 0, 1.75, 4: edges 0, 1.75, 4 -> [0, 1.75] holds 7, (1.75, 4] 3
    reference = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 4], dtype=float)
    current = np.array([0, 0, 1, 1, 1, 2, 3, 4, 5, 5], dtype=float)  # 5 | 3 | above the maximum: 2
    expected = psi_term(0.5, 0.7) + psi_term(0.3, 0.3) + psi_term(0.2, EPS)
    assert population_stability_index(reference, current, bins=4) == pytest.approx(expected, rel=1e-12)


def test_a_constant_reference_still_sees_values_below_and_above_it():
    reference = np.full(5, 3.0)
    current = np.array([2.0, 3.0, 3.0, 4.0, 4.0])  # below 1, equal 2, above 2
    expected = psi_term(0.2, EPS) + psi_term(0.4, 1.0) + psi_term(0.4, EPS)
    assert population_stability_index(reference, current) == pytest.approx(expected, rel=1e-12)
    assert population_stability_index(reference, np.full(7, 3.0)) == 0.0


def test_psi_is_zero_for_the_same_sample_and_grows_with_the_shift():
    values = np.random.default_rng(0).normal(size=5_000)
    assert population_stability_index(values, values) == 0.0
    small = population_stability_index(values, values + 0.1)
    large = population_stability_index(values, values + 1.0)
    assert 0 < small < 0.1 < 0.2 < large


def test_categorical_psi_counts_unseen_and_missing_categories():
    reference = ["a", "a", "b", "b"]
    current = ["a", "b", "b", "c", None]  # a .2, b .4, unseen c .2, missing .2
    expected = psi_term(0.2, 0.5) + psi_term(0.4, 0.5) + psi_term(0.2, EPS) + psi_term(0.2, EPS)
    assert categorical_population_stability_index(reference, current) == pytest.approx(expected, rel=1e-12)
    assert categorical_population_stability_index(reference, ["b", "a"]) == 0.0


def test_psi_rejects_bad_arguments_naming_them():
    with pytest.raises(ValueError, match="bins"):
        population_stability_index([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(ValueError, match="current must hold at least one value"):
        population_stability_index([1.0, 2.0], [])
    with pytest.raises(ValueError, match="reference must be numeric"):
        population_stability_index(["a", "b"], [1.0])


# -------------------------------------------------------------------------------- feature drift

def populations(shift: float, n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({
        "recency_days": rng.exponential(30.0, n),
        "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]),
        "stable": rng.normal(size=n),
    })
    current = pd.DataFrame({
        "recency_days": rng.exponential(30.0, n) + shift * 30.0,
        "channel": rng.choice(["web", "app", "store"], n, p=[0.5 - shift / 2, 0.3 + shift / 2, 0.2]),
        "stable": rng.normal(size=n),
    })
    return reference, current


def test_feature_drift_flags_a_large_shift_and_reports_one_row_per_feature():
    reference, current = populations(shift=0.6, n=2_000)
    frame = feature_drift(reference, current, features=["recency_days", "channel", "stable"])
    assert frame.columns.tolist() == ["feature", "kind", "psi", "test", "statistic", "p_value", "missing_p_value",
                                      "drifted"]
    rows = frame.set_index("feature")
    assert rows.loc["recency_days", ["kind", "test"]].tolist() == ["numeric", "ks"]
    assert rows.loc["channel", ["kind", "test"]].tolist() == ["categorical", "chi2"]
    assert rows["drifted"].to_dict() == {"recency_days": True, "channel": True, "stable": False}
    assert rows.loc["recency_days", "psi"] > 0.2 and rows.loc["recency_days", "p_value"] < 1e-10
    assert drifted_share(frame) == pytest.approx(2 / 3)


def test_a_tiny_shift_in_a_large_sample_is_significant_but_not_drift():
    # why drift needs both rules: KS rejects at p < 0.01 on 200,000 rows, yet the population barely moved
    reference, current = populations(shift=0.02, n=200_000, seed=1)
    row = feature_drift(reference, current, features=["recency_days"]).iloc[0]
    assert row["p_value"] < 0.01 and row["psi"] < 0.05 and not row["drifted"]


def test_a_feature_going_missing_has_drifted_though_its_observed_values_have_not():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"tenure_days": np.where(rng.random(4_000) < 0.05, np.nan, rng.gamma(2.0, 200.0, 4_000))})
    current = pd.DataFrame({"tenure_days": np.where(rng.random(4_000) < 0.40, np.nan, rng.gamma(2.0, 200.0, 4_000))})
    frame = feature_drift(reference, current, features=["tenure_days"])
    row = frame.iloc[0]
    assert row["p_value"] > 0.01  # KS sees only the observed values, which did not move
    assert row["missing_p_value"] < 1e-10 and row["psi"] > 0.2 and row["drifted"]
    rows = feature_drift_rows(frame, "churn_model-0123456789ab", datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert rows["statistic"].tolist() == ["psi", "ks", "p_value", "missing_p_value"]


def test_the_chi_squared_statistic_is_the_contingency_tables():
    reference = pd.DataFrame({"channel": ["web"] * 60 + ["app"] * 40})
    current = pd.DataFrame({"channel": ["web"] * 30 + ["app"] * 70})
    row = feature_drift(reference, current, features=["channel"]).iloc[0]
    # expected counts 45/55 per sample; Yates' correction (2 x 2 table): sum (|O - E| - 0.5)^2 / E
    expected = sum((abs(observed - mean) - 0.5) ** 2 / mean for observed, mean in
                   ((60, 45), (40, 55), (30, 45), (70, 55)))
    assert row["statistic"] == pytest.approx(expected)
    assert row["psi"] == pytest.approx(psi_term(0.3, 0.6) + psi_term(0.7, 0.4))


def test_drift_rows_fit_the_feature_drift_table():
    reference, current = populations(shift=0.6, n=500)
    frame = feature_drift(reference, current, features=["recency_days", "channel"])
    scored_at = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
    rows = feature_drift_rows(frame, "churn_model-0123456789ab", scored_at)
    assert rows.columns.tolist() == ["model_version", "scored_at", "feature", "statistic", "value", "drifted"]
    assert sorted(zip(rows["feature"], rows["statistic"])) == [
        ("channel", "chi2"), ("channel", "p_value"), ("channel", "psi"),
        ("recency_days", "ks"), ("recency_days", "p_value"), ("recency_days", "psi")]
    psi_value = rows.query("feature == 'recency_days' and statistic == 'psi'")["value"].item()
    assert psi_value == frame.set_index("feature").loc["recency_days", "psi"]
    with duckdb.connect() as connection:
        ensure_monitoring_tables(connection)
        connection.register("drift_rows", rows)
        connection.execute("insert into ml.feature_drift by name select * from drift_rows")
        stored = connection.execute(
            "select count(*), count(distinct scored_at), bool_and(drifted) from ml.feature_drift").fetchone()
        assert stored == (6, 1, True)
    with pytest.raises(ValueError, match="scored_at must be timezone-aware"):
        feature_drift_rows(frame, "churn_model-0123456789ab", datetime(2026, 11, 2))


def test_feature_drift_names_missing_columns():
    reference, current = populations(shift=0.0, n=50)
    with pytest.raises(ValueError, match=r"current lacks feature columns \['tenure'\]"):
        feature_drift(reference.assign(tenure=1.0), current, features=["stable", "tenure"])


def test_prediction_drift_measures_the_score_shift():
    previous = np.random.default_rng(2).beta(2, 8, 5_000)
    same = prediction_drift(previous, previous)
    assert same["psi"] == 0.0 and same["ks_statistic"] == 0.0 and same["mean_shift"] == 0.0
    moved = prediction_drift(previous, np.clip(previous + 0.1, 0, 1))
    assert moved["mean_shift"] == pytest.approx(0.1, abs=1e-3)
    assert moved["psi"] > 0.2 and moved["ks_p_value"] < 1e-10
    assert moved["n_previous"] == moved["n_current"] == 5_000


# ----------------------------------------------------------------------------- change detection

CHANGE_AT = 2_000


def error_stream_with_change(seed: int) -> np.ndarray:
    """0/1 errors: a 10% error rate for 2,000 events, then 20% for 2,000 more."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random(CHANGE_AT) < 0.1, rng.random(2_000) < 0.2]).astype(float)


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley"])
def test_a_shift_from_10_to_20_percent_errors_is_detected_within_a_few_hundred_events(detector):
    """Measured on seeds 0-19: ADWIN median delay 319 events (max 495), Page-Hinkley median 209 (max 383);
    no detector fired before the change on any stream."""
    delays = []
    for seed in range(20):
        detections = detect_changes(error_stream_with_change(seed), detectors=[detector])[detector]
        assert not [index for index in detections if index < CHANGE_AT], f"seed {seed}: alarm before the change"
        after = [index - CHANGE_AT for index in detections if index >= CHANGE_AT]
        assert after, f"seed {seed}: the change was never detected"
        delays.append(after[0])
    assert np.median(delays) < 400
    assert max(delays) < 500


def test_a_stable_error_stream_raises_no_alarm():
    for seed in range(10):
        errors = (np.random.default_rng(100 + seed).random(20_000) < 0.1).astype(float)
        assert detect_changes(errors) == {"adwin": [], "page_hinkley": []}, f"seed {seed}"


def test_detector_parameters_can_be_overridden_and_bad_input_is_refused():
    errors = error_stream_with_change(0)
    hair_trigger = detect_changes(errors, detectors=["page_hinkley"], page_hinkley={"threshold": 1.0})
    assert hair_trigger["page_hinkley"] and hair_trigger["page_hinkley"][0] < CHANGE_AT
    with pytest.raises(ValueError, match="detectors"):
        detect_changes(errors, detectors=["ddm"])
    with pytest.raises(ValueError, match="errors must be"):
        detect_changes([0.0, math.nan])


# --------------------------------------------------------------------------- realised performance

def test_realised_performance_per_scoring_run_matches_hand_computed_metrics():
    first = datetime(2026, 8, 1, tzinfo=timezone.utc)
    second = first + timedelta(days=7)
    predictions = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
        "probability": [0.9, 0.8, 0.3, 0.1, 0.5, 0.2, 0.6],
        "scored_at": [first] * 5 + [second] * 2,
    })
    outcomes = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c6", "c7"], "label": [1, 0, 1, 0, 1, 1]})
    frame = realised_classification_performance(predictions, outcomes)
    assert frame.columns.tolist() == ["scored_at", "n", "positive_rate", "mean_predicted", "roc_auc", "brier"]
    first_run = frame.iloc[0]  # c5 has no outcome yet and is left out
    assert first_run["n"] == 4 and first_run["positive_rate"] == 0.5
    assert first_run["mean_predicted"] == pytest.approx(0.525)
    assert first_run["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ranked right
    assert first_run["brier"] == pytest.approx((0.01 + 0.64 + 0.49 + 0.01) / 4)
    second_run = frame.iloc[1]  # only churners: AUC undefined, Brier still measured
    assert second_run["n"] == 2 and math.isnan(second_run["roc_auc"])
    assert second_run["brier"] == pytest.approx((0.64 + 0.16) / 2)


def test_the_error_stream_is_in_time_order_and_skips_unlabelled_customers():
    early, late = datetime(2026, 8, 1, tzinfo=timezone.utc), datetime(2026, 8, 8, tzinfo=timezone.utc)
    predictions = pd.DataFrame({"customer_id": ["b", "a", "c", "d"], "probability": [0.9, 0.2, 0.7, 0.4],
                                "scored_at": [late, late, early, early]})
    outcomes = pd.DataFrame({"customer_id": ["a", "b", "c"], "label": [1, 1, 1]})
    assert error_stream(predictions, outcomes).tolist() == [0.0, 1.0, 0.0]  # c (early), then a, b
    with pytest.raises(ValueError, match="one label per customer_id"):
        error_stream(predictions, pd.concat([outcomes, outcomes]))


def test_realised_revenue_performance_per_run_matches_hand_computed_errors():
    first = datetime(2026, 8, 1, tzinfo=timezone.utc)
    second = first + timedelta(days=7)
    predictions = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "predicted": [10.0, 0.0, 50.0, 5.0, 8.0],
                                "scored_at": [first, first, first, second, second]})
    outcomes = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "actual": [20.0, 0.0, 40.0, 0.0]})
    frame = realised_regression_performance(predictions, outcomes)
    assert frame.columns.tolist() == ["scored_at", "n", "positive_rate", "mean_predicted", "mean_actual", "rmse", "mae"]
    run = frame.iloc[0]  # errors -10, 0, +10
    assert run["n"] == 3 and run["positive_rate"] == pytest.approx(2 / 3)
    assert run["mean_predicted"] == pytest.approx(20.0) and run["mean_actual"] == pytest.approx(20.0)
    assert run["rmse"] == pytest.approx(math.sqrt(200 / 3)) and run["mae"] == pytest.approx(20 / 3)
    later = frame.iloc[1]  # e has no outcome yet and is left out
    assert later["n"] == 1 and later["rmse"] == pytest.approx(5.0) and later["positive_rate"] == 0.0
    with pytest.raises(ValueError, match="one row per customer_id"):
        realised_regression_performance(predictions, pd.concat([outcomes, outcomes]))
    with pytest.raises(ValueError, match="lacks columns"):
        realised_regression_performance(predictions.rename(columns={"predicted": "score"}), outcomes)


def test_log_errors_weigh_relative_misses_and_count_refunds_as_zero():
    errors = absolute_log_errors([99.0, 999.0, 0.0, 5.0], [199.0, 1999.0, -30.0, 5.0])
    assert errors[0] == pytest.approx(math.log(2)) and errors[1] == pytest.approx(math.log(2))
    assert errors[2] == 0.0 and errors[3] == 0.0
    with pytest.raises(ValueError, match="finite"):
        absolute_log_errors([1.0], [math.inf])


def test_exceedances_of_the_reference_quantile_count_as_misses():
    reference = np.arange(1, 11, dtype=float)  # 90th percentile 9.1
    assert exceedance_stream([9.0, 9.2, 100.0, 0.0], reference).tolist() == [0.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="quantile"):
        exceedance_stream([1.0], reference, quantile=1.0)
    with pytest.raises(ValueError, match="empty"):
        exceedance_stream([1.0], [])


def test_growing_revenue_errors_are_detected_and_stable_ones_are_not():
    """Log-errors whose spread grows by half after 2,000 customers: as an exceedance stream (10% misses
    while stable) both detectors catch it within a few hundred events. On stable streams of 20,000 events
    alarms are rare, not impossible: 2 of 40 seeds measured (the reference quantile is itself an estimate;
    exact 10% streams alarm on 1 of 40)."""
    delays, alarmed = [], 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        errors = np.abs(np.concatenate([rng.normal(0, 1.0, 2_000), rng.normal(0, 1.5, 2_000)]))
        misses = exceedance_stream(errors, errors[:1_000])
        detections = detect_changes(misses)
        for detector, points in detections.items():
            assert not [index for index in points if index < 2_000 - 100], f"seed {seed} {detector}: early alarm"
            after = [index - 2_000 for index in points if index >= 2_000]
            assert after, f"seed {seed} {detector}: never detected"
            delays.append(after[0])
        stable = np.abs(rng.normal(0, 1.0, 20_000))
        alarmed += any(detect_changes(exceedance_stream(stable, stable[:1_000])).values())
    assert np.median(delays) < 400
    assert alarmed <= 1


def recommendation_log(lists: dict[tuple[datetime, str], list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"scored_at": scored_at, "customer_id": customer, "rank": rank, "product_id": product}
                         for (scored_at, customer), products in lists.items()
                         for rank, product in enumerate(products, start=1)])


def test_realised_ranking_performance_matches_hand_computed_metrics_over_buyers():
    first = datetime(2026, 8, 1, tzinfo=timezone.utc)
    second = first + timedelta(days=14)
    lists = recommendation_log({(first, "a"): ["p1", "p2", "p3"], (first, "b"): ["p4", "p5", "p6"],
                                (first, "c"): ["p1", "p2", "p3"], (second, "a"): ["p9", "p8", "p7"]})
    # a bought p2 and p7 (p7 not listed), b bought nothing listed, c bought nothing at all
    purchases = pd.DataFrame({"scored_at": [first, first, first, first, second],
                              "customer_id": ["a", "a", "a", "b", "a"], "product_id": ["p2", "p7", "p2", "p9", "p7"]})
    frame = realised_ranking_performance(lists, purchases, k=10)
    assert frame.columns.tolist() == ["scored_at", "n", "positive_rate", "hit_rate_at_10", "recall_at_10", "ndcg_at_10"]
    run = frame.iloc[0]
    assert run["n"] == 3 and run["positive_rate"] == pytest.approx(2 / 3)
    assert run["hit_rate_at_10"] == pytest.approx(0.5)  # a hit, b missed; c bought nothing and is not judged
    assert run["recall_at_10"] == pytest.approx((0.5 + 0.0) / 2)
    # a: p2 at rank 2 -> DCG 1/log2(3); ideal with 2 relevant items 1 + 1/log2(3)
    assert run["ndcg_at_10"] == pytest.approx(((1 / math.log2(3)) / (1 + 1 / math.log2(3)) + 0.0) / 2)
    later = frame.iloc[1]
    assert later["n"] == 1 and later["hit_rate_at_10"] == pytest.approx(1.0)  # p7 at rank 3
    # misses in time order, buyers only: a (hit), b (miss), then a again (hit)
    assert ranking_miss_stream(lists, purchases).tolist() == [0.0, 1.0, 0.0]


def test_a_run_where_nobody_bought_has_no_ranking_metrics():
    at = datetime(2026, 8, 1, tzinfo=timezone.utc)
    frame = realised_ranking_performance(recommendation_log({(at, "a"): ["p1"]}),
                                         pd.DataFrame(columns=["scored_at", "customer_id", "product_id"]))
    assert frame.iloc[0]["n"] == 1 and frame.iloc[0]["positive_rate"] == 0.0 and math.isnan(frame.iloc[0]["ndcg_at_10"])


# ------------------------------------------------------------------------------------- decisions

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


def decide(**overrides) -> SensorDecision:
    state = dict(drift_detected=True, drifted_share=0.1, new_labelled_outcomes=5_000,
                 last_training_at=NOW - timedelta(days=10), last_trigger_at=NOW - timedelta(days=3), now=NOW,
                 min_new_outcomes=1_000, min_interval=timedelta(days=1), drift_share_threshold=0.3)
    return should_retrain(**{**state, **overrides})


def test_the_sensor_fires_on_drift_with_enough_new_outcomes_outside_the_rate_limit():
    decision = decide()
    assert decision.fire and decision.reason.startswith("retrain: a change in the error stream")
    by_features = decide(drift_detected=False, drifted_share=0.4, last_trigger_at=None)
    assert by_features.fire and "40% of features drifted" in by_features.reason


def test_the_sensor_is_debounced_until_enough_labelled_outcomes_arrive():
    decision = decide(new_labelled_outcomes=999)
    assert not decision.fire
    assert decision.reason.startswith("debounced:") and "only 999 new labelled outcomes" in decision.reason
    assert decide(new_labelled_outcomes=1_000).fire


def test_the_sensor_fires_at_most_once_per_interval():
    decision = decide(last_trigger_at=NOW - timedelta(hours=23))
    assert not decision.fire
    assert decision.reason.startswith("rate-limited:") and "next allowed at 2026-11-02 07:00" in decision.reason
    assert decide(last_trigger_at=NOW - timedelta(hours=24)).fire


def test_the_sensor_does_not_fire_without_drift():
    decision = decide(drift_detected=False, drifted_share=0.29)
    assert decision == SensorDecision(False, "no drift: no change in the error stream and 29% of features drifted "
                                             "(threshold 30%)")
    with pytest.raises(ValueError, match="last_trigger_at"):
        decide(last_trigger_at=NOW + timedelta(minutes=1))


SCORES = np.linspace(0.05, 0.95, 50)


def test_a_better_or_slightly_worse_challenger_is_promoted_a_clearly_worse_one_is_not():
    assert promotion_decision(0.70, 0.72, higher_is_better=True, tolerance=0.01, challenger_scores=SCORES)[0]
    promoted, reason = promotion_decision(0.70, 0.695, higher_is_better=True, tolerance=0.01,
                                          challenger_scores=SCORES)
    assert promoted and reason.startswith("promoted: challenger 0.6950 vs champion 0.7000")
    promoted, reason = promotion_decision(0.70, 0.68, higher_is_better=True, tolerance=0.01,
                                          challenger_scores=SCORES)
    assert not promoted and reason.startswith("rejected: worse than the champion by 0.0200")


def test_lower_is_better_metrics_compare_the_other_way():
    revenue = np.linspace(0.0, 400.0, 50)
    assert promotion_decision(100.0, 104.0, higher_is_better=False, tolerance=5.0, challenger_scores=revenue,
                              probabilities=False)[0]
    promoted, reason = promotion_decision(100.0, 106.0, higher_is_better=False, tolerance=5.0,
                                          challenger_scores=revenue, probabilities=False)
    assert not promoted and "worse than the champion by 6.0000" in reason


def test_without_a_champion_a_sane_challenger_is_promoted():
    promoted, reason = promotion_decision(None, 0.6, higher_is_better=True, tolerance=0.0, challenger_scores=SCORES)
    assert promoted and "no champion metric" in reason


@pytest.mark.parametrize(("scores", "expected"), [
    ([], "no predictions"),
    ([0.2, math.nan, 0.4], "1 challenger predictions are NaN"),
    ([0.3] * 10, "every challenger prediction is 0.3"),
    ([0.2, 1.4], "outside [0, 1]"),
])
def test_a_challenger_failing_a_sanity_check_is_rejected_even_when_it_measures_better(scores, expected):
    promoted, reason = promotion_decision(0.70, 0.90, higher_is_better=True, tolerance=0.01,
                                          challenger_scores=scores)
    assert not promoted and reason.startswith("rejected: ") and expected in reason
    assert not promotion_decision(None, 0.90, higher_is_better=True, tolerance=0.01, challenger_scores=scores)[0]


def test_the_recommendation_log_keeps_a_fixed_panel_of_customers(tmp_path):
    """Lists of the same panel are logged run after run, bounded by the panel size, however many are scored."""
    from ml.monitoring_runs import log_recommendations

    def lists(customers: list[str], at) -> pd.DataFrame:
        return pd.DataFrame([{"customer_id": c, "rank": r, "product_id": f"p{r}", "score": 1.0 / r,
                              "model_version": "recommender_ranker-x", "scored_at": at}
                             for c in customers for r in range(1, 4)])

    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        connection.execute("create schema predictions")
        connection.execute("create table predictions.next_best_products (score double)")
        first = [f"c{i}" for i in range(100)]
        log_recommendations(connection, model_name="recommender_ranker", lists=lists(first, pd.Timestamp("2026-01-01", tz="UTC")),
                            horizon_days=14, as_of_date="2026-01-01", panel_customers=10)
        log_recommendations(connection, model_name="recommender_ranker",
                            lists=lists(list(reversed(first)) + ["new"], pd.Timestamp("2026-01-02", tz="UTC")),
                            horizon_days=14, as_of_date="2026-01-02", panel_customers=10)
        panels = connection.execute("select as_of_date, list(distinct customer_id order by customer_id), count(*) "
                                    "from ml.recommendation_log group by 1 order by 1").fetchall()
    assert [count for _, _, count in panels] == [30, 30]
    assert len(panels[0][1]) == len(panels[1][1]) == 10
    assert set(panels[1][1]) - {"new"} <= set(panels[0][1])  # the same customers, whatever the order scored


def test_large_scoring_runs_log_the_same_panel_of_customers_every_run(tmp_path):
    from ml.monitoring_runs import log_predictions

    def run(customers: list[str], day: str) -> pd.DataFrame:
        return pd.DataFrame({"customer_id": customers, "probability": np.linspace(0, 1, len(customers)),
                             "model_version": "churn_model-x", "scored_at": pd.Timestamp(day, tz="UTC")})

    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        connection.execute("create schema predictions")
        connection.execute("create table predictions.churn_scores (probability double)")
        everyone = [f"c{i}" for i in range(500)]
        for day, customers in (("2026-01-01", everyone), ("2026-01-02", everyone[::-1])):
            log_predictions(connection, model_name="churn_model", rows=run(customers, day), score_column="probability",
                            horizon_days=90, table="predictions.churn_scores", as_of_date=day, panel_customers=50)
        log_predictions(connection, model_name="churn_model", rows=run(everyone[:20], "2026-01-03"),
                        score_column="probability", horizon_days=90, table="predictions.churn_scores",
                        as_of_date="2026-01-03", panel_customers=50)
        panels = connection.execute("select as_of_date, list(customer_id order by customer_id) from ml.prediction_log "
                                    "group by 1 order by 1").fetchall()
    assert len(panels[0][1]) == 50 and panels[0][1] == panels[1][1]
    assert panels[2][1] == sorted(everyone[:20])  # a run smaller than the panel is logged whole
