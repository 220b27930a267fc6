"""The anticipate code location: every asset, resource, job and schedule on one screen."""

import dagster as dg

from orchestration.assets import ingest_landing_files, warehouse_dbt_models
from orchestration.jobs import daily_refresh_job
from orchestration.resources import AnticipateSettings, dbt_cli_resource
from orchestration.schedules import daily_refresh_schedule

defs = dg.Definitions(
    assets=[ingest_landing_files, warehouse_dbt_models],
    jobs=[daily_refresh_job],
    schedules=[daily_refresh_schedule],
    resources={
        "settings": AnticipateSettings(),
        "dbt": dbt_cli_resource(),
    },
)
