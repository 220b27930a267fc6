"""Ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from ml.recommend.metrics import (
    catalogue_coverage,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    recall_at_k,
    recall_by_novelty,
)

# customer 1 hits a (rank 1) and c (rank 3) of {a, c, e}; customer 2 misses z; d falls outside k = 3
RECOMMENDED = [["a", "b", "c", "d"], ["x", "y"]]
RELEVANT = [{"a", "c", "e"}, {"z"}]


def test_recall_counts_hits_over_relevant_items_per_customer():
    assert recall_at_k(RECOMMENDED, RELEVANT, k=3) == pytest.approx((2 / 3 + 0) / 2)
    # with k = 4 the extra item d is still no hit
    assert recall_at_k(RECOMMENDED, RELEVANT, k=4) == pytest.approx(1 / 3)


def test_ndcg_discounts_by_log2_of_rank_and_normalises_by_the_ideal_list():
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, k=3) == pytest.approx((dcg / ideal + 0) / 2)


def test_ndcg_ideal_holds_only_k_hits_when_more_are_relevant():
    # one relevant item at rank 1 out of 5 relevant, k = 1: a perfect list
    assert ndcg_at_k([["a", "b"]], [{"a", "b", "c", "d", "e"}], k=1) == pytest.approx(1.0)
    assert ndcg_at_k([["b", "a"]], [{"a"}], k=2) == pytest.approx(1 / math.log2(3))


def test_map_averages_precision_at_each_hit():
    assert map_at_k(RECOMMENDED, RELEVANT, k=3) == pytest.approx(((1 / 1 + 2 / 3) / 3 + 0) / 2)
    # denominator min(k, |relevant|): two hits in the first two of k = 2 is perfect
    assert map_at_k([["a", "c"]], [{"a", "c", "e"}], k=2) == pytest.approx(1.0)


def test_hit_rate_is_the_share_of_customers_with_any_hit():
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, k=3) == pytest.approx(0.5)
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx(0.5)
    assert hit_rate_at_k([["b"], ["x"]], RELEVANT, k=1) == 0.0


def test_customers_without_relevant_items_are_left_out_of_the_mean():
    assert recall_at_k(RECOMMENDED + [["q"]], RELEVANT + [set()], k=3) == pytest.approx(1 / 3)


def test_catalogue_coverage_counts_distinct_products_in_top_k():
    assert catalogue_coverage(RECOMMENDED, catalogue_size=10, k=3) == pytest.approx(5 / 10)
    assert catalogue_coverage([["a", "b"], ["b", "a"]], catalogue_size=4, k=2) == pytest.approx(0.5)


def test_recall_by_novelty_splits_repeat_from_new_items():
    split = recall_by_novelty(RECOMMENDED, RELEVANT, previously_bought=[{"a"}, set()], k=3)
    # repeat: customer 1 re-bought a and it is recommended; customer 2 has no repeat item
    assert split["repeat"] == pytest.approx(1.0)
    # new: customer 1 finds c of {c, e}, customer 2 misses z
    assert split["new"] == pytest.approx((1 / 2 + 0) / 2)


def test_recall_by_novelty_is_nan_for_a_kind_nobody_has():
    split = recall_by_novelty([["a"]], [{"a"}], previously_bought=[set()], k=1)
    assert math.isnan(split["repeat"])
    assert split["new"] == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: recall_at_k([["a"]], [{"a"}], k=0), "k must be"),
        (lambda: recall_at_k([["a"]], [{"a"}, {"b"}], k=1), "one entry per customer"),
        (lambda: recall_at_k([["a", "a"]], [{"a"}], k=2), "must not repeat"),
        (lambda: ndcg_at_k([["a"]], [set()], k=1), "at least one non-empty"),
        (lambda: catalogue_coverage([["a", "b"]], catalogue_size=1, k=2), "smaller than"),
        (lambda: catalogue_coverage([["a"]], catalogue_size=0), "catalogue_size"),
    ],
)
def test_invalid_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
