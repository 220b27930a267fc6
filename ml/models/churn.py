"""Churn: will a customer active in the prior year place no purchase order in the next H days?"""

from __future__ import annotations

from scipy.stats import loguniform, randint, uniform

from ml.models.tuned import TunedCalibratedClassifier

__all__ = ["ChurnClassifier"]


class ChurnClassifier(TunedCalibratedClassifier):
    """Tuned, calibrated churn classifier: LightGBM (default) or a random forest.

    Parameters
    ----------
    algorithm : {"lightgbm", "random_forest"}, default="lightgbm"
    n_iter, cv_folds, time_budget_seconds, calibration, n_jobs, random_state, imputation, params
        See ml.models.tuned.TunedCalibratedClassifier. Classes are weighted ("balanced"), never oversampled.
    """

    def __init__(self, *, algorithm="lightgbm", n_iter=6, cv_folds=3, time_budget_seconds=120.0, calibration="auto",
                 n_jobs=1, random_state=0, imputation="median", params=None):
        super().__init__(n_iter=n_iter, cv_folds=cv_folds, time_budget_seconds=time_budget_seconds,
                         calibration=calibration, n_jobs=n_jobs, random_state=random_state, imputation=imputation,
                         params=params)
        self.algorithm = algorithm

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.algorithm not in ("lightgbm", "random_forest"):
            raise ValueError(f"algorithm must be 'lightgbm' or 'random_forest', got {self.algorithm!r}")

    def _make_estimator(self):
        if self.algorithm == "lightgbm":
            return lightgbm_classifier(random_state=self.random_state)
        from sklearn.ensemble import RandomForestClassifier

        # one thread per forest: n_jobs fits run side by side instead (see TunedCalibratedClassifier)
        return RandomForestClassifier(n_estimators=200, class_weight="balanced_subsample", n_jobs=1,
                                      random_state=self.random_state)

    def _search_space(self) -> dict:
        if self.algorithm == "lightgbm":
            return LIGHTGBM_SEARCH_SPACE
        return {"max_depth": [6, 10, 16, None], "min_samples_leaf": randint(5, 60), "max_features": uniform(0.2, 0.6)}


#: Small trees and strong leaves: a few thousand customers x a dozen as-of dates overfit deep trees.
LIGHTGBM_SEARCH_SPACE = {
    "n_estimators": randint(100, 400),
    "learning_rate": loguniform(0.02, 0.15),
    "num_leaves": randint(7, 48),
    "min_child_samples": randint(20, 120),
    "subsample": uniform(0.6, 0.4),
    "colsample_bytree": uniform(0.5, 0.5),
    "reg_lambda": loguniform(1e-3, 10.0),
}


def lightgbm_classifier(*, random_state: int):
    """LGBMClassifier with balanced class weights, row subsampling on every iteration, one thread (fits run
    side by side instead: see TunedCalibratedClassifier's n_jobs), and no chatter."""
    # imported here: lightgbm takes ~1.6 s to import and the CLI must not pay for it
    from lightgbm import LGBMClassifier

    return LGBMClassifier(class_weight="balanced", subsample_freq=1, n_jobs=1, random_state=random_state,
                          verbose=-1)
