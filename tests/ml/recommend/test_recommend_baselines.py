"""Baseline recommenders on hand-built data whose right answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.recommend.baselines import (
    CategoryAffinityPopularity,
    GPTopFrequency,
    ImplicitALS,
    ItemKNN,
    PersonalTopFrequency,
    PopularityRecommender,
)

from recommend_helpers import DAY0, interactions, products, two_communities

# distinct buyers: p1 4, p3 3, p2 2, p5 1 (inactive); p4 only viewed; p6 in the catalogue, never touched
SHOP = interactions([
    ("c1", "p1", "purchase", 1), ("c1", "p1", "purchase", 2), ("c1", "p1", "purchase", 3), ("c1", "p2", "purchase", 10),
    ("c2", "p1", "purchase", 5), ("c2", "p3", "purchase", 6),
    ("c3", "p1", "purchase", 4), ("c3", "p3", "purchase", 7), ("c3", "p2", "purchase", 8), ("c3", "p4", "view", 9),
    ("c4", "p5", "purchase", 2), ("c4", "p3", "purchase", 3), ("c4", "p1", "purchase", 11),
])
CATALOGUE = products(["p1", "p2", "p3", "p4", "p5", "p6"], inactive={"p5"})
AS_OF = DAY0 + pd.Timedelta(days=12)


def lists(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {c: g.sort_values("rank")["product_id"].tolist() for c, g in frame.groupby("customer_id")}


def test_popularity_ranks_by_distinct_buyers_and_skips_inactive_and_unbought_products():
    model = PopularityRecommender().fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    result = model.recommend(["c1", "stranger"], k=5)
    assert lists(result) == {"c1": ["p1", "p3", "p2"], "stranger": ["p1", "p3", "p2"]}
    assert list(result.columns) == ["customer_id", "rank", "product_id", "score"]
    assert result.loc[result["customer_id"] == "c1", "score"].tolist() == [4.0, 3.0, 2.0]


def test_trending_popularity_counts_only_the_recent_window():
    # from day 9 on only p2 (c1, day 10) and p1 (c4, day 11) sold, once each: ties go by catalogue order
    model = PopularityRecommender(window_days=3).fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    assert lists(model.recommend(["c2"], k=5)) == {"c2": ["p1", "p2"]}


def test_personal_top_frequency_lists_only_the_customers_own_purchases():
    model = PersonalTopFrequency().fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    assert lists(model.recommend(["c1", "c3"], k=5)) == {"c1": ["p1", "p2"], "c3": ["p2", "p3", "p1"]}
    # a viewed product is not a purchase; an unknown customer gets nothing
    assert model.recommend(["stranger"], k=5).empty


def test_recency_decay_lets_a_recent_purchase_beat_old_frequent_ones():
    # c1 bought p1 three times 9-11 days ago and p2 once 2 days ago: a 1-day half-life puts p2 first
    model = PersonalTopFrequency(recency_half_life_days=1).fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    assert lists(model.recommend(["c1"], k=5)) == {"c1": ["p2", "p1"]}


def test_repeated_lines_of_one_order_count_as_one_purchase():
    # p2 on three lines of one order (same time) against p1 in two orders
    shop = interactions([("c1", "p2", "purchase", 1)] * 3 + [("c1", "p1", "purchase", 1), ("c1", "p1", "purchase", 2)])
    assert lists(PersonalTopFrequency().fit(shop).recommend(["c1"], k=2)) == {"c1": ["p1", "p2"]}


def test_gp_top_frequency_fills_with_popularity_and_respects_exclusions():
    model = GPTopFrequency().fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    assert lists(model.recommend(["c1"], k=5)) == {"c1": ["p1", "p2", "p3"]}
    assert lists(model.recommend(["stranger"], k=2)) == {"stranger": ["p1", "p3"]}
    excluded = pd.DataFrame({"customer_id": ["c1"], "product_id": ["p1"]})
    # c2 bought p1 and p3 once each: the later purchase (p3) breaks the tie
    assert lists(model.recommend(["c1", "c2"], k=5, exclude=excluded)) == {"c1": ["p2", "p3"], "c2": ["p3", "p1", "p2"]}


def test_ranks_are_contiguous_and_k_caps_the_list():
    result = GPTopFrequency().fit(SHOP, products=CATALOGUE, as_of=AS_OF).recommend(["c1", "c2", "c3", "c4"], k=2)
    assert result.groupby("customer_id")["rank"].apply(list).tolist() == [[1, 2]] * 4


@pytest.mark.parametrize("model", [ItemKNN(neighbours=5), ImplicitALS(factors=4, iterations=10, random_state=0)])
def test_collaborative_models_keep_communities_apart(model):
    data = two_communities()
    model.fit(data)
    result = model.recommend(["a0", "b0"], k=4)
    by_customer = lists(result)
    assert all(p.startswith("a-") for p in by_customer["a0"]), by_customer
    assert all(p.startswith("b-") for p in by_customer["b0"]), by_customer


def test_item_knn_recommends_products_bought_with_the_customers_products():
    model = ItemKNN(neighbours=10).fit(SHOP, products=CATALOGUE, as_of=AS_OF)
    recommended = lists(model.recommend(["c2"], k=6))["c2"]
    # p2 was bought with p1 and p3; p6 was never bought with anything; p5 is inactive
    assert "p2" in recommended and "p6" not in recommended and "p5" not in recommended
    similarity = model.similarity_.toarray()
    assert (similarity.diagonal() == 0).all()


def test_item_knn_uses_event_weights_so_views_can_count_or_not():
    viewers = interactions([("c1", "x", "purchase", 1), ("c1", "y", "view", 1), ("c2", "x", "purchase", 2)])
    with_views = ItemKNN().fit(viewers).recommend(["c2"], k=3)
    without_views = ItemKNN(event_weights={"view": 0.0}).fit(viewers).recommend(["c2"], k=3)
    assert "y" in lists(with_views)["c2"]
    assert "y" not in lists(without_views).get("c2", [])


def test_implicit_als_is_reproducible_with_a_random_state():
    data = two_communities(seed=3)
    first = ImplicitALS(factors=8, random_state=7).fit(data).recommend(["a1", "b2"], k=5)
    second = ImplicitALS(factors=8, random_state=7).fit(data).recommend(["a1", "b2"], k=5)
    pd.testing.assert_frame_equal(first, second)


def test_implicit_als_never_lists_inactive_or_untrained_products():
    data = two_communities()
    catalogue = products(sorted(set(data["product_id"])) + ["never-sold"], inactive={"a-item0"})
    result = ImplicitALS(factors=4).fit(data, products=catalogue).recommend(["a0", "a1", "a2"], k=10)
    assert not result["product_id"].isin(["a-item0", "never-sold"]).any()


def test_category_affinity_recommends_popular_products_of_the_customers_categories():
    catalogue = products(["s1", "s2", "b1", "b2"], categories={"s1": "shoes", "s2": "shoes", "b1": "books", "b2": "books"})
    shop = interactions([
        ("fan", "s1", "view", 1), ("fan", "s1", "purchase", 2),
        ("x", "s2", "purchase", 1), ("y", "s2", "purchase", 1), ("z", "b1", "purchase", 1), ("w", "b1", "purchase", 1),
        ("v", "b1", "purchase", 1), ("u", "b2", "purchase", 1),
    ])
    model = CategoryAffinityPopularity().fit(shop, products=catalogue)
    assert lists(model.recommend(["fan"], k=4)) == {"fan": ["s2", "s1"]}


def test_interactions_at_or_after_as_of_are_refused():
    with pytest.raises(ValueError, match="before as_of"):
        PopularityRecommender().fit(SHOP, as_of=DAY0 + pd.Timedelta(days=5))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (PersonalTopFrequency(recency_half_life_days=0), "recency_half_life_days"),
        (PopularityRecommender(window_days=-1), "window_days"),
        (ItemKNN(neighbours=0), "neighbours"),
        (ImplicitALS(factors=0), "factors"),
    ],
)
def test_invalid_parameters_raise_clear_errors(model, message):
    with pytest.raises(ValueError, match=message):
        model.fit(SHOP)


def test_recommend_before_fit_and_bad_k_are_refused():
    with pytest.raises(ValueError, match="not fitted"):
        PopularityRecommender().recommend(["c1"])
    with pytest.raises(ValueError, match="k must be"):
        PopularityRecommender().fit(SHOP).recommend(["c1"], k=0)


def test_sparse_candidate_lists_equal_scoring_the_whole_catalogue():
    """Sparse recommenders list candidates without scoring every product; the top-k must be the dense one,
    ties going to the lower catalogue position, with exclusions and inactive products honoured."""
    from ml.recommend.baselines import CategoryAffinityPopularity, ImplicitALS, ItemKNN, PersonalTopFrequency, PopularityRecommender
    from ml.recommend.cold_start import NewProductRecommender, SegmentPopularity

    from recommend_helpers import synthetic_shop

    shop, catalogue, people = synthetic_shop(customers=80, seed=3)
    catalogue = catalogue.assign(created_at=pd.Timestamp("2023-01-01"))
    catalogue = pd.concat([catalogue, catalogue.tail(3).assign(product_id=["n1", "n2", "n3"], is_active=True)], ignore_index=True)
    customers = sorted(shop["customer_id"].unique())[:50] + ["stranger"]
    exclude = pd.DataFrame({"customer_id": customers[:10], "product_id": ["p05", "p06", "p07", "p08", "p09"] * 2})
    models = [PopularityRecommender(window_days=30), PersonalTopFrequency(recency_half_life_days=30), ItemKNN(neighbours=5),
              ImplicitALS(factors=8, iterations=3), CategoryAffinityPopularity(), NewProductRecommender(),
              SegmentPopularity(min_segment_buyers=5)]
    for model in models:
        model.fit(shop, products=catalogue, customers=people)
        assert model._SPARSE
        sparse_lists = model.recommend(customers, k=7, exclude=exclude)
        model._SPARSE = False
        dense_lists = model.recommend(customers, k=7, exclude=exclude)
        pd.testing.assert_frame_equal(sparse_lists, dense_lists, obj=type(model).__name__)
        assert "p29" not in set(sparse_lists["product_id"])
        assert not sparse_lists.merge(exclude).shape[0]
