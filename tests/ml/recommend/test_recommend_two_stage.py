"""Two-stage model: candidate merge, features from the past only, ranker trained on past windows, reasons."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.recommend.baselines import PopularityRecommender
from ml.recommend.data import RecommendationData, split_at_cutoff, with_weights
from ml.recommend.evaluation import evaluate_recommenders
from ml.recommend.two_stage import CandidateGenerator, TwoStageRecommender, candidate_features, merge_candidates

from recommend_helpers import DAY0, interactions, products, synthetic_shop

FAST = {"n_estimators": 30, "num_leaves": 7, "min_child_samples": 5, "n_jobs": 1, "random_state": 0}
SMALL_SOURCES = {"repeat": 10, "als": 10, "item_knn": 10, "category": 5, "trending": 5, "new_product": 3}


def proposal(rows):
    return pd.DataFrame(rows, columns=["customer_id", "rank", "product_id", "score"])


def test_merge_keeps_one_row_per_candidate_with_every_proposing_sources_score_and_rank():
    merged = merge_candidates({
        "repeat": proposal([("c1", 1, "p1", 3.0), ("c1", 2, "p2", 1.0)]),
        "als": proposal([("c1", 1, "p2", 0.9), ("c1", 2, "p3", 0.5), ("c2", 1, "p1", 0.7)]),
    }).set_index(["customer_id", "product_id"]).sort_index()
    assert list(merged.index) == [("c1", "p1"), ("c1", "p2"), ("c1", "p3"), ("c2", "p1")]
    row = merged.loc[("c1", "p2")]
    assert (row["repeat_score"], row["repeat_rank"], row["als_score"], row["als_rank"]) == (1.0, 2.0, 0.9, 1.0)
    assert row["n_sources"] == 2 and row["sources"] == "repeat+als"
    assert pd.isna(merged.loc[("c1", "p3"), "repeat_rank"]) and merged.loc[("c1", "p3"), "sources"] == "als"


def test_merge_keeps_a_sources_best_rank_when_it_repeats_a_product():
    merged = merge_candidates({"repeat": proposal([("c1", 3, "p1", 1.0), ("c1", 1, "p1", 5.0)])})
    assert len(merged) == 1 and merged.loc[0, "repeat_rank"] == 1.0 and merged.loc[0, "repeat_score"] == 5.0


def test_merge_refuses_a_malformed_source():
    with pytest.raises(ValueError, match="lacks columns"):
        merge_candidates({"repeat": pd.DataFrame({"customer_id": ["c1"], "product_id": ["p1"]})})


def test_candidates_are_unique_bounded_and_never_inactive():
    shop, catalogue, _ = synthetic_shop(customers=60)
    generator = CandidateGenerator(SMALL_SOURCES, num_threads=1).fit(shop, products=catalogue)
    candidates = generator.generate(["c000", "c001", "c002"])
    assert not candidates.duplicated(["customer_id", "product_id"]).any()
    assert candidates.groupby("customer_id").size().max() <= sum(SMALL_SOURCES.values())
    assert "p29" not in set(candidates["product_id"])
    # the repeat source proposes exactly the customer's purchased products
    bought = set(shop.loc[(shop["customer_id"] == "c000") & (shop["interaction_type"] == "purchase"), "product_id"])
    repeat = candidates[(candidates["customer_id"] == "c000") & candidates["repeat_rank"].notna()]
    assert set(repeat["product_id"]) <= bought and len(repeat) == min(len(bought - {"p29"}), 10)


def test_features_count_the_customers_history_before_as_of():
    history = interactions([
        ("c1", "p1", "purchase", 1), ("c1", "p1", "purchase", 1), ("c1", "p1", "purchase", 8), ("c1", "p1", "view", 9),
        ("c1", "p2", "cart", 5), ("c2", "p1", "purchase", 9),
    ])
    catalogue = products(["p1", "p2"], categories={"p1": "a", "p2": "a"}, prices={"p1": 10.0, "p2": 30.0})
    candidates = pd.DataFrame({"customer_id": ["c1", "c1"], "product_id": ["p1", "p2"], "repeat_rank": [1.0, None]})
    features = candidate_features(candidates, history, products=catalogue, customer_features=None,
                                  as_of=DAY0 + pd.Timedelta(days=10)).set_index("product_id")
    p1, p2 = features.loc["p1"], features.loc["p2"]
    # two lines on day 1 are one purchase occasion, plus day 8
    assert (p1["pair_purchases"], p1["pair_views"], p1["pair_carts"]) == (2.0, 1.0, 0.0)
    assert p1["pair_days_since_last"] == pytest.approx(1.0) and p1["pair_days_since_last_purchase"] == pytest.approx(2.0)
    assert p2["pair_carts"] == 1.0 and pd.isna(p2["pair_days_since_last_purchase"])
    # c1 and c2 bought p1 within 7 days of day 10; p1 first seen 9 days ago
    assert (p1["item_buyers_7d"], p1["item_buyers_all"], p1["item_days_since_first"]) == (2.0, 2.0, 9.0)
    # p2 costs 30 against the median 10 paid by c1, and 1.5x its category median of 20
    assert p2["pair_price_vs_customer_median"] == pytest.approx(3.0)
    assert p2["item_price_vs_category_median"] == pytest.approx(1.5)
    assert p1["pair_category_share"] == pytest.approx(1.0)


def test_features_refuse_interactions_from_as_of_on():
    history = interactions([("c1", "p1", "purchase", 10)])
    with pytest.raises(ValueError, match="before as_of"):
        candidate_features(pd.DataFrame({"customer_id": ["c1"], "product_id": ["p1"]}), history, products=None,
                           customer_features=None, as_of=DAY0 + pd.Timedelta(days=10))


def test_snapshot_features_come_from_the_latest_as_of_date_not_after_the_cutoff():
    history = interactions([("c1", "p1", "purchase", 1)])
    snapshot = pd.DataFrame({"customer_id": ["c1", "c1", "c1"], "top_category": ["a", "b", "c"],
                             "as_of_date": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-01-20"]),
                             "purchase_orders_90d": [1.0, 2.0, 99.0]})
    catalogue = products(["p1"], categories={"p1": "b"})
    features = candidate_features(pd.DataFrame({"customer_id": ["c1"], "product_id": ["p1"]}), history,
                                  products=catalogue, customer_features=snapshot, as_of=DAY0 + pd.Timedelta(days=10))
    assert features.loc[0, "snapshot_purchase_orders_90d"] == 2.0
    assert features.loc[0, "pair_is_top_category"] == 1.0


@pytest.fixture(scope="module")
def shop():
    return synthetic_shop(customers=150, seed=1)


@pytest.fixture(scope="module")
def fitted(shop):
    events, catalogue, people = shop
    cutoff = DAY0 + pd.Timedelta(days=100)
    train, future = split_at_cutoff(events, cutoff, 14)
    model = TwoStageRecommender(per_source=SMALL_SOURCES, max_customers_per_window=100, **FAST)
    newcomer = pd.DataFrame({"customer_id": ["c_new_fr"], "country_code": ["FR"]})
    model.fit(with_weights(train), products=catalogue, customers=pd.concat([people, newcomer]), as_of=cutoff)
    return model, train, future, cutoff


def test_ranker_is_trained_on_past_windows_only(fitted):
    model, train, _, cutoff = fitted
    assert model.ranker_ is not None and model.notes_ == []
    assert model.training_queries_ > 0 and 0 < model.training_positive_rate_ < 1
    with pytest.raises(ValueError, match="before as_of"):
        TwoStageRecommender(**FAST).fit(train, as_of=cutoff - pd.Timedelta(days=1))


def test_recommendations_hold_k_distinct_active_products_with_contiguous_ranks_and_reasons(fitted):
    model, train, _, _ = fitted
    customers = sorted(train["customer_id"].unique())[:20]
    result = model.recommend(customers, k=5)
    assert list(result.columns) == ["customer_id", "rank", "product_id", "score", "reason"]
    assert result.groupby("customer_id").size().eq(5).all() and set(result["customer_id"]) == set(customers)
    assert result.groupby("customer_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    assert not result.duplicated(["customer_id", "product_id"]).any()
    assert "p29" not in set(result["product_id"])
    assert result["reason"].str.len().gt(0).all()
    # scores decrease down each list
    assert result.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_reasons_name_the_strongest_source(fitted):
    model, train, _, _ = fitted
    result = model.recommend(sorted(train["customer_id"].unique())[:30], k=10)
    allowed = ("bought before", "often bought with ", "customers with similar taste", "popular in ", "trending",
               "new, similar to ", "popular")
    assert result["reason"].map(lambda r: r.startswith(allowed)).all(), set(result["reason"])
    bought = set(zip(train.loc[train["interaction_type"] == "purchase", "customer_id"],
                     train.loc[train["interaction_type"] == "purchase", "product_id"]))
    repeat = result[result["reason"] == "bought before"]
    assert len(repeat) and all(pair in bought for pair in zip(repeat["customer_id"], repeat["product_id"]))


def test_a_customer_without_history_gets_the_popular_products_of_their_country(fitted):
    model, *_ = fitted
    # c_new_fr signed up (dim_customers) but never interacted; a stranger is not even in dim_customers
    result = model.recommend(["c_new_fr", "stranger"], k=3)
    assert result.groupby("customer_id").size().to_dict() == {"c_new_fr": 3, "stranger": 3}
    assert result.loc[result["customer_id"] == "c_new_fr", "reason"].eq("popular in FR").all()
    assert result.loc[result["customer_id"] == "stranger", "reason"].eq("popular").all()


def test_excluded_pairs_are_not_recommended(fitted):
    model, train, _, _ = fitted
    first = model.recommend(["c000"], k=3)
    excluded = first[["customer_id", "product_id"]].head(1)
    again = model.recommend(["c000"], k=3, exclude=excluded)
    assert excluded["product_id"].iloc[0] not in set(again["product_id"])


def test_two_stage_beats_popularity_on_a_shop_with_personal_taste(shop):
    events, catalogue, people = shop
    cutoff = DAY0 + pd.Timedelta(days=100)
    train, future = split_at_cutoff(events, cutoff, 14)
    data = RecommendationData(with_weights(train), with_weights(future), catalogue, people, pd.DataFrame(), cutoff, 14)
    table = evaluate_recommenders({
        "two-stage": TwoStageRecommender(per_source=SMALL_SOURCES, max_customers_per_window=100, **FAST),
        "popularity": PopularityRecommender(),
    }, data, k=5).table
    assert table.loc["two-stage", "ndcg"] > table.loc["popularity", "ndcg"] + 0.1, table


def test_a_one_product_shop_with_single_orders_still_recommends_and_says_why():
    events = interactions([(f"c{i}", "only", "purchase", i) for i in range(10)])
    catalogue = products(["only"])
    model = TwoStageRecommender(**FAST).fit(events, products=catalogue, as_of=DAY0 + pd.Timedelta(days=11))
    result = model.recommend(["c1", "stranger"], k=10)
    assert result.groupby("customer_id").size().to_dict() == {"c1": 1, "stranger": 1}
    assert (result["product_id"] == "only").all()
    assert model.notes_, "the model must say why it could not train a ranker"


def test_browsing_inside_a_label_window_does_not_change_what_the_ranker_learned(shop):
    """Leakage: a training window's features come only from before its cutoff. Views and carts added between
    the last training cutoff and as_of change no label, so the trained ranker must be exactly the same."""
    events, catalogue, people = shop
    cutoff = DAY0 + pd.Timedelta(days=100)
    train, _ = split_at_cutoff(events, cutoff, 14)
    last_window = cutoff - pd.Timedelta(days=14)
    customers = sorted(train["customer_id"].unique())[:80]
    extra = interactions([(c, f"p{i % 29:02d}", "view" if i % 2 else "cart", 90 + i % 9)
                          for i, c in enumerate(customers * 3)])
    assert extra["interacted_at"].between(last_window, cutoff, inclusive="left").all()
    models = []
    for data in (train, pd.concat([train, extra], ignore_index=True)):
        model = TwoStageRecommender(per_source=SMALL_SOURCES, max_customers_per_window=100, **FAST)
        models.append(model.fit(with_weights(data), products=catalogue, customers=people, as_of=cutoff))
    assert models[0].training_rows_ == models[1].training_rows_
    assert models[0].ranker_.booster_.model_to_string() == models[1].ranker_.booster_.model_to_string()


@pytest.mark.parametrize(("per_source", "message"), [({"psychic": 5}, "per_source keys"), ({"repeat": 0}, "at least one"),
                                                     ({"repeat": -1}, "int >= 0")])
def test_candidate_counts_are_checked(per_source, message):
    with pytest.raises(ValueError, match=message):
        CandidateGenerator(per_source).fit(interactions([("c1", "p1", "purchase", 1)]))


def test_the_optional_all_time_popular_source_proposes_best_sellers_to_everyone():
    events = interactions([("c1", "p1", "purchase", 1), ("c2", "p1", "purchase", 2), ("c2", "p2", "purchase", 3)])
    candidates = CandidateGenerator({"popular": 1}).fit(events).generate(["c1", "c2"])
    assert candidates[["customer_id", "product_id"]].values.tolist() == [["c1", "p1"], ["c2", "p1"]]
    assert candidates["sources"].eq("popular").all()


def test_a_shop_without_any_interaction_yet_fits_and_recommends_nothing_with_reasons_logged():
    empty = interactions([]).astype({"customer_id": str, "product_id": str, "interaction_type": str,
                                     "interacted_at": "datetime64[us]"})
    model = TwoStageRecommender(**FAST).fit(empty, products=products(["p1", "p2"]), as_of=DAY0)
    result = model.recommend(["c1"], k=5)
    assert result.empty and list(result.columns) == ["customer_id", "rank", "product_id", "score", "reason"]
    assert any("no training window" in note for note in model.notes_)


def test_batched_recommendations_equal_one_batch_exclusions_and_cold_start_included(fitted):
    """Scoring in batches bounds memory; it must not change a single row (fill scores use the whole call's floor)."""
    model, train, _, _ = fitted
    customers = sorted(train["customer_id"].unique())[:40] + ["c_new_fr", "stranger"]
    exclude = model.recommend(customers[:5], k=2)[["customer_id", "product_id"]]
    whole = model.recommend(customers, k=10, exclude=exclude, batch_size=10_000)
    for batch_size in (1, 7):
        pd.testing.assert_frame_equal(model.recommend(customers, k=10, exclude=exclude, batch_size=batch_size), whole)
    assert whole.groupby("customer_id").size().eq(10).all()


def test_batch_size_is_checked(fitted):
    model, *_ = fitted
    with pytest.raises(ValueError, match="batch_size"):
        model.recommend(["c000"], k=3, batch_size=0)
    with pytest.raises(ValueError, match="n_jobs"):
        model.recommend(["c000"], k=3, n_jobs=0)


def test_scoring_in_worker_processes_gives_the_same_lists(fitted):
    """n_jobs > 1 forks workers that score batches side by side (after the ranker was trained in this very
    process, as in an in-process Dagster run); every row must equal the sequential scoring."""
    model, train, _, _ = fitted
    customers = sorted(train["customer_id"].unique())[:40] + ["c_new_fr", "stranger"]
    exclude = model.recommend(customers[:5], k=2)[["customer_id", "product_id"]]
    sequential = model.recommend(customers, k=10, exclude=exclude, batch_size=7)
    parallel = model.recommend(customers, k=10, exclude=exclude, batch_size=7, n_jobs=2)
    pd.testing.assert_frame_equal(parallel, sequential)
