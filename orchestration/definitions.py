"""The anticipate code location: every asset, resource, job and schedule on one screen."""

import dagster as dg

from orchestration.assets import ingest_landing_files, prediction_dbt_models, warehouse_dbt_models
from orchestration.jobs import daily_refresh_job, retrain_models_job
from orchestration.model_assets import model_assets
from orchestration.monitoring import drift_retraining_sensor, model_monitoring
from orchestration.resources import AnticipateSettings, ModelTraining, dbt_cli_resource
from orchestration.publishing import published_warehouse
from orchestration.recommender_assets import recommender_assets
from orchestration.schedules import daily_refresh_schedule, weekly_retrain_schedule

defs = dg.Definitions(
    assets=[ingest_landing_files, warehouse_dbt_models, *model_assets, *recommender_assets, prediction_dbt_models,
            model_monitoring,
            published_warehouse],
    jobs=[daily_refresh_job, retrain_models_job],
    schedules=[daily_refresh_schedule, weekly_retrain_schedule],
    sensors=[drift_retraining_sensor],
    resources={
        "settings": AnticipateSettings(),
        "model_training": ModelTraining(),
        "dbt": dbt_cli_resource(),
    },
)
