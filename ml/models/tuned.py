"""The machinery every tuned customer classifier shares: preprocessing + estimator as one pipeline, a
small time-bounded randomized search on folds grouped by customer and stratified by label, probability
calibration, and an F1-maximizing threshold chosen on out-of-fold predictions."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import ParameterSampler, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ml.metrics import best_f1_threshold, log_loss, roc_auc
from ml.models.search import out_of_fold_search
from ml.preprocessing import CustomerFeaturePreprocessor

__all__ = ["TunedCalibratedClassifier"]

#: Below this many training rows isotonic calibration overfits its steps; sigmoid needs fewer points.
ISOTONIC_MIN_SAMPLES = 5000


class TunedCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses name the estimator (`_make_estimator`) and its search space (`_search_space`).

    Parameters
    ----------
    n_iter : int, default=6
        Parameter settings sampled by the randomized search (the first one is always evaluated).
    cv_folds : int, default=3
        StratifiedGroupKFold splits, grouped by customer so one customer's as-of dates never sit on both sides.
    time_budget_seconds : float, default=120
        The search starts no new settings once this much time has passed (with n_jobs > 1 it evaluates
        n_jobs settings at a time, so it may finish one batch more than the budget alone would allow).
    calibration : {"auto", "sigmoid", "isotonic"}, default="auto"
        "auto" is isotonic from ISOTONIC_MIN_SAMPLES training rows on, sigmoid below.
    n_jobs : int, default=1
        Fits run side by side on this many threads: the search's fold fits (n_jobs settings at a time) and
        the calibration's. Each estimator trains on one thread: on a busy 2-core machine LightGBM's OpenMP
        threads spin against other processes (a fit measured 3 s with one thread took 354 s with two), where
        separate single-threaded fits do not wait on each other. LightGBM releases the GIL while it trains.
    random_state : int, default=0
    imputation : {"median", "knn", "iterative"}, default="median"
        Missing-number imputation of ml.preprocessing.CustomerFeaturePreprocessor.
    params : dict, optional
        Fixed estimator parameters (e.g. best_params_ of an earlier fit): the search is skipped and only these
        are evaluated on the folds. Used to refit a tuned recipe on more rows without tuning again.
    """

    def __init__(self, *, n_iter=6, cv_folds=3, time_budget_seconds=120.0, calibration="auto", n_jobs=1, random_state=0,
                 imputation="median", params=None):
        self.imputation = imputation
        self.params = params
        self.n_iter = n_iter
        self.cv_folds = cv_folds
        self.time_budget_seconds = time_budget_seconds
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.random_state = random_state

    # subclasses override these two
    def _make_estimator(self) -> BaseEstimator:  # pragma: no cover - abstract
        raise NotImplementedError

    def _search_space(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pipeline(self, params: dict) -> Pipeline:
        pipeline = Pipeline([
            ("preprocess", CustomerFeaturePreprocessor(random_state=self.random_state, imputation=self.imputation)),
            ("model", self._make_estimator()),
        ])
        return pipeline.set_params(**{f"model__{name}": value for name, value in params.items()})

    def _validate_params(self) -> None:
        for name in ("n_iter", "cv_folds", "n_jobs"):
            value = getattr(self, name)
            minimum = 2 if name == "cv_folds" else 1
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        if not (isinstance(self.time_budget_seconds, (int, float)) and self.time_budget_seconds > 0):
            raise ValueError(f"time_budget_seconds must be a number > 0, got {self.time_budget_seconds!r}")
        if self.params is not None and not isinstance(self.params, dict):
            raise ValueError(f"params must be a dict of estimator parameters or None, got {self.params!r}")
        if self.calibration not in ("auto", "sigmoid", "isotonic"):
            raise ValueError(f"calibration must be one of auto, sigmoid, isotonic; got {self.calibration!r}")

    def fit(self, X, y, *, groups=None):
        """Search, calibrate and refit on all rows.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            Numeric columns as float, categoricals as `category` (see ml.datasets.prepare_features).
        y : array-like of shape (n_samples,)
            0/1 labels.
        groups : array-like of shape (n_samples,), optional
            Customer ids; without them every row is its own group.
        """
        self._validate_params()
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
        y = np.asarray(y).astype(int).ravel()
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have one label per row of X ({X.shape[0]}), got {y.shape[0]}")
        if not np.isin(y, (0, 1)).all() or np.unique(y).size < 2:
            raise ValueError(f"y must hold both 0 and 1 labels, got values {np.unique(y)[:5].tolist()}")
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        splitter = StratifiedGroupKFold(n_splits=self.cv_folds, shuffle=True, random_state=self.random_state)
        folds = list(splitter.split(X, y, groups))

        started = time.perf_counter()
        if self.params is not None:
            settings = [dict(self.params)]
        else:
            settings = list(ParameterSampler(self._search_space(), n_iter=self.n_iter, random_state=self.random_state))
        results, best = [], None

        def fit_predict(params, train, validate):
            return self._pipeline(params).fit(X.iloc[train], y[train]).predict_proba(X.iloc[validate])[:, 1]

        for params, out_of_fold in out_of_fold_search(fit_predict, settings, folds, len(y), n_jobs=self.n_jobs,
                                                      time_budget_seconds=self.time_budget_seconds):
            scored = {"params": params, "roc_auc": roc_auc(y, out_of_fold), "log_loss": log_loss(y, out_of_fold)}
            results.append(scored)
            if best is None or scored["roc_auc"] > best[0]["roc_auc"]:
                best = (scored, out_of_fold)
        self.cv_results_ = results
        self.best_params_ = best[0]["params"]
        self.search_seconds_ = time.perf_counter() - started

        method = self.calibration
        if method == "auto":
            method = "isotonic" if len(y) >= ISOTONIC_MIN_SAMPLES else "sigmoid"
        self.calibration_method_ = method
        # ensemble=False: the calibrator learns from out-of-fold scores on the same grouped folds, and the
        # classifier is refit once on every row
        self.model_ = CalibratedClassifierCV(self._pipeline(self.best_params_), method=method, cv=folds, ensemble=False,
                                             n_jobs=self.n_jobs)
        with parallel_config(backend="threading"):
            self.model_.fit(X, y)
        calibrator = self.model_.calibrated_classifiers_[0].calibrators[0]
        self.threshold_ = best_f1_threshold(y, np.clip(calibrator.predict(best[1]), 0.0, 1.0))
        self.classes_ = self.model_.classes_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def pipeline_(self) -> Pipeline:
        """The uncalibrated preprocessing + estimator pipeline refit on every training row."""
        check_is_fitted(self, "model_")
        return self.model_.calibrated_classifiers_[0].estimator

    def predict_proba(self, X):
        """Calibrated probabilities, shape (n_samples, 2): columns for classes 0 and 1."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X)

    def predict(self, X):
        """1 where the calibrated probability reaches threshold_, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)
