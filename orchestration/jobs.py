"""Jobs are asset selections, so the UI, the schedules and `anticipate run` run the same thing."""

import dagster as dg

#: Ingest new landing files, rebuild and test the warehouse, refresh every downstream asset.
daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, dbt build (models + tests), then every downstream asset.",
)
