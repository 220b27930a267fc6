"""Metric functions against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.metrics import (
    best_f1_threshold,
    brier_score,
    calibration_table,
    classification_metrics,
    f1_at_threshold,
    lift_at_top,
    log_loss,
    pr_auc,
    roc_auc,
)

# 3 positives, 3 negatives. Positive scores 0.9, 0.6, 0.35; negatives 0.7, 0.3, 0.1.
Y = np.array([1, 1, 1, 0, 0, 0])
P = np.array([0.9, 0.6, 0.35, 0.7, 0.3, 0.1])


def test_roc_auc_counts_correctly_ordered_pairs():
    # pairs (pos > neg): 0.9 beats all 3, 0.6 beats 2, 0.35 beats 2 -> 7 of 9
    assert roc_auc(Y, P) == pytest.approx(7 / 9)


def test_roc_auc_counts_a_tie_as_half_a_pair():
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


def test_pr_auc_is_average_precision_over_the_positives():
    # ranking: 0.9+ 0.7- 0.6+ 0.35+ 0.3- 0.1-: precision at each positive 1, 2/3, 3/4
    assert pr_auc(Y, P) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_f1_at_threshold_uses_greater_or_equal():
    # >= 0.6 predicts 0.9, 0.7, 0.6: tp 2, fp 1, fn 1 -> precision 2/3, recall 2/3
    assert f1_at_threshold(Y, P, threshold=0.6) == pytest.approx(2 / 3)
    # >= 0.35 adds 0.35: tp 3, fp 1 -> precision 3/4, recall 1 -> 6/7
    assert f1_at_threshold(Y, P, threshold=0.35) == pytest.approx(6 / 7)


def test_best_f1_threshold_picks_the_operating_point_with_the_highest_f1():
    assert best_f1_threshold(Y, P) == pytest.approx(0.35)


def test_brier_score_is_the_mean_squared_error_of_the_probability():
    expected = (0.1**2 + 0.4**2 + 0.65**2 + 0.7**2 + 0.3**2 + 0.1**2) / 6
    assert brier_score(Y, P) == pytest.approx(expected)


def test_log_loss_is_the_mean_negative_log_likelihood_and_stays_finite_on_a_confident_miss():
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.3) + math.log(0.7) + math.log(0.9)) / 6
    assert log_loss(Y, P) == pytest.approx(expected)
    assert math.isfinite(log_loss([1], [0.0]))


def test_lift_at_top_divides_the_top_share_by_the_base_rate():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0] * 2)  # base rate 0.1
    score = np.linspace(1, 0, 20)  # the two highest scores: one positive (index 0), one negative
    assert lift_at_top(y, score, fraction=0.1) == pytest.approx(0.5 / 0.1)
    # the top 10% of 6 rounds up to 1 row: 0.9, a positive; base rate 0.5
    assert lift_at_top(Y, P, fraction=0.1) == pytest.approx(2.0)


def test_calibration_table_bins_by_predicted_probability():
    table = calibration_table(Y, P, n_bins=2)
    assert table.to_dict("records") == [
        {"bin_lower": 0.0, "bin_upper": 0.5, "samples": 3, "mean_predicted": pytest.approx(0.25), "observed_rate": pytest.approx(1 / 3)},
        {"bin_lower": 0.5, "bin_upper": 1.0, "samples": 3, "mean_predicted": pytest.approx(2.2 / 3), "observed_rate": pytest.approx(2 / 3)},
    ]
    # a probability of exactly 1 belongs to the last bin, not a bin of its own
    assert calibration_table([1, 0], [1.0, 0.0], n_bins=4)["bin_upper"].tolist() == [0.25, 1.0]


def test_classification_metrics_reports_every_metric_with_its_sample_count():
    report = classification_metrics(Y, P, threshold=0.6)
    assert report["samples"] == 6 and report["positive_rate"] == 0.5
    assert report["roc_auc"] == pytest.approx(7 / 9) and report["f1"] == pytest.approx(2 / 3)
    assert set(report) >= {"pr_auc", "brier", "log_loss", "lift_top10", "threshold"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: roc_auc([1, 1], [0.2, 0.3]), "both classes"),
        (lambda: brier_score([1, 2], [0.2, 0.3]), "only 0 and 1"),
        (lambda: brier_score([1, 0], [0.2, 1.3]), r"probabilities in \[0, 1\]"),
        (lambda: brier_score([1, 0, 1], [0.2, 0.3]), "same length"),
        (lambda: f1_at_threshold(Y, P, threshold=1.5), r"threshold must be in \[0, 1\], got 1.5"),
        (lambda: lift_at_top([0, 0], [0.1, 0.2]), "at least one positive"),
        (lambda: calibration_table(Y, P, n_bins=0), "n_bins must be an int >= 1, got 0"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
