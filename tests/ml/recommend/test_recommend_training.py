"""A recommender training run on a built demo warehouse: measured against its baselines on the holdout
window, and explained by TreeSHAP over the holdout customers' candidates."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(demo_warehouse):
    from ml.recommend.training import train_recommender

    return train_recommender(demo_warehouse, horizon_days=14, random_state=0)


def test_the_training_run_measures_the_model_beside_its_baselines(trained):
    from ml.recommend.training import MODEL_LABEL

    assert list(trained.table.index) == [MODEL_LABEL, "baseline: GP-TopFreq", "baseline: global popularity"]
    rows = trained.metric_rows()
    assert {row.metric for row in rows} >= {"ndcg_at_10", "recall_at_10", "hit_rate_at_10", "coverage", "customers"}
    assert all(0.0 <= row.value <= 1.0 for row in rows if row.metric != "customers")


def test_ranker_importance_is_mean_absolute_shap_over_the_holdout_candidates(trained):
    from ml.recommend.training import ranker_importance

    importance = trained.importance
    model = trained.model
    assert importance is not None and set(importance.index) == set(model.feature_columns_)
    assert (importance >= 0).all() and importance.is_monotonic_decreasing and importance.iloc[0] > 0
    # TreeSHAP is exact: each candidate's contributions sum to the ranker's raw score
    customers = trained.data.future_purchases["customer_id"].astype(str).unique()[:5]
    known = [c for c in customers if c in model.generator_.customer_index_]
    from ml.recommend.two_stage import candidate_features

    features = candidate_features(model.generator_.generate(known), model.interactions_, products=model.products_,
                                  customer_features=model.customer_features_, as_of=model.as_of_)
    matrix = features[model.feature_columns_].astype(float)
    contributions = model.ranker_.predict(matrix, pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), model.ranker_.predict(matrix), rtol=1e-6, atol=1e-6)
    # the sample is bounded and seeded: the same customers give the same importance
    again = ranker_importance(model, trained.data.future_purchases["customer_id"].astype(str).unique(), random_state=0)
    assert again.equals(importance)
    # ... and bounded in rows too: a smaller sample still explains every feature, in the same seeded way
    few = ranker_importance(model, trained.data.future_purchases["customer_id"].astype(str).unique(), max_rows=200, random_state=0)
    assert set(few.index) == set(model.feature_columns_) and not few.equals(importance)
    assert few.equals(ranker_importance(model, trained.data.future_purchases["customer_id"].astype(str).unique(), max_rows=200, random_state=0))
    assert ranker_importance(model, ["nobody-has-this-id"]) is None


def test_snapshot_lookback_keeps_every_snapshot_row_the_recommender_reads(demo_warehouse):
    """Each customer's latest snapshot as of the cutoff and of every training cutoff before it is the same with
    the lookback as with every snapshot loaded, and older snapshots are left in the warehouse."""
    import pandas as pd

    from ml.recommend.data import default_cutoff, load_recommendation_data

    cutoff = default_cutoff(demo_warehouse, horizon_days=14)
    everything = load_recommendation_data(demo_warehouse, cutoff).customer_features
    bounded = load_recommendation_data(demo_warehouse, cutoff, snapshot_lookback_days=3 * 14).customer_features
    assert 0 < len(bounded) < len(everything)

    def latest(frame: pd.DataFrame, day) -> pd.DataFrame:
        rows = frame[pd.to_datetime(frame["as_of_date"]) <= day].sort_values(["as_of_date", "customer_id"])
        return rows.drop_duplicates("customer_id", keep="last").sort_values("customer_id").reset_index(drop=True)

    for j in range(0, 4):
        day = cutoff - pd.Timedelta(days=14 * j)
        pd.testing.assert_frame_equal(latest(everything, day), latest(bounded, day))
    with pytest.raises(ValueError, match="snapshot_lookback_days"):
        load_recommendation_data(demo_warehouse, cutoff, snapshot_lookback_days=-1)
