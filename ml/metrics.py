"""Classification metrics as pure functions of labels and scores, so models, baselines and prediction
tables are scored alike. Every function takes `y_true` of shape (n_samples,) with values in {0, 1} and
`y_score` of shape (n_samples,) with probabilities of the positive class in [0, 1]."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

__all__ = [
    "roc_auc",
    "pr_auc",
    "f1_at_threshold",
    "best_f1_threshold",
    "brier_score",
    "log_loss",
    "lift_at_top",
    "calibration_table",
    "classification_metrics",
]


def _validated(y_true, y_score, *, need_both_classes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_score = np.asarray(y_score, dtype=float).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true and y_score must have the same length, got {y_true.shape[0]} and {y_score.shape[0]}")
    if y_true.size == 0:
        raise ValueError("y_true must hold at least one sample, got 0")
    if not np.isin(y_true, (0.0, 1.0)).all():
        raise ValueError(f"y_true must hold only 0 and 1, got {sorted(set(np.unique(y_true)) - {0.0, 1.0})[:5]}")
    if np.isnan(y_score).any() or (y_score < 0).any() or (y_score > 1).any():
        raise ValueError("y_score must hold probabilities in [0, 1] without NaN")
    if need_both_classes and np.unique(y_true).size < 2:
        raise ValueError("y_true must hold both classes for this metric, got only one")
    return y_true, y_score


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties 1/2)."""
    y_true, y_score = _validated(y_true, y_score, need_both_classes=True)
    return float(sk_metrics.roc_auc_score(y_true, y_score))


def pr_auc(y_true, y_score) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation)."""
    y_true, y_score = _validated(y_true, y_score, need_both_classes=True)
    return float(sk_metrics.average_precision_score(y_true, y_score))


def f1_at_threshold(y_true, y_score, *, threshold: float) -> float:
    """F1 of the decision `y_score >= threshold`; 0 when nothing is predicted positive and no positive exists."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    y_true, y_score = _validated(y_true, y_score)
    return float(sk_metrics.f1_score(y_true, y_score >= threshold, zero_division=0.0))


def best_f1_threshold(y_true, y_score) -> float:
    """The score threshold that maximizes F1 on these samples (the chosen operating point)."""
    y_true, y_score = _validated(y_true, y_score, need_both_classes=True)
    precision, recall, thresholds = sk_metrics.precision_recall_curve(y_true, y_score)
    # the last precision/recall pair has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=(precision + recall) > 0)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def brier_score(y_true, y_score) -> float:
    """Mean squared difference between the probability and the 0/1 outcome (lower is better)."""
    y_true, y_score = _validated(y_true, y_score)
    return float(np.mean((y_score - y_true) ** 2))


def log_loss(y_true, y_score, *, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] so a confident miss is finite."""
    y_true, y_score = _validated(y_true, y_score)
    clipped = np.clip(y_score, eps, 1 - eps)
    return float(-np.mean(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)))


def lift_at_top(y_true, y_score, *, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` of scores divided by the overall positive rate.

    The top holds ceil(fraction x n) samples; ties at its edge are broken by order of appearance (a
    stable sort), so a constant score gets lift 1 in expectation, not by luck of the sort.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y_true, y_score = _validated(y_true, y_score)
    base_rate = y_true.mean()
    if base_rate == 0:
        raise ValueError("lift_at_top needs at least one positive in y_true, got none")
    top_count = int(np.ceil(fraction * y_true.size))
    top = np.argsort(-y_score, kind="stable")[:top_count]
    return float(y_true[top].mean() / base_rate)


def calibration_table(y_true, y_score, *, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against observed positive rate in equal-width probability bins.

    Returns
    -------
    pandas.DataFrame of shape (non-empty bins, 5)
        Columns bin_lower, bin_upper, samples, mean_predicted, observed_rate; a score of exactly 1 falls
        in the last bin.
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    y_true, y_score = _validated(y_true, y_score)
    bins = np.minimum((y_score * n_bins).astype(int), n_bins - 1)
    rows = []
    for index in np.unique(bins):
        in_bin = bins == index
        rows.append({
            "bin_lower": index / n_bins,
            "bin_upper": (index + 1) / n_bins,
            "samples": int(in_bin.sum()),
            "mean_predicted": float(y_score[in_bin].mean()),
            "observed_rate": float(y_true[in_bin].mean()),
        })
    return pd.DataFrame(rows, columns=["bin_lower", "bin_upper", "samples", "mean_predicted", "observed_rate"])


def classification_metrics(y_true, y_score, *, threshold: float) -> dict[str, float]:
    """Every reported metric at once: roc_auc, pr_auc, f1 (at `threshold`), brier, log_loss, lift_top10,
    plus the sample count and positive rate so a table row says what it was measured on."""
    y_true, y_score = _validated(y_true, y_score, need_both_classes=True)
    return {
        "samples": int(y_true.size),
        "positive_rate": float(y_true.mean()),
        "roc_auc": roc_auc(y_true, y_score),
        "pr_auc": pr_auc(y_true, y_score),
        "f1": f1_at_threshold(y_true, y_score, threshold=threshold),
        "threshold": float(threshold),
        "brier": brier_score(y_true, y_score),
        "log_loss": log_loss(y_true, y_score),
        "lift_top10": lift_at_top(y_true, y_score, fraction=0.1),
    }
