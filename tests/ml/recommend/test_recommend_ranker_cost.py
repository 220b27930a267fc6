"""What bounds the ranker's scoring cost: early stopping chooses its trees on the latest training window, and
each customer's candidates are capped by reciprocal-rank fusion before ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.recommend.data import split_at_cutoff, with_weights
from ml.recommend.two_stage import TwoStageRecommender, cap_candidates

from recommend_helpers import DAY0, synthetic_shop

SMALL_SOURCES = {"repeat": 10, "als": 10, "item_knn": 10, "category": 5, "trending": 5, "new_product": 3}
# a fast learning rate saturates the small shop's validation NDCG within a few trees
QUICK = {"per_source": SMALL_SOURCES, "max_customers_per_window": 100, "num_leaves": 7, "min_child_samples": 5,
         "learning_rate": 0.3, "n_jobs": 1, "random_state": 0}


def candidates(rows):
    """(customer_id, product_id, repeat_rank, als_rank) rows as a merged-candidates frame."""
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "repeat_rank", "als_rank"]).assign(n_sources=1)


def test_cap_keeps_each_customers_best_fused_candidates_in_their_original_order():
    frame = candidates([
        ("c1", "p1", 3.0, np.nan),  # 1/3
        ("c1", "p2", np.nan, 1.0),  # 1
        ("c1", "p3", 2.0, 4.0),  # 1/2 + 1/4: best two are p2 and p3
        ("c1", "p4", np.nan, 5.0),
        ("c2", "p1", 1.0, np.nan),  # c2 has fewer than the cap: all kept
    ])
    capped = cap_candidates(frame, 2)
    assert list(zip(capped["customer_id"], capped["product_id"])) == [("c1", "p2"), ("c1", "p3"), ("c2", "p1")]
    assert list(capped.columns) == list(frame.columns)
    assert cap_candidates(frame, None) is frame and len(cap_candidates(frame, 10)) == len(frame)


def test_cap_breaks_fusion_ties_by_product_id_whatever_the_row_order():
    frame = candidates([("c1", "p3", 1.0, np.nan), ("c1", "p1", np.nan, 1.0), ("c1", "p2", 1.0, np.nan)])
    assert cap_candidates(frame, 2)["product_id"].tolist() == ["p1", "p2"]
    assert cap_candidates(frame.iloc[::-1], 2)["product_id"].tolist() == ["p2", "p1"]


def test_cap_refuses_a_cap_below_one():
    with pytest.raises(ValueError, match="max_candidates"):
        cap_candidates(candidates([("c1", "p1", 1.0, np.nan)]), 0)


@pytest.fixture(scope="module")
def split():
    events, catalogue, people = synthetic_shop(customers=150, seed=1)
    cutoff = DAY0 + pd.Timedelta(days=100)
    train, _ = split_at_cutoff(events, cutoff, 14)
    return with_weights(train), catalogue, people, cutoff


def fit(split, **options):
    train, catalogue, people, cutoff = split
    return TwoStageRecommender(**{**QUICK, **options}).fit(train, products=catalogue, customers=people, as_of=cutoff)


def test_early_stopping_keeps_fewer_trees_than_the_cap_and_is_deterministic(split):
    first = fit(split, n_estimators=200, early_stopping_rounds=5)
    assert 1 <= first.best_iteration_ < 200
    assert first.ranker_.booster_.num_trees() == first.best_iteration_  # refitted on every window with that many
    assert 0 < first.validation_ndcg_ <= 1 and "early_stopping" in first.training_seconds_
    second = fit(split, n_estimators=200, early_stopping_rounds=5)
    assert second.best_iteration_ == first.best_iteration_
    customers = sorted(split[0]["customer_id"].unique())[:30]
    pd.testing.assert_frame_equal(first.recommend(customers, 10), second.recommend(customers, 10))


def test_without_early_stopping_or_a_second_window_every_tree_is_trained(split):
    off = fit(split, n_estimators=12, early_stopping_rounds=None)
    one_window = fit(split, n_estimators=12, early_stopping_rounds=5, training_windows=1)
    for model in (off, one_window):
        assert model.best_iteration_ is None and model.ranker_.booster_.num_trees() == 12


def test_capped_model_ranks_exactly_the_capped_candidates_and_fills_the_rest_from_popularity(split):
    model = fit(split, n_estimators=10, early_stopping_rounds=None, max_candidates=4)
    customers = sorted(split[0]["customer_id"].unique())[:30]
    lists = model.recommend(customers, 10)
    assert lists.groupby("customer_id").size().eq(10).all()
    capped = cap_candidates(model.generator_.generate(customers), 4)
    for customer, kept in capped.groupby("customer_id"):
        listed = lists[lists["customer_id"] == customer].sort_values("rank")
        assert set(listed["product_id"].head(len(kept))) == set(kept["product_id"])
    # training queries were capped the same way
    assert model.training_rows_ <= 4 * model.training_queries_
