"""Monitoring: an asset that measures drift and realised performance after each scoring run, and the sensor
that requests a retraining run when drift coincides with enough new labelled outcomes. Thin glue over
ml.monitoring_runs and ml.monitoring."""

from datetime import datetime, timedelta, timezone

import dagster as dg

from orchestration.assets import WAREHOUSE_POOL
from orchestration.jobs import retrain_models_job
from orchestration.model_assets import churn_scores, customer_lifetime_value, purchase_propensity
from orchestration.recommender_assets import next_best_products
from orchestration.resources import AnticipateSettings, ModelTraining

#: models with a generated model card (ml.model_card knows their purpose); all of them are monitored
#: (ml.monitoring_runs.MONITORED_MODELS) and watched by the drift sensor
CARD_MODELS = ("churn_model", "propensity_model", "clv_model", "recommender_ranker")


@dg.asset(
    deps=[churn_scores, purchase_propensity, customer_lifetime_value, next_best_products],
    group_name="monitoring",
    kinds={"duckdb", "python"},
    pool=WAREHOUSE_POOL,
)
def model_monitoring(context: dg.AssetExecutionContext, settings: AnticipateSettings,
                     model_training: ModelTraining) -> dg.MaterializeResult:
    """Feature drift of today's scoring population against each champion's training rows (ml.feature_drift),
    realised performance of past predictions whose window closed (ml.realised_performance: churn and
    propensity, lifetime value, the recommendation lists), ADWIN and Page-Hinkley on their error stream;
    every finding lands in ml.monitoring_events. Then each champion's model card (Markdown and HTML, with
    this drift status) is rewritten beside its report."""
    import duckdb

    from ml.model_card import write_model_card
    from ml.monitoring_runs import MONITORED_MODELS, monitor_model
    from ml.registry import champion

    warehouse = settings.resolve().warehouse
    summaries, cards = {}, {}
    with duckdb.connect(str(warehouse)) as connection:
        for model_name in MONITORED_MODELS:
            summary = monitor_model(connection, model_name)
            summaries[model_name] = summary
            context.log.info(f"{model_name}: {summary}")
        for model_name in CARD_MODELS:
            if champion(connection, model_name) is None:
                continue
            markdown, _ = write_model_card(connection, model_name, model_training.models_path(warehouse) / model_name)
            cards[model_name] = str(markdown)
    context.log.info(f"model cards: {', '.join(cards.values()) or 'none (no champion yet)'}")
    return dg.MaterializeResult(metadata={"summaries": dg.MetadataValue.json(summaries),
                                          "model_cards": dg.MetadataValue.json(cards)})


def decide(model_training: ModelTraining, inputs: dict, *, last_trigger_at: datetime | None, now: datetime):
    """The sensor's decision for one model (ml.monitoring.should_retrain with the resource's thresholds)."""
    from ml.monitoring import should_retrain

    return should_retrain(
        drift_detected=inputs["drift_detected"], drifted_share=inputs["drifted_share"],
        new_labelled_outcomes=inputs["new_labelled_outcomes"], last_training_at=inputs["trained_at"],
        last_trigger_at=last_trigger_at, now=now, min_new_outcomes=model_training.drift_min_new_outcomes,
        min_interval=timedelta(hours=model_training.drift_min_interval_hours),
        drift_share_threshold=model_training.drift_share_threshold,
    )


@dg.sensor(job=retrain_models_job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.RUNNING)
def drift_retraining_sensor(context: dg.SensorEvaluationContext, settings: AnticipateSettings,
                            model_training: ModelTraining):
    """Requests `retrain_models` when a monitored model shows drift (a change detected in its realised errors,
    or a large share of drifted features) and enough new labelled outcomes arrived since its training; at most
    once per drift_min_interval_hours. Each decision is logged and written to ml.monitoring_events."""
    import duckdb

    from ml.monitoring_runs import MONITORED_MODELS, ensure_run_tables, record_event, sensor_inputs

    now = datetime.now(timezone.utc)
    last_trigger_at = datetime.fromisoformat(context.cursor) if context.cursor else None
    warehouse = settings.resolve().warehouse
    if not warehouse.exists():
        return dg.SkipReason(f"{warehouse}: no warehouse yet")
    try:
        connection = duckdb.connect(str(warehouse))
    except duckdb.IOException as error:  # a run holds the single-writer lock: decide at the next tick
        return dg.SkipReason(f"warehouse busy ({error}); deciding at the next evaluation")
    with connection:
        ensure_run_tables(connection)
        decisions = {}
        for model_name in MONITORED_MODELS:
            inputs = sensor_inputs(connection, model_name)
            if inputs is None:
                continue
            decision = decide(model_training, inputs, last_trigger_at=last_trigger_at, now=now)
            decisions[model_name] = decision
            context.log.info(f"{model_name}: {'fire' if decision.fire else 'no'}: {decision.reason}")
            record_event(connection, model_name=model_name, model_version=inputs["model_version"], kind="sensor_decision",
                         drift_detected=decision.fire, summary=decision.reason, at=now)
    firing = {name: decision for name, decision in decisions.items() if decision.fire}
    if not firing:
        return dg.SkipReason("; ".join(f"{name}: {d.reason}" for name, d in decisions.items()) or "no champion yet")
    context.update_cursor(now.isoformat())
    return dg.RunRequest(run_key=f"drift-{now:%Y%m%dT%H%M}",
                         tags={"anticipate/trigger": "drift", "anticipate/reason": "; ".join(
                             f"{name}: {d.reason}" for name, d in firing.items())[:2000]})
