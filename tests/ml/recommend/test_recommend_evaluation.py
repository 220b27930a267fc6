"""The evaluation protocol on a hand-built split, and the loader's cut at the cutoff on a real demo warehouse."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from ml.recommend.baselines import PersonalTopFrequency, PopularityRecommender
from ml.recommend.data import (
    RecommendationData,
    default_cutoff,
    load_recommendation_data,
    split_at_cutoff,
    with_weights,
)
from ml.recommend.evaluation import evaluate_recommenders, ranking_metrics

from recommend_helpers import DAY0, interactions, products

CUTOFF = DAY0 + pd.Timedelta(days=20)
# before the cutoff: p1 bought by 3 customers, p3 by 2, p2 by 1
HISTORY = interactions([
    ("c1", "p1", "purchase", 1), ("c1", "p2", "purchase", 2),
    ("c2", "p1", "purchase", 3), ("c2", "p3", "purchase", 4),
    ("c3", "p1", "purchase", 5), ("c3", "p3", "purchase", 6),
])
# in the window: c1 re-buys p1 and tries p4; newcomer c9 buys p3
FUTURE = interactions([("c1", "p1", "purchase", 22), ("c1", "p4", "purchase", 25), ("c9", "p3", "purchase", 23)])


def split_data() -> RecommendationData:
    return RecommendationData(
        interactions=with_weights(HISTORY), future_purchases=with_weights(FUTURE),
        products=products(["p1", "p2", "p3", "p4"]), customers=pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c9"]}),
        customer_features=pd.DataFrame(), cutoff=CUTOFF, horizon_days=14,
    )


def test_protocol_scores_every_recommender_on_the_window_buyers():
    result = evaluate_recommenders({"popularity": PopularityRecommender(), "p-topfreq": PersonalTopFrequency()},
                                   split_data(), k=2)
    table = result.table
    assert result.customers == 2 and result.customers_without_history == 1
    # popularity lists [p1, p3] for all: c1 finds p1 of {p1, p4}, c9 finds p3
    assert table.loc["popularity", "recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert table.loc["popularity", "hit_rate"] == pytest.approx(1.0)
    assert table.loc["popularity", "coverage"] == pytest.approx(2 / 4)
    assert table.loc["popularity", "recall_repeat"] == pytest.approx(1.0)
    assert table.loc["popularity", "recall_new"] == pytest.approx((0 + 1) / 2)
    # c1 bought p1 and p2 once each, p2 later: [p2, p1] finds p1 of {p1, p4}; c9 has no history, no list
    assert table.loc["p-topfreq", "recall"] == pytest.approx((1 / 2 + 0) / 2)
    assert table.loc["p-topfreq", "recall_repeat"] == pytest.approx(1.0)
    assert table.loc["p-topfreq", "recall_new"] == pytest.approx(0.0)
    assert set(table.columns) >= {"recall", "ndcg", "map", "hit_rate", "coverage", "recall_repeat", "recall_new",
                                  "fit_seconds", "recommend_seconds", "customers"}


def test_ranking_metrics_match_the_metric_functions_by_hand():
    recommendations = pd.DataFrame({"customer_id": ["c1", "c1"], "rank": [1, 2], "product_id": ["p4", "p1"]})
    metrics = ranking_metrics(recommendations, FUTURE[FUTURE["customer_id"] == "c1"], HISTORY, catalogue_size=4, k=2)
    assert metrics["recall"] == 1.0 and metrics["ndcg"] == pytest.approx(1.0) and metrics["map"] == pytest.approx(1.0)
    assert metrics["coverage"] == pytest.approx(0.5)


def test_protocol_refuses_training_rows_after_the_cutoff():
    data = split_data()
    leaky = RecommendationData(**{**data.__dict__, "interactions": pd.concat([data.interactions, data.future_purchases])})
    with pytest.raises(ValueError, match="before the cutoff"):
        evaluate_recommenders({"popularity": PopularityRecommender()}, leaky)


def test_split_at_cutoff_keeps_only_earlier_rows_for_training_and_window_purchases_for_truth():
    everything = pd.concat([HISTORY, FUTURE, interactions([("c1", "p2", "view", 21), ("c2", "p2", "purchase", 40)])])
    train, future = split_at_cutoff(everything, CUTOFF, horizon_days=14)
    pd.testing.assert_frame_equal(train, HISTORY.reset_index(drop=True))
    # the view is not a purchase and day 40 lies past the 14-day window
    assert sorted(map(tuple, future[["customer_id", "product_id"]].to_numpy())) == [("c1", "p1"), ("c1", "p4"), ("c9", "p3")]


def test_event_weights_are_configurable_and_ratings_scale_by_their_value():
    frame = interactions([("c", "p", "view", 1), ("c", "p", "cart", 1), ("c", "p", "purchase", 1), ("c", "p", "rating", 1, 4.0)])
    assert with_weights(frame)["weight"].tolist() == [1.0, 3.0, 5.0, 4.0]
    assert with_weights(frame, {"purchase": 10, "rating": 0.5})["weight"].tolist() == [1.0, 3.0, 10.0, 2.0]
    with pytest.raises(ValueError, match="event_weights"):
        with_weights(frame, {"click": 1})


def test_unknown_or_missing_interaction_types_and_unrated_ratings_weigh_zero():
    frame = interactions([("c", "p", "wishlist", 1), ("c", "p", None, 1), ("c", "p", "rating", 1), ("c", "p", "view", 1)])
    for kinds in (frame["interaction_type"], frame["interaction_type"].astype("str"),
                  frame["interaction_type"].astype("category")):
        assert with_weights(frame.assign(interaction_type=kinds))["weight"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_loader_reads_only_rows_before_the_cutoff_and_the_window_after(demo_warehouse):
    cutoff = default_cutoff(demo_warehouse, horizon_days=14)
    data = load_recommendation_data(demo_warehouse, cutoff, horizon_days=14)
    assert (data.interactions["interacted_at"] < cutoff).all()
    assert set(data.interactions["interaction_type"]) == {"view", "cart", "purchase", "rating"}
    assert not data.future_purchases.empty
    assert (data.future_purchases["interaction_type"] == "purchase").all()
    assert data.future_purchases["interacted_at"].between(cutoff, cutoff + pd.Timedelta(days=14), inclusive="left").all()
    assert (pd.to_datetime(data.customer_features["as_of_date"]) <= cutoff).all()
    assert {"product_id", "category", "brand", "list_price", "is_active"} <= set(data.products.columns)
    assert "email_hash" not in data.customers.columns


def test_removing_post_cutoff_rows_leaves_the_training_data_unchanged(demo_warehouse, tmp_path):
    """Leakage: a warehouse that never saw anything from the cutoff on yields the very same training data."""
    cutoff = default_cutoff(demo_warehouse, horizon_days=14)
    truncated = tmp_path / "truncated.duckdb"
    shutil.copy(demo_warehouse, truncated)
    with duckdb.connect(str(truncated)) as connection:
        removed = connection.execute(
            "delete from intermediate.int_customer_product_interactions_unioned where interacted_at >= ?", [cutoff]
        ).fetchone()[0]
        connection.execute("delete from marts.customer_features_snapshot where as_of_date > ?", [cutoff.date()])
    assert removed > 0, "the demo data must reach past the cutoff for this test to mean anything"
    full = load_recommendation_data(demo_warehouse, cutoff)
    cut = load_recommendation_data(truncated, cutoff)
    pd.testing.assert_frame_equal(full.interactions, cut.interactions)
    pd.testing.assert_frame_equal(full.customer_features, cut.customer_features)
    assert cut.future_purchases.empty and not full.future_purchases.empty
    # and so every recommender fitted on it recommends the same
    customers = sorted(full.future_purchases["customer_id"].unique())
    for model in (PopularityRecommender, PersonalTopFrequency):
        pd.testing.assert_frame_equal(
            model().fit(full.interactions, products=full.products, as_of=cutoff).recommend(customers),
            model().fit(cut.interactions, products=cut.products, as_of=cutoff).recommend(customers),
        )


@pytest.mark.parametrize(("kwargs", "message"), [({"horizon_days": 0}, "horizon_days"), ({"cutoff": "not a date"}, "cutoff")])
def test_loader_arguments_are_checked(demo_warehouse, kwargs, message):
    arguments = {"cutoff": "2026-10-01", **kwargs}
    with pytest.raises(ValueError, match=message):
        load_recommendation_data(demo_warehouse, **arguments)


def test_paired_ndcg_difference_is_the_mean_per_customer_gap_with_a_bootstrap_interval():
    from ml.recommend.evaluation import paired_ndcg_difference

    future = interactions([("c1", "p1", "purchase", 22), ("c2", "p2", "purchase", 22)])
    perfect = pd.DataFrame({"customer_id": ["c1", "c2"], "rank": [1, 1], "product_id": ["p1", "p2"]})
    half = pd.DataFrame({"customer_id": ["c1", "c2"], "rank": [1, 1], "product_id": ["p1", "p9"]})
    result = paired_ndcg_difference(perfect, half, future, k=1, n_resamples=200)
    assert result["difference"] == pytest.approx(0.5)
    # resampling two customers with gaps 0 and 1 gives means 0, 0.5 or 1
    assert 0.0 <= result["low"] <= 0.5 <= result["high"] <= 1.0
    same = paired_ndcg_difference(perfect, perfect, future, k=1, n_resamples=50)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0}



def test_recently_bought_non_repeatable_products_can_be_excluded():
    from ml.recommend.data import recently_bought

    pairs = recently_bought(HISTORY, as_of=DAY0 + pd.Timedelta(days=7), within_days=3, products={"p3", "p2"})
    # days 4-6 hold c2's p3 (day 4) and c3's p3 (day 6); p1 (day 5) is repeatable, c1's p2 (day 2) is too old
    assert pairs.values.tolist() == [["c2", "p3"], ["c3", "p3"]]
    model = PopularityRecommender().fit(HISTORY, as_of=CUTOFF)
    assert "p3" not in set(model.recommend(["c2"], k=3, exclude=pairs)["product_id"])
    with pytest.raises(ValueError, match="within_days"):
        recently_bought(HISTORY, as_of=CUTOFF, within_days=0)
