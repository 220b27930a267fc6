"""The daily refresh: candidate sources refitted on newer interactions, iALS warm-started from yesterday's
factors so that a few sweeps replace a full fit."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from ml.recommend.baselines import ImplicitALS, _carried_factors, prepare_interactions
from ml.recommend.two_stage import CandidateGenerator, TwoStageRecommender

from recommend_helpers import DAY0, synthetic_shop

FAST = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "n_jobs": 1, "random_state": 0}


def test_carried_factors_keep_known_ids_rows_and_start_new_ids_small():
    previous = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    carried = _carried_factors(previous, pd.Index(["a", "b", "c"]), pd.Index(["c", "new", "a"]), 2,
                               np.random.default_rng(0))
    assert carried.dtype == np.float32
    np.testing.assert_array_equal(carried[[0, 2]], previous[[2, 0]])
    assert (np.abs(carried[1]) <= 0.01).all()


def _purchase_recall(generator: CandidateGenerator, shop: pd.DataFrame, start, end) -> float:
    future = shop[(shop["interacted_at"] >= start) & (shop["interacted_at"] < end) & (shop["interaction_type"] == "purchase")]
    future = future[future["customer_id"].isin(set(generator.customer_index_))]
    truth = set(zip(future["customer_id"], future["product_id"]))
    candidates = generator.generate(sorted({c for c, _ in truth}))
    return sum(pair in truth for pair in zip(candidates["customer_id"], candidates["product_id"])) / len(truth)


def test_a_warm_started_ials_refresh_finds_the_next_purchases_as_well_as_a_full_refit():
    shop, catalogue, _ = synthetic_shop(customers=200, days=150, seed=3)
    yesterday, today = DAY0 + pd.Timedelta(days=120), DAY0 + pd.Timedelta(days=127)

    def fitted(as_of, previous=None):
        prepared = prepare_interactions(shop[shop["interacted_at"] < as_of], products=catalogue, as_of=as_of)
        return CandidateGenerator({"als": 5}, num_threads=1, als_refresh_iterations=2).fit_prepared(
            prepared, products=catalogue, previous=previous)

    previous = fitted(yesterday)
    full, warm = fitted(today), fitted(today, previous=previous)
    end = today + pd.Timedelta(days=14)
    full_recall, warm_recall = _purchase_recall(full, shop, today, end), _purchase_recall(warm, shop, today, end)
    assert full_recall > 0.3
    assert warm_recall >= full_recall - 0.03
    # the refreshed model does not carry yesterday's along (artifacts would otherwise grow every day)
    als = warm.sources_["als"]
    assert "_warm_start" not in als.__dict__
    assert len(pickle.dumps(als)) < 1.5 * len(pickle.dumps(full.sources_["als"]))


def test_a_warm_start_from_a_model_of_another_size_is_a_full_fit():
    shop, catalogue, _ = synthetic_shop(customers=60, seed=1)
    prepared = prepare_interactions(shop, products=catalogue)
    other = ImplicitALS(factors=8, num_threads=1).fit_prepared(prepared, products=catalogue)
    full = ImplicitALS(factors=16, num_threads=1).fit_prepared(prepared, products=catalogue)
    warm = ImplicitALS(factors=16, num_threads=1).warm_started_fit(prepared, other, 2, products=catalogue)
    np.testing.assert_allclose(warm.user_factors_, full.user_factors_)
    with pytest.raises(ValueError, match="iterations"):
        ImplicitALS(factors=16).warm_started_fit(prepared, full, 0)


def test_refresh_warm_starts_ials_unless_told_to_refit_it_in_full():
    shop, catalogue, people = synthetic_shop(customers=120, days=130, seed=2)
    trained_as_of, today = DAY0 + pd.Timedelta(days=100), DAY0 + pd.Timedelta(days=110)
    history = shop[shop["interacted_at"] < today]
    scores = {}
    for iterations in (2, None):
        model = TwoStageRecommender(als_refresh_iterations=iterations, **FAST).fit(
            shop[shop["interacted_at"] < trained_as_of], products=catalogue, customers=people, as_of=trained_as_of)
        model.refresh(history, products=catalogue, customers=people, as_of=today)
        assert model.as_of_ == today and model.generator_.customer_index_.isin(history["customer_id"]).all()
        scores[iterations] = model.generator_.sources_["als"].user_factors_
    cold = ImplicitALS(num_threads=1, random_state=0).fit(history, products=catalogue, as_of=today)
    np.testing.assert_allclose(scores[None], cold.user_factors_)  # None: exactly a fresh fit
    assert not np.allclose(scores[2], cold.user_factors_)
    with pytest.raises(ValueError, match="als_refresh_iterations"):
        TwoStageRecommender(als_refresh_iterations=0, **FAST).fit(shop, products=catalogue, customers=people)
