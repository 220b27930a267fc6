"""Baselines every model is reported beside, as scikit-learn classifiers on the same feature frame.

- RFMLogisticRegression (churn): logistic regression on log recency, frequency and monetary value.
- DaysSinceLastPurchaseRanker (churn): the longer since the last purchase, the likelier churn; the score
  is the observed churn rate for that recency (isotonic fit), so it is a ranking with honest probabilities.
- RecentFrequencyRate (propensity): a customer buying at their recent rate as a Poisson process buys at
  least once in H days with probability 1 - exp(-rate x H).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["RFMLogisticRegression", "DaysSinceLastPurchaseRanker", "RecentFrequencyRate"]


def _require_columns(X, columns: tuple[str, ...], owner: str) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{owner} needs X as a pandas DataFrame, got {type(X).__name__}")
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ValueError(f"{owner} needs columns {list(columns)}; X lacks {missing}")


def _binary_labels(y, n_rows: int) -> np.ndarray:
    y = np.asarray(y).astype(int).ravel()
    if y.shape[0] != n_rows:
        raise ValueError(f"y must have one label per row of X ({n_rows}), got {y.shape[0]}")
    if not np.isin(y, (0, 1)).all() or np.unique(y).size < 2:
        raise ValueError(f"y must hold both 0 and 1 labels, got values {np.unique(y)[:5].tolist()}")
    return y


def _recency(X: pd.DataFrame) -> np.ndarray:
    """Days since the last purchase; a customer who never bought counts as their tenure plus a day, the
    longest they can have gone without buying."""
    recency = X["days_since_last_purchase"].astype(float).to_numpy()
    tenure = X["tenure_days"].astype(float).fillna(0).to_numpy()
    return np.where(np.isnan(recency), tenure + 1, recency)


class RFMLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression on log1p(recency), log1p(purchase_orders_365d), sign-log net_revenue_365d.

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 regularization strength.
    random_state : int or None, default=None
    """

    COLUMNS = ("days_since_last_purchase", "tenure_days", "purchase_orders_365d", "net_revenue_365d")

    def __init__(self, *, C=1.0, random_state=None):
        self.C = C
        self.random_state = random_state

    def _rfm(self, X: pd.DataFrame) -> np.ndarray:
        _require_columns(X, self.COLUMNS, type(self).__name__)
        frequency = X["purchase_orders_365d"].astype(float).fillna(0).to_numpy()
        monetary = X["net_revenue_365d"].astype(float).fillna(0).to_numpy()
        return np.column_stack([np.log1p(_recency(X)), np.log1p(frequency), np.sign(monetary) * np.log1p(np.abs(monetary))])

    def fit(self, X, y, **fit_params):
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ValueError(f"C must be a number > 0, got {self.C!r}")
        features = self._rfm(X)
        y = _binary_labels(y, len(features))
        self.model_ = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.C, class_weight="balanced", random_state=self.random_state)
        ).fit(features, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        """Shape (n_samples, 2)."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(self._rfm(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class DaysSinceLastPurchaseRanker(ClassifierMixin, BaseEstimator):
    """Scores churn by days since the last purchase, mapped to the churn rate observed at that recency by a
    non-decreasing isotonic fit. No parameters: it is the rule a marketer would use without a model."""

    COLUMNS = ("days_since_last_purchase", "tenure_days")

    def fit(self, X, y, **fit_params):
        _require_columns(X, self.COLUMNS, type(self).__name__)
        recency = _recency(X)
        y = _binary_labels(y, len(recency))
        self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(recency, y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        """Shape (n_samples, 2)."""
        check_is_fitted(self, "isotonic_")
        _require_columns(X, self.COLUMNS, type(self).__name__)
        positive = np.clip(self.isotonic_.predict(_recency(X)), 0.0, 1.0)
        return np.column_stack([1 - positive, positive])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class RecentFrequencyRate(ClassifierMixin, BaseEstimator):
    """P(at least one purchase in `horizon_days`) = 1 - exp(-orders in the last `window_days` / window_days
    x horizon_days). Learns nothing from y; fit only checks the inputs.

    Parameters
    ----------
    window_days : {30, 90, 365}, default=90
        Which purchase_orders_<window>d feature gives the recent rate.
    horizon_days : int, default=30
    """

    def __init__(self, *, window_days=90, horizon_days=30):
        self.window_days = window_days
        self.horizon_days = horizon_days

    def _column(self) -> str:
        if self.window_days not in (30, 90, 365):
            raise ValueError(f"window_days must be one of 30, 90, 365, got {self.window_days!r}")
        if not isinstance(self.horizon_days, (int, np.integer)) or self.horizon_days < 1:
            raise ValueError(f"horizon_days must be an int >= 1, got {self.horizon_days!r}")
        return f"purchase_orders_{self.window_days}d"

    def fit(self, X, y, **fit_params):
        column = self._column()
        _require_columns(X, (column,), type(self).__name__)
        _binary_labels(y, len(X))
        self.classes_ = np.array([0, 1])
        self.fitted_column_ = column
        return self

    def predict_proba(self, X):
        """Shape (n_samples, 2)."""
        check_is_fitted(self, "fitted_column_")
        _require_columns(X, (self.fitted_column_,), type(self).__name__)
        rate = X[self.fitted_column_].astype(float).fillna(0).clip(lower=0).to_numpy() / self.window_days
        positive = 1 - np.exp(-rate * self.horizon_days)
        return np.column_stack([1 - positive, positive])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
