"""Time-based evaluation of candidates (models and baselines) on one target: fit on the earlier as-of
dates, score the latest labelled one, report every metric side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from ml.datasets import TimeSplit, prepare_features, time_split
from ml.metrics import best_f1_threshold, calibration_table, classification_metrics

__all__ = ["EvaluationResult", "evaluate_candidates"]


@dataclass
class EvaluationResult:
    """Holdout metrics per candidate (`table`, one row each), the split, and the fitted candidates."""

    target_column: str
    split: TimeSplit
    table: pd.DataFrame
    calibration: dict[str, pd.DataFrame]
    fitted: dict[str, object]
    test_scores: dict[str, np.ndarray]


def _fit(candidate, X, y, groups):
    # the tuned models take customer groups for their folds; baselines ignore groups
    try:
        return candidate.fit(X, y, groups=groups)
    except TypeError as error:
        if "groups" not in str(error):
            raise
        return candidate.fit(X, y)


def evaluate_candidates(frame: pd.DataFrame, candidates: dict[str, object], *, target_column: str, horizon_days: int,
                        min_train_dates: int = 3, min_class_rows: int = 20,
                        max_train_dates: int | None = None) -> EvaluationResult:
    """Fit each candidate on the training as-of dates and measure it on the test as-of date.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        A training set from ml.datasets.load_training_set.
    candidates : dict of name -> unfitted classifier with fit/predict_proba
        Cloned before fitting. A candidate with `threshold_` after fit uses it; others get the F1-best
        threshold on their own training predictions (baselines have almost nothing to overfit).

    Raises
    ------
    ml.datasets.InsufficientHistoryError
        When the history cannot support the horizon (see ml.datasets.time_split).
    """
    split = time_split(frame, target_column=target_column, horizon_days=horizon_days,
                       min_train_dates=min_train_dates, min_class_rows=min_class_rows, max_train_dates=max_train_dates)
    features = prepare_features(frame)
    labels = frame[target_column].astype(float).astype(int).to_numpy()
    X_train, y_train = features.iloc[split.train_index], labels[split.train_index]
    X_test, y_test = features.iloc[split.test_index], labels[split.test_index]
    groups = frame["customer_id"].to_numpy()[split.train_index]

    rows, calibration, fitted, scores = [], {}, {}, {}
    for name, candidate in candidates.items():
        started = time.perf_counter()
        model = _fit(clone(candidate), X_train, y_train, groups)
        fit_seconds = time.perf_counter() - started
        threshold = getattr(model, "threshold_", None)
        if threshold is None:
            threshold = best_f1_threshold(y_train, model.predict_proba(X_train)[:, 1])
        test_score = model.predict_proba(X_test)[:, 1]
        rows.append({"candidate": name, **classification_metrics(y_test, test_score, threshold=threshold),
                     "fit_seconds": fit_seconds})
        calibration[name] = calibration_table(y_test, test_score)
        fitted[name], scores[name] = model, test_score
    table = pd.DataFrame(rows).set_index("candidate")
    return EvaluationResult(target_column, split, table, calibration, fitted, scores)
