"""The shared search loop: out-of-fold predictions in the order of the settings, and the time budget
stopping between batches, never inside one."""

from __future__ import annotations

import time

import numpy as np

from ml.models.search import out_of_fold_search

FOLDS = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]


def _predict_setting_and_row(params, train, validate):
    # each validated row gets 10 x the setting's id + its own index: the assembly can be checked exactly
    return 10.0 * params["id"] + validate


def test_each_setting_gets_its_own_out_of_fold_predictions_in_order_whatever_n_jobs():
    settings = [{"id": 1}, {"id": 2}, {"id": 3}]
    for n_jobs in (1, 2):
        found = list(out_of_fold_search(_predict_setting_and_row, settings, FOLDS, 4, n_jobs=n_jobs))
        assert [params for params, _ in found] == settings
        for params, out_of_fold in found:
            np.testing.assert_array_equal(out_of_fold, 10.0 * params["id"] + np.arange(4))


def test_the_budget_stops_between_batches_and_the_first_batch_always_runs():
    def slow(params, train, validate):
        time.sleep(0.05)
        return _predict_setting_and_row(params, train, validate)

    settings = [{"id": i} for i in range(6)]
    assert len(list(out_of_fold_search(slow, settings, FOLDS, 4, n_jobs=1, time_budget_seconds=0.01))) == 1
    assert len(list(out_of_fold_search(slow, settings, FOLDS, 4, n_jobs=2, time_budget_seconds=0.01))) == 2
    assert len(list(out_of_fold_search(slow, settings, FOLDS, 4, n_jobs=2))) == 6
