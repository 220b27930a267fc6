"""Assets: train the customer models (churn, propensity, lifetime value) and score the current customers
into the prediction tables. Thin glue over `ml.training`, `ml.scoring`, `ml.registry` and `ml.report`.

A model whose history is too short keeps its previous champion and says why in the run log and the asset
metadata; scoring always uses the champion, and writes nothing when there is none yet.
"""

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from orchestration.assets import WAREHOUSE_POOL
from orchestration.resources import AnticipateSettings, ModelTraining

MODEL_GROUP = "models"
PREDICTION_GROUP = "predictions"


def _dbt_key(name: str) -> dg.AssetKey:
    from dagster_dbt import get_asset_key_for_model

    from orchestration.assets import warehouse_dbt_models

    return get_asset_key_for_model([warehouse_dbt_models], name)


def _read(warehouse: Path, sql: str):
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).df()


def _scoring_date(warehouse: Path):
    return _read(warehouse, "select scoring_as_of_date from intermediate.int_data_dates_summarized")["scoring_as_of_date"].iloc[0]


def _champion(warehouse: Path, model_name: str):
    """The current champion's record and fitted model, or (None, None)."""
    import duckdb

    from ml.registry import champion, load_artifact

    with duckdb.connect(str(warehouse)) as connection:
        record = champion(connection, model_name)
    if record is None:
        return None, None
    return record, load_artifact(record.artifact_path, record.model_version)


def _register_challenger(context, warehouse: Path, record, metrics, importance, verdict, metric: str, current) -> None:
    """Register the new version as challenger with its metrics (and those of `current`, the champion it was
    judged against, measured on the same holdout), then promote it or leave it a challenger with the reason."""
    import duckdb

    from ml.registry import MetricRow, promote, register_model

    record.status, record.status_reason = "challenger", verdict.reason
    if current is not None and current.model_version == record.model_version:
        # the same data and recipe gave the same artifact: nothing to decide, it stays champion
        verdict = type(verdict)(True, "retrained to the identical artifact: stays champion", None, verdict.challenger_metric)
        record.status, record.status_reason = "champion", verdict.reason
    if verdict.champion_metric is not None:
        metrics = [*metrics, MetricRow("holdout", metric, verdict.challenger_metric, "champion at training time",
                                       verdict.champion_metric)]
    with duckdb.connect(str(warehouse)) as connection:
        register_model(connection, record, metrics, importance)
        if verdict.promote and record.status != "champion":
            promote(connection, record.model_name, record.model_version, reason=verdict.reason)
    log = context.log.info if verdict.promote else context.log.warning
    log(f"{record.model_name} {record.model_version}: {verdict.reason}")


def _keep_champion(context: dg.AssetExecutionContext, warehouse: Path, model_name: str, reason: str) -> dg.MaterializeResult:
    import duckdb

    from ml.registry import champion

    with duckdb.connect(str(warehouse)) as connection:
        current = champion(connection, model_name)
    kept = current.model_version if current else None
    context.log.warning(f"{model_name} not trained: {reason}. "
                        + (f"Keeping champion {kept}." if kept else "No champion yet: its predictions stay empty."))
    return dg.MaterializeResult(metadata={"trained": False, "reason": reason, "champion": kept or "none"})


def _fresh_champion(context, warehouse: Path, model_name: str, model_training: ModelTraining) -> dg.MaterializeResult | None:
    """Skip training while the champion is younger than retrain_after_days, unless forced: the daily job
    scores with it, the weekly schedule and the drift sensor retrain."""
    import duckdb

    from ml.registry import champion

    if model_training.force:
        return None
    with duckdb.connect(str(warehouse)) as connection:
        current = champion(connection, model_name)
    if current is None:
        return None
    age = datetime.now(timezone.utc) - current.trained_at.astimezone(timezone.utc)
    if age.days >= model_training.retrain_after_days:
        return None
    reason = (f"champion {current.model_version} is {age.days} day(s) old, under retrain_after_days="
              f"{model_training.retrain_after_days}; the weekly retraining or the drift sensor retrains it")
    context.log.info(f"{model_name} not retrained: {reason}")
    return dg.MaterializeResult(metadata={"trained": False, "reason": reason, "champion": current.model_version})


def _metrics_markdown(table, columns) -> str:
    header = "| candidate | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns)
    rows = [f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |" for name, row in table.iterrows()]
    return "\n".join([header, *rows])


def _train_classifier_asset(context, settings: AnticipateSettings, model_training: ModelTraining, *, model_name: str,
                            target: str, horizon_days: int, train: Callable) -> dg.MaterializeResult:
    import pandas as pd

    from ml.datasets import InsufficientHistoryError, load_training_set
    from ml.registry import ModelRecord, save_artifact
    from ml.report import write_classifier_report
    from ml.promotion import judge_classifier
    from ml.training import CLASSIFIER_METRICS, MODEL_LABEL

    warehouse = settings.resolve().warehouse
    skipped = _fresh_champion(context, warehouse, model_name, model_training)
    if skipped is not None:
        return skipped
    frame = load_training_set(warehouse, target=target, horizon_days=horizon_days)
    context.log.info(f"{model_name}: {len(frame):,} labelled rows over {frame['as_of_date'].nunique()} as-of dates")
    try:
        trained = train(frame, horizon_days=horizon_days, settings=model_training.training_settings())
    except InsufficientHistoryError as error:
        return _keep_champion(context, warehouse, model_name, str(error))

    models_dir = model_training.models_path(warehouse)
    version, artifact = save_artifact(trained.model, models_dir, model_name)
    split, table = trained.split, trained.evaluation.table
    report = write_classifier_report(
        models_dir / model_name / f"{version}_report",
        title=f"{model_name} {version}",
        y_true=frame.iloc[split.test_index][trained.target_column].astype(float).astype(int).to_numpy(),
        scores=trained.evaluation.test_scores, model_name=MODEL_LABEL, metrics=table, importance=trained.importance,
        context={"model version": version, "target": trained.target_column, "horizon (days)": horizon_days,
                 "holdout as-of date": str(split.test_as_of_date.date()),
                 "evaluation training dates": f"{split.train_as_of_dates[0].date()} .. {split.train_as_of_dates[-1].date()} "
                                              f"({len(split.train_as_of_dates)} dates, {len(split.train_index):,} rows)",
                 "artifact refit on": f"{len(trained.fit_as_of_dates)} as-of dates, {trained.fit_rows:,} rows",
                 "calibration": trained.model.calibration_method_, "threshold": round(trained.model.threshold_, 4)},
    )
    champion_record, champion_model = _champion(warehouse, model_name)
    verdict = judge_classifier(trained, frame, champion_record, champion_model, tolerance=model_training.promotion_tolerance_auc)
    now = datetime.now(timezone.utc)
    record = ModelRecord(
        model_name=model_name, model_version=version, trained_at=now, horizon_days=horizon_days,
        artifact_path=str(artifact), training_window_start=trained.fit_as_of_dates[0].date(),
        training_window_end=(trained.fit_as_of_dates[-1] + pd.Timedelta(days=horizon_days)).date(),
        train_as_of_dates=[str(d.date()) for d in trained.fit_as_of_dates], holdout_as_of_date=split.test_as_of_date.date(),
        training_rows=trained.fit_rows, feature_list=trained.features, params=trained.params(), report_path=str(report),
    )
    _register_challenger(context, warehouse, record, trained.metric_rows(), trained.importance, verdict, "roc_auc",
                         champion_record)
    model_row = table.loc[MODEL_LABEL]
    context.log.info(f"{model_name} {version}: holdout ROC-AUC {model_row['roc_auc']:.3f} "
                     + ", ".join(f"{name} {row['roc_auc']:.3f}" for name, row in table.drop(index=MODEL_LABEL).iterrows())
                     + f"; report {report}")
    return dg.MaterializeResult(metadata={
        "trained": True,
        "model_version": version,
        "promoted": verdict.promote,
        "promotion_reason": verdict.reason,
        "artifact": dg.MetadataValue.path(str(artifact)),
        "report": dg.MetadataValue.path(str(report)),
        "holdout_as_of_date": str(split.test_as_of_date.date()),
        "holdout_roc_auc": float(model_row["roc_auc"]),
        "holdout_pr_auc": float(model_row["pr_auc"]),
        "holdout_brier": float(model_row["brier"]),
        "holdout_vs_baselines": dg.MetadataValue.md(_metrics_markdown(table, CLASSIFIER_METRICS)),
        "training_rows": trained.fit_rows,
        "seconds": round(trained.seconds, 1),
    })


@dg.asset(
    deps=[_dbt_key("customer_training_set")],
    group_name=MODEL_GROUP,
    kinds={"lightgbm", "scikitlearn"},
    pool=WAREHOUSE_POOL,
)
def churn_model(context: dg.AssetExecutionContext, settings: AnticipateSettings, model_training: ModelTraining) -> dg.MaterializeResult:
    """Churn classifier (LightGBM, tuned, calibrated) trained on ml.customer_training_set, evaluated on the
    latest labelled as-of date against an RFM logistic regression and the days-since-last-purchase ranking."""
    from ml.training import train_churn

    return _train_classifier_asset(context, settings, model_training, model_name="churn_model", target="churn",
                                   horizon_days=model_training.churn_horizon_days, train=train_churn)


@dg.asset(
    deps=[_dbt_key("customer_training_set")],
    group_name=MODEL_GROUP,
    kinds={"lightgbm", "scikitlearn"},
    pool=WAREHOUSE_POOL,
)
def propensity_model(context: dg.AssetExecutionContext, settings: AnticipateSettings,
                     model_training: ModelTraining) -> dg.MaterializeResult:
    """Purchase-propensity classifier (LightGBM, tuned, calibrated) against the recent-frequency-rate baseline."""
    from ml.training import train_propensity

    return _train_classifier_asset(context, settings, model_training, model_name="propensity_model", target="propensity",
                                   horizon_days=model_training.propensity_horizon_days, train=train_propensity)


@dg.asset(
    deps=[_dbt_key("customer_training_set"), _dbt_key("fct_orders")],
    group_name=MODEL_GROUP,
    kinds={"scipy", "lightgbm"},
    pool=WAREHOUSE_POOL,
)
def clv_model(context: dg.AssetExecutionContext, settings: AnticipateSettings, model_training: ModelTraining) -> dg.MaterializeResult:
    """Lifetime value: BG/NBD + Gamma-Gamma fit on every purchase before the scoring date, compared on the
    holdout with a LightGBM revenue regressor, the historical average and predict-zero."""
    import pandas as pd

    from ml.datasets import InsufficientHistoryError, load_training_set
    from ml.registry import ModelRecord, save_artifact
    from ml.report import write_regression_report
    from ml.promotion import judge_lifetime_value
    from ml.training import REVENUE_METRICS, TrainedLifetimeValue, train_lifetime_value

    warehouse = settings.resolve().warehouse
    skipped = _fresh_champion(context, warehouse, "clv_model", model_training)
    if skipped is not None:
        return skipped
    horizon = model_training.revenue_horizon_days
    frame = load_training_set(warehouse, target="revenue", horizon_days=horizon)
    orders = _read(warehouse, "select customer_id, ordered_at, net_revenue, is_purchase from marts.fct_orders")
    scoring_date = _scoring_date(warehouse)
    try:
        trained = train_lifetime_value(frame, orders, scoring_date=scoring_date, horizon_days=horizon,
                                       settings=model_training.training_settings())
    except InsufficientHistoryError as error:
        return _keep_champion(context, warehouse, "clv_model", str(error))
    for message in trained.warnings:
        context.log.warning(f"clv_model: {message}")

    models_dir = model_training.models_path(warehouse)
    version, artifact = save_artifact(trained.model, models_dir, "clv_model")
    split = trained.split
    report = write_regression_report(
        models_dir / "clv_model" / f"{version}_report", title=f"clv_model {version}", actual=trained.actual,
        predictions=trained.predictions, model_name=TrainedLifetimeValue.MODEL, metrics=trained.holdout,
        importance=trained.importance,
        context={"model version": version, "target": f"revenue_in_{horizon}d", "horizon (days)": horizon,
                 "holdout as-of date": str(split.test_as_of_date.date()),
                 "artifact fit on": f"{trained.fit_customers:,} customers' purchases before {trained.fit_end.date()}",
                 "importance": "mean |SHAP| of the LightGBM regressor (revenue units); BG/NBD uses recency, frequency, spend"},
    )
    champion_record, champion_model = _champion(warehouse, "clv_model")
    verdict = judge_lifetime_value(trained, champion_record, champion_model,
                                   relative_tolerance=model_training.promotion_tolerance_rmse_ratio)
    record = ModelRecord(
        model_name="clv_model", model_version=version, trained_at=datetime.now(timezone.utc), horizon_days=horizon,
        artifact_path=str(artifact), training_window_start=pd.Timestamp(orders["ordered_at"].min()).date(),
        training_window_end=trained.fit_end.date(), train_as_of_dates=[], holdout_as_of_date=split.test_as_of_date.date(),
        training_rows=trained.fit_customers, feature_list=["frequency", "recency", "T", "monetary_value"],
        params=trained.params(), report_path=str(report),
    )
    # no importance recorded: the registered BG/NBD model has no per-feature attribution (the report shows the regressor's)
    _register_challenger(context, warehouse, record, trained.metric_rows(), None, verdict, "rmse", champion_record)
    row = trained.holdout.loc[TrainedLifetimeValue.MODEL]
    context.log.info(f"clv_model {version}: holdout RMSE {row['rmse']:.2f} "
                     + ", ".join(f"{name} {r['rmse']:.2f}" for name, r in trained.holdout.drop(index=TrainedLifetimeValue.MODEL).iterrows()))
    return dg.MaterializeResult(metadata={
        "trained": True,
        "model_version": version,
        "promoted": verdict.promote,
        "promotion_reason": verdict.reason,
        "artifact": dg.MetadataValue.path(str(artifact)),
        "report": dg.MetadataValue.path(str(report)),
        "holdout_as_of_date": str(split.test_as_of_date.date()),
        "holdout_rmse": float(row["rmse"]),
        "holdout_spearman": None if pd.isna(row["spearman"]) else float(row["spearman"]),
        "holdout_vs_baselines": dg.MetadataValue.md(_metrics_markdown(trained.holdout, (*REVENUE_METRICS, "predicted_total"))),
        "customers_fit": trained.fit_customers,
        "seconds": round(trained.seconds, 1),
    })


# --------------------------------------------------------------------------------------------------
# Scoring


#: prediction table -> the column logged to ml.prediction_log for monitoring
SCORE_COLUMNS = {"predictions.churn_scores": "churn_probability", "predictions.purchase_propensity": "probability",
                 "predictions.customer_lifetime_value": "expected_revenue"}


def _publish(context, warehouse: Path, model_name: str, table: str, score: Callable) -> dg.MaterializeResult:
    """Load the champion, build the rows with `score(model, record)`, log them for monitoring (with their
    drift against the rows being replaced), and swap them into `table` atomically."""
    import duckdb

    from ml.monitoring_runs import log_predictions
    from ml.prediction_tables import replace_table
    from ml.registry import champion, load_artifact

    with duckdb.connect(str(warehouse)) as connection:
        record = champion(connection, model_name)
    if record is None:
        context.log.warning(f"{table} left as it is: {model_name} has no champion yet (see the {model_name} step)")
        return dg.MaterializeResult(metadata={"scored": False, "reason": f"{model_name} has no champion"})
    model = load_artifact(record.artifact_path, record.model_version)
    rows = score(model, record)
    scoring_date = _scoring_date(warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        drift = log_predictions(connection, model_name=model_name, rows=rows, score_column=SCORE_COLUMNS[table],
                                horizon_days=record.horizon_days, table=table, as_of_date=scoring_date)
        written = replace_table(connection, table, rows)
    context.log.info(f"{table}: {written:,} rows from {record.model_version}"
                     + (f"; score PSI {drift['psi']:.3f} against the previous run" if drift else ""))
    metadata = {"scored": True, "rows": written, "model_version": record.model_version, "table": table}
    if drift:
        metadata["score_psi_vs_previous_run"] = float(drift["psi"])
    return dg.MaterializeResult(metadata=metadata)


def _current_features(warehouse: Path):
    return _read(warehouse, "select * from marts.customer_features_current")


@dg.asset(
    key=["predictions", "churn_scores"],
    deps=[churn_model, _dbt_key("customer_features_current")],
    group_name=PREDICTION_GROUP,
    kinds={"duckdb", "lightgbm"},
    pool=WAREHOUSE_POOL,
)
def churn_scores(context: dg.AssetExecutionContext, settings: AnticipateSettings) -> dg.MaterializeResult:
    """predictions.churn_scores: the churn champion's probability, risk band and top three TreeSHAP drivers for
    every known customer who bought in the prior 365 days."""
    from ml.scoring import score_churn

    warehouse = settings.resolve().warehouse
    features = _current_features(warehouse)
    scored_at = datetime.now(timezone.utc)
    return _publish(context, warehouse, "churn_model", "predictions.churn_scores", lambda model, record: score_churn(
        model, features, feature_list=record.feature_list, model_version=record.model_version, scored_at=scored_at,
        threshold=record.params["threshold"], base_rate=record.params["training_positive_rate"]))


@dg.asset(
    key=["predictions", "purchase_propensity"],
    deps=[propensity_model, _dbt_key("customer_features_current")],
    group_name=PREDICTION_GROUP,
    kinds={"duckdb", "lightgbm"},
    pool=WAREHOUSE_POOL,
)
def purchase_propensity(context: dg.AssetExecutionContext, settings: AnticipateSettings) -> dg.MaterializeResult:
    """predictions.purchase_propensity: probability of a purchase in the horizon for every known customer."""
    from ml.scoring import score_propensity

    warehouse = settings.resolve().warehouse
    features = _current_features(warehouse)
    scored_at = datetime.now(timezone.utc)
    return _publish(context, warehouse, "propensity_model", "predictions.purchase_propensity",
                    lambda model, record: score_propensity(model, features, feature_list=record.feature_list,
                                                           horizon_days=record.horizon_days,
                                                           model_version=record.model_version, scored_at=scored_at))


@dg.asset(
    key=["predictions", "customer_lifetime_value"],
    deps=[clv_model, _dbt_key("customer_features_current"), _dbt_key("fct_orders")],
    group_name=PREDICTION_GROUP,
    kinds={"duckdb", "scipy"},
    pool=WAREHOUSE_POOL,
)
def customer_lifetime_value(context: dg.AssetExecutionContext, settings: AnticipateSettings) -> dg.MaterializeResult:
    """predictions.customer_lifetime_value: expected purchases, revenue and P(alive) over the horizon for every
    known customer who has bought."""
    from ml.scoring import score_lifetime_value

    warehouse = settings.resolve().warehouse
    features = _current_features(warehouse)
    orders = _read(warehouse, "select customer_id, ordered_at, net_revenue, is_purchase from marts.fct_orders")
    scoring_date = _scoring_date(warehouse)
    scored_at = datetime.now(timezone.utc)
    return _publish(context, warehouse, "clv_model", "predictions.customer_lifetime_value",
                    lambda model, record: score_lifetime_value(model, orders, features, scoring_date=scoring_date,
                                                               horizon_days=record.horizon_days,
                                                               model_version=record.model_version, scored_at=scored_at))


training_assets = [churn_model, propensity_model, clv_model]
scoring_assets = [churn_scores, purchase_propensity, customer_lifetime_value]
model_assets = [*training_assets, *scoring_assets]
