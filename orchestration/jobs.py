"""Jobs are asset selections, so the UI, the schedules, the sensor and `anticipate run` run the same thing."""

import dagster as dg

from orchestration.model_assets import training_assets
from orchestration.recommender_assets import recommender_ranker

#: Ingest new landing files, rebuild and test the warehouse, train models whose champion is missing or
#: older than retrain_after_days, score, build the models over the predictions, publish.
daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, dbt build (models + tests), train stale models, score, publish.",
)

#: Retrain every model on the latest window (the training assets run with `force`), then rescore and publish.
RETRAIN_RUN_CONFIG = {"resources": {"model_training": {"config": {"force": True}}}}
retrain_models_job = dg.define_asset_job(
    name="retrain_models",
    selection=dg.AssetSelection.assets(*training_assets, recommender_ranker).downstream(),
    config=RETRAIN_RUN_CONFIG,
    description="Retrain every model on the latest labelled window (challengers face the champion), rescore, publish.",
)
