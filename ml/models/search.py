"""Cross-validated predictions of several parameter settings, their fold fits side by side on threads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed

__all__ = ["out_of_fold_predictions"]


def out_of_fold_predictions(fit_predict: Callable[[dict, np.ndarray, np.ndarray], np.ndarray],
                            settings: Sequence[dict], folds: Sequence[tuple[np.ndarray, np.ndarray]], n_samples: int,
                            *, n_jobs: int = 1) -> list[np.ndarray]:
    """One array of n_samples out-of-fold predictions per setting, in the order of `settings`.

    `fit_predict(params, train, validate)` fits on the rows `train` and returns predictions for `validate`.
    Every (setting, fold) pair is one task on `n_jobs` threads: LightGBM releases the GIL while it trains,
    and each task fits a model of its own, so the result does not depend on n_jobs. The estimators must all
    train on the same number of threads (ours: one), as LightGBM asks of jobs run side by side (a
    `num_threads` that changes between concurrent fits is documented to cause errors).
    """
    predictions = iter(Parallel(n_jobs=n_jobs, backend="threading")(
        delayed(fit_predict)(params, train, validate) for params in settings for train, validate in folds))
    scores = []
    for _ in settings:
        out_of_fold = np.empty(n_samples)
        for _, validate in folds:
            out_of_fold[validate] = next(predictions)
        scores.append(out_of_fold)
    return scores
