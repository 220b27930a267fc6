"""Future revenue per customer: a LightGBM regressor on the snapshot features predicting `revenue_in_<H>d`,
tuned by a small time-bounded randomized search on folds grouped by customer.

It is the discriminative counterpart of ml.clv.CustomerLifetimeValue (BG/NBD + Gamma-Gamma): it sees every
snapshot feature, not only recency, frequency and spend, but learns nothing about customers it never saw a
horizon of. Benchmarks report both side by side.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, ParameterSampler
from sklearn.utils.validation import check_is_fitted

from ml.models.churn import LIGHTGBM_SEARCH_SPACE
from ml.models.search import out_of_fold_search

__all__ = ["RevenueRegressor", "REVENUE_SEARCH_SPACE"]

#: The classifiers' search space: small trees and strong leaves suit revenue too, which is heavy-tailed, so
#: leaves need many rows before one big spender can set their value.
REVENUE_SEARCH_SPACE = LIGHTGBM_SEARCH_SPACE


class RevenueRegressor(RegressorMixin, BaseEstimator):
    """LightGBM regressor of a customer's revenue over the next H days, from the snapshot features.

    The objective is squared error on revenue itself (no log transform): the mean of the predictions then
    tracks the mean revenue, which keeps the aggregate forecast honest, and the search selects by RMSE.
    Categoricals go to LightGBM as pandas `category` columns (ml.datasets.prepare_features builds them) and
    missing numbers stay NaN: LightGBM handles both natively. ml.preprocessing.CustomerFeaturePreprocessor
    is not used because its target encoder is binary (built for the classifiers), and a tree model gains
    nothing from its median imputation.

    Parameters
    ----------
    n_iter : int, default=6
        Parameter settings sampled by the randomized search (the first one is always evaluated).
    cv_folds : int, default=3
        GroupKFold splits by customer, so one customer's as-of dates never sit on both sides.
    time_budget_seconds : float, default=60
        The search starts no new settings once this much time has passed (n_jobs settings at a time).
    n_jobs : int, default=1
        The search's fold fits run side by side on this many threads, each LightGBM fit on one thread
        (see ml.models.tuned.TunedCalibratedClassifier for why).
    random_state : int, default=0

    Attributes
    ----------
    model_ : lightgbm.LGBMRegressor
        Refit on every training row with best_params_.
    best_params_ : dict
    cv_results_ : list of dict
        Per setting tried: params, out-of-fold rmse and mae.
    search_seconds_ : float
    feature_names_in_ : ndarray of shape (n_features,)
    n_features_in_ : int
    """

    def __init__(self, *, n_iter=6, cv_folds=3, time_budget_seconds=60.0, n_jobs=1, random_state=0):
        self.n_iter = n_iter
        self.cv_folds = cv_folds
        self.time_budget_seconds = time_budget_seconds
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate_params(self) -> None:
        for name in ("n_iter", "cv_folds", "n_jobs"):
            value = getattr(self, name)
            minimum = 2 if name == "cv_folds" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        budget = self.time_budget_seconds
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
            raise ValueError(f"time_budget_seconds must be a number > 0, got {budget!r}")

    def _make_estimator(self, params: dict):
        # imported here: lightgbm takes ~1.6 s to import and the CLI must not pay for it
        from lightgbm import LGBMRegressor

        return LGBMRegressor(objective="regression", subsample_freq=1, n_jobs=1,
                             random_state=self.random_state, verbose=-1, **params)

    @staticmethod
    def _check_X(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame (see ml.datasets.prepare_features), got {type(X).__name__}")
        text = [name for name in X.columns
                if not (pd.api.types.is_numeric_dtype(X[name]) or isinstance(X[name].dtype, pd.CategoricalDtype))]
        if text:
            raise TypeError(f"X columns must be numeric or category, got other dtypes in {text}; "
                            "build X with ml.datasets.prepare_features")
        return X

    def fit(self, X, y, *, groups=None):
        """Search on grouped folds, then refit the best setting on every row. Returns self.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            Numeric columns as float, categoricals as `category` (see ml.datasets.prepare_features).
        y : array-like of shape (n_samples,)
            Revenue over the horizon; finite, may be negative (net of refunds).
        groups : array-like of shape (n_samples,), optional
            Customer ids; without them every row is its own group.
        """
        self._validate_params()
        X = self._check_X(X)
        y = np.asarray(y, dtype=float).ravel()
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one value per row of X ({X.shape[0]}), got {y.shape[0]}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"y must be finite revenue, got {int((~np.isfinite(y)).sum())} NaN or infinite value(s); "
                             "drop rows whose horizon is not observed yet")
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        if groups.shape[0] != len(y):
            raise ValueError(f"groups must have one customer id per row of X ({len(y)}), got {groups.shape[0]}")
        # integer codes: GroupKFold tests membership with np.isin, which on string ids took 7 s for 68,000 rows
        # of 5,000 customers against 0.01 s on their codes
        codes, customers = pd.factorize(groups, use_na_sentinel=False)
        if len(customers) < self.cv_folds:
            raise ValueError(f"cv_folds ({self.cv_folds}) must not exceed the number of customers ({len(customers)})")
        folds = list(GroupKFold(n_splits=self.cv_folds, shuffle=True, random_state=self.random_state).split(X, y, codes))

        started = time.perf_counter()
        settings = list(ParameterSampler(REVENUE_SEARCH_SPACE, n_iter=self.n_iter, random_state=self.random_state))
        results = []

        def fit_predict(params, train, validate):
            return self._make_estimator(params).fit(X.iloc[train], y[train]).predict(X.iloc[validate])

        for params, out_of_fold in out_of_fold_search(fit_predict, settings, folds, len(y), n_jobs=self.n_jobs,
                                                      time_budget_seconds=self.time_budget_seconds):
            errors = out_of_fold - y
            results.append({"params": params, "rmse": float(np.sqrt(np.mean(errors ** 2))),
                            "mae": float(np.mean(np.abs(errors)))})
        self.cv_results_ = results
        self.best_params_ = min(results, key=lambda result: result["rmse"])["params"]
        self.search_seconds_ = time.perf_counter() - started
        self.model_ = self._make_estimator(self.best_params_).fit(X, y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Expected revenue over the horizon, shape (n_samples,), in the training target's currency."""
        check_is_fitted(self, "model_")
        X = self._check_X(X)
        missing = [name for name in self.feature_names_in_ if name not in X.columns]
        if missing:
            raise ValueError(f"X lacks the fitted feature columns {missing}")
        return self.model_.predict(X[list(self.feature_names_in_)])
