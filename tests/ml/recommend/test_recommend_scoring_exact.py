"""The shortcuts of batch scoring give exactly what the plain computations give: per-position top-k on
grouped entries, the coded candidate merge, features from codes, and the ranker fed block by block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ml.recommend.two_stage as two_stage
from ml.recommend.baselines import first_k
from ml.recommend.data import with_weights
from ml.recommend.two_stage import TwoStageRecommender, merge_candidates

from recommend_helpers import DAY0, synthetic_shop


def reference_first_k(position, item, score, k):
    order = np.lexsort((item, -score, position))
    position, item, score = position[order], item[order], score[order]
    starts = np.flatnonzero(np.r_[True, position[1:] != position[:-1]])
    rank = np.arange(len(position)) - np.repeat(starts, np.diff(np.r_[starts, len(position)]))
    keep = rank < k
    return position[keep], item[keep], score[keep]


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_first_k_equals_a_full_sort_whatever_the_ties_and_list_lengths(grouped, k):
    rng = np.random.default_rng(k)
    # positions with 1 to 200 entries (some far above k, so the k-th best prefilter runs), many equal scores
    lengths = rng.integers(1, 200, size=60)
    position = np.repeat(np.arange(60), lengths)
    item = rng.permutation(len(position))
    item[::7] = item[1::7][: len(item[::7])]  # repeated items within a position too
    score = np.round(rng.random(len(position)) * 5) / 5
    if not grouped:
        shuffle = rng.permutation(len(position))
        position, item, score = position[shuffle], item[shuffle], score[shuffle]
    for got, want in zip(first_k(position, item, score, k), reference_first_k(position, item, score, k)):
        np.testing.assert_array_equal(got, want)


def reference_merge(proposals):
    rows = []
    for source, frame in proposals.items():
        best = frame.sort_values("rank", kind="stable").drop_duplicates(["customer_id", "product_id"])
        rows.append(best.assign(source=source))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("repeats", [True, False])
def test_merge_equals_a_pandas_merge_of_random_proposals(repeats):
    rng = np.random.default_rng(3)
    proposals = {}
    for source in ("repeat", "als", "trending"):
        size = 400
        proposals[source] = pd.DataFrame({
            "customer_id": [f"c{c}" for c in rng.integers(0, 30, size)],
            "product_id": [f"p{p}" for p in rng.integers(0, 40, size)],  # repeats: a source may list a product twice
            "rank": rng.integers(1, 50, size), "score": rng.random(size),
        })
        if not repeats:
            proposals[source] = proposals[source].drop_duplicates(["customer_id", "product_id"])
    merged = merge_candidates(proposals)
    want = reference_merge(proposals)
    assert list(zip(merged["customer_id"], merged["product_id"])) == sorted(set(zip(want["customer_id"], want["product_id"])))
    for source in proposals:
        mine = want[want["source"] == source].set_index(["customer_id", "product_id"])
        got = merged.set_index(["customer_id", "product_id"])
        np.testing.assert_array_equal(got[f"{source}_rank"].reindex(mine.index).to_numpy(), mine["rank"].to_numpy(dtype=float))
        np.testing.assert_array_equal(got[f"{source}_score"].reindex(mine.index).to_numpy(), mine["score"].to_numpy())
        assert got[f"{source}_rank"].notna().sum() == len(mine)
    counts = want.groupby(["customer_id", "product_id"]).size()
    np.testing.assert_array_equal(merged["n_sources"].to_numpy(), counts.to_numpy())
    assert merged["sources"].str.count(r"\+").add(1).tolist() == merged["n_sources"].tolist()


@pytest.fixture(scope="module")
def scored():
    events, catalogue, people = synthetic_shop(customers=80, seed=5)
    cutoff = DAY0 + pd.Timedelta(days=100)
    model = TwoStageRecommender(per_source={"repeat": 10, "als": 10, "item_knn": 10, "category": 5, "trending": 5,
                                            "new_product": 3},
                                max_customers_per_window=100, n_estimators=20, num_leaves=7, min_child_samples=5)
    model.fit(with_weights(events[events["interacted_at"] < cutoff]), products=catalogue, customers=people, as_of=cutoff)
    return model


def test_features_from_codes_equal_features_from_id_strings(scored):
    customers = [f"c{c:03d}" for c in range(0, 80, 3)]
    merged, codes = scored.generator_._generate_coded(customers)
    assert codes is not None
    context = scored._feature_context({})
    pd.testing.assert_frame_equal(context.features(merged, codes=codes), context.features(merged))


def test_the_ranker_fed_block_by_block_scores_as_on_the_whole_frame(scored, monkeypatch):
    assert scored.ranker_ is not None
    merged = scored.generator_.generate([f"c{c:03d}" for c in range(80)])
    features = scored._feature_context({}).features(merged)
    whole = scored.ranker_.predict(features[scored.feature_columns_].astype(float))
    monkeypatch.setattr(two_stage, "RANKER_ROWS_PER_BLOCK", 7)  # many blocks and a short last one
    np.testing.assert_array_equal(scored._rank(features), whole)
