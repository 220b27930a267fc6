"""A time-bounded search over parameter settings: out-of-fold predictions of each, fold fits side by side on threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from joblib import Parallel, delayed

__all__ = ["out_of_fold_search"]


def out_of_fold_search(fit_predict: Callable[[dict, np.ndarray, np.ndarray], np.ndarray],
                       settings: Sequence[dict], folds: Sequence[tuple[np.ndarray, np.ndarray]], n_samples: int,
                       *, n_jobs: int = 1,
                       time_budget_seconds: float = float("inf")) -> Iterator[tuple[dict, np.ndarray]]:
    """Yield (params, n_samples out-of-fold predictions) per setting, in the order of `settings`.

    `fit_predict(params, train, validate)` fits on the rows `train` and returns predictions for `validate`.
    Settings are evaluated `n_jobs` at a time, every (setting, fold) pair one task on `n_jobs` threads:
    LightGBM releases the GIL while it trains, and each task fits a model of its own, so the predictions do
    not depend on n_jobs. The estimators must all train on the same number of threads (ours: one), as
    LightGBM asks of jobs run side by side (a `num_threads` that changes between concurrent fits is
    documented to cause errors). No new batch starts once `time_budget_seconds` have passed since the first
    began; the first batch always runs.
    """
    started = time.perf_counter()
    for first in range(0, len(settings), n_jobs):
        if first and time.perf_counter() - started > time_budget_seconds:
            return
        batch = settings[first:first + n_jobs]
        predictions = iter(Parallel(n_jobs=n_jobs, backend="threading")(
            delayed(fit_predict)(params, train, validate) for params in batch for train, validate in folds))
        for params in batch:
            out_of_fold = np.empty(n_samples)
            for _, validate in folds:
                out_of_fold[validate] = next(predictions)
            yield params, out_of_fold
