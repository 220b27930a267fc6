"""Assets: the next-best-product recommender. `recommender_ranker` trains and judges it, `recommender_candidates`
refreshes the champion's candidate sources on the latest interactions, `next_best_products` and
`similar_products` score into the prediction tables. Thin glue over ml.recommend."""

from datetime import datetime, timezone

import dagster as dg

from orchestration.assets import WAREHOUSE_POOL
from orchestration.model_assets import (
    MODEL_GROUP,
    PREDICTION_GROUP,
    _champion,
    _dbt_key,
    _fresh_champion,
    _register_challenger,
    _scoring_date,
)
from orchestration.resources import AnticipateSettings, ModelTraining

MODEL_NAME = "recommender_ranker"
RECOMMENDER_DEPS = [_dbt_key("customer_features_snapshot"), _dbt_key("dim_products"), _dbt_key("dim_customers"),
                    _dbt_key("int_customer_product_interactions_unioned")]


@dg.asset(deps=RECOMMENDER_DEPS, group_name=MODEL_GROUP, kinds={"lightgbm", "python"}, pool=WAREHOUSE_POOL)
def recommender_ranker(context: dg.AssetExecutionContext, settings: AnticipateSettings,
                       model_training: ModelTraining) -> dg.MaterializeResult:
    """Two-stage recommender (candidate sources + LightGBM LambdaRank) fit at the start of the last observed
    14-day window and measured on it against GP-TopFreq and global popularity; a challenger to the champion."""
    import pandas as pd

    from ml.recommend.training import MODEL_LABEL, train_recommender, judge_recommender
    from ml.registry import ModelRecord, save_artifact

    warehouse = settings.resolve().warehouse
    skipped = _fresh_champion(context, warehouse, MODEL_NAME, model_training)
    if skipped is not None:
        return skipped
    trained = train_recommender(warehouse, horizon_days=model_training.recommendation_horizon_days,
                                random_state=model_training.random_state,
                                event_weights=dict(model_training.recommendation_event_weights))
    for note in trained.model.notes_:
        context.log.warning(f"{MODEL_NAME}: {note}")
    models_dir = model_training.models_path(warehouse)
    version, artifact = save_artifact(trained.model, models_dir, MODEL_NAME)
    champion_record, champion_model = _champion(warehouse, MODEL_NAME)
    verdict = judge_recommender(trained, champion_record, champion_model, tolerance=model_training.promotion_tolerance_ndcg)
    record = ModelRecord(
        model_name=MODEL_NAME, model_version=version, trained_at=datetime.now(timezone.utc),
        horizon_days=model_training.recommendation_horizon_days, artifact_path=str(artifact),
        training_window_start=pd.Timestamp(trained.data.interactions["interacted_at"].min()).date(),
        training_window_end=trained.cutoff.date(), holdout_as_of_date=trained.cutoff.date(),
        training_rows=int(getattr(trained.model, "training_rows_", 0)),
        feature_list=list(getattr(trained.model, "feature_columns_", [])),
        params={"notes": trained.model.notes_, "per_source": trained.model.per_source},
    )
    _register_challenger(context, warehouse, record, trained.metric_rows(), trained.importance, verdict, "ndcg_at_10",
                         champion_record)
    table = trained.table
    context.log.info(f"{MODEL_NAME} {version}: holdout NDCG@10 {table.loc[MODEL_LABEL, 'ndcg']:.4f}; "
                     + ", ".join(f"{name} {row['ndcg']:.4f}" for name, row in table.drop(index=MODEL_LABEL).iterrows()))
    return dg.MaterializeResult(metadata={
        "trained": True, "model_version": version, "promoted": verdict.promote, "promotion_reason": verdict.reason,
        "holdout_cutoff": str(trained.cutoff.date()), "holdout_ndcg_at_10": float(table.loc[MODEL_LABEL, "ndcg"]),
        "holdout_vs_baselines": dg.MetadataValue.md(table[["recall", "ndcg", "map", "hit_rate", "coverage"]].round(4).to_markdown()
                                                    if hasattr(table, "to_markdown") else str(table)),
        "seconds": round(trained.seconds, 1),
    })


@dg.asset(deps=[recommender_ranker, *RECOMMENDER_DEPS], group_name=MODEL_GROUP, kinds={"python"}, pool=WAREHOUSE_POOL)
def recommender_candidates(context: dg.AssetExecutionContext, settings: AnticipateSettings,
                           model_training: ModelTraining) -> dg.MaterializeResult:
    """The champion with its candidate sources (repeat purchases, item co-occurrence, iALS, category affinity,
    trending) refit on every interaction up to today, its ranker unchanged; saved beside the models for scoring."""
    import pandas as pd

    from ml.recommend.data import load_recommendation_data
    from ml.registry import save_artifact

    warehouse = settings.resolve().warehouse
    record, model = _champion(warehouse, MODEL_NAME)
    if record is None:
        context.log.warning(f"no {MODEL_NAME} champion yet: no candidates")
        return dg.MaterializeResult(metadata={"refreshed": False, "reason": f"{MODEL_NAME} has no champion"})
    scoring_date = pd.Timestamp(_scoring_date(warehouse))
    # scoring reads each customer's latest snapshot only
    data = load_recommendation_data(warehouse, scoring_date, horizon_days=record.horizon_days,
                                    event_weights=dict(model_training.recommendation_event_weights),
                                    snapshot_lookback_days=0)
    model.refresh(data.interactions, products=data.products, customers=data.customers,
                  customer_features=data.customer_features, as_of=scoring_date, n_jobs=model_training.n_jobs)
    _, path = save_artifact(model, model_training.models_path(warehouse), "recommender_serving")
    context.log.info(f"{record.model_version}: candidate sources refit on {len(data.interactions):,} interactions "
                     f"before {scoring_date.date()}")
    return dg.MaterializeResult(metadata={"refreshed": True, "model_version": record.model_version,
                                          "serving_artifact": dg.MetadataValue.path(str(path)),
                                          "interactions": len(data.interactions)})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["predictions", "next_best_products"], deps=[recommender_candidates], group_name=PREDICTION_GROUP,
                     kinds={"duckdb", "lightgbm"}, description="Top 10 products per known customer, with a reason."),
        dg.AssetSpec(["predictions", "similar_products"], deps=[recommender_candidates], group_name=PREDICTION_GROUP,
                     kinds={"duckdb"}, description="Up to 10 products bought by the same customers, per product."),
    ],
    pool=WAREHOUSE_POOL,
)
def next_best_products(context: dg.AssetExecutionContext, settings: AnticipateSettings,
                       model_training: ModelTraining):
    """Score every known customer with the refreshed champion and swap both tables in atomically."""
    import duckdb

    from ml.monitoring_runs import log_recommendations
    from ml.prediction_tables import replace_table
    from ml.registry import load_artifact

    warehouse = settings.resolve().warehouse
    record, _ = _champion(warehouse, MODEL_NAME)
    serving = sorted((model_training.models_path(warehouse) / "recommender_serving").glob("*.joblib"),
                     key=lambda path: path.stat().st_mtime)
    if record is None or not serving:
        context.log.warning("predictions.next_best_products left as it is: no recommender champion yet")
        for key in (["predictions", "next_best_products"], ["predictions", "similar_products"]):
            yield dg.MaterializeResult(asset_key=key, metadata={"scored": False})
        return
    model = load_artifact(serving[-1])
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        customers = [row[0] for row in connection.execute(
            "select customer_id from marts.dim_customers where not is_placeholder order by customer_id").fetchall()]
    exclude = None
    if model_training.exclude_bought_within_days > 0:
        from ml.recommend.data import recently_bought

        categories = set(model_training.non_repeatable_categories)
        products = None
        if categories and model.products_ is not None:
            products = model.products_.loc[model.products_["category"].isin(categories), "product_id"].astype(str)
        exclude = recently_bought(model.interactions_, as_of=model.as_of_,
                                  within_days=model_training.exclude_bought_within_days, products=products)
        context.log.info(f"excluding {len(exclude):,} recently bought (customer, product) pairs")
    scored_at = datetime.now(timezone.utc)
    lists = model.recommend(customers, 10, exclude=exclude, n_jobs=model_training.n_jobs).assign(model_version=record.model_version, scored_at=scored_at)
    similar = model.similar_products(10).assign(model_version=record.model_version, scored_at=scored_at)
    reasons = lists["reason"].str.replace(r" .*", "", regex=True).value_counts().head(5).to_dict()
    with duckdb.connect(str(warehouse)) as connection:
        # the panel's lists go to ml.recommendation_log first: realised performance compares them with what
        # those customers buy once the window closes
        drift = log_recommendations(connection, model_name=MODEL_NAME, lists=lists, horizon_days=record.horizon_days,
                                    as_of_date=model.as_of_)
        written = replace_table(connection, "predictions.next_best_products", lists)
        similar_written = replace_table(connection, "predictions.similar_products", similar)
    context.log.info(f"predictions.next_best_products: {written:,} rows for {len(customers):,} customers; "
                     f"predictions.similar_products: {similar_written:,} rows; reasons {reasons}")
    metadata = {"rows": written, "customers": len(customers), "model_version": record.model_version,
                "reasons": dg.MetadataValue.json(reasons)}
    if drift:
        metadata["score_psi_vs_previous_run"] = float(drift["psi"])
    yield dg.MaterializeResult(asset_key=["predictions", "next_best_products"], metadata=metadata)
    yield dg.MaterializeResult(asset_key=["predictions", "similar_products"],
                               metadata={"rows": similar_written, "model_version": record.model_version})


recommender_assets = [recommender_ranker, recommender_candidates, next_best_products]
