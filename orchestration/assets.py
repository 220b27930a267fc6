"""Assets: landing files -> raw (ingestion), raw -> marts (dbt). Thin glue over `anticipate.ingest` and dbt."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from anticipate.contract import LOAD_ORDER
from orchestration.project import dbt_project, keep_partial_parse
from orchestration.resources import AnticipateSettings

#: Every asset that opens the DuckDB file shares this pool: DuckDB admits one writing process.
WAREHOUSE_POOL = "warehouse"

RAW_TABLES = (*LOAD_ORDER, "rejected_rows", "ingestion_log")


@dg.multi_asset(
    name="ingest_landing_files",
    specs=[
        dg.AssetSpec(
            ["raw", table],
            group_name="ingestion",
            kinds={"python", "duckdb"},
            description=f"raw.{table}, loaded from the landing directory by the source-contract ingestion.",
        )
        for table in RAW_TABLES
    ],
    pool=WAREHOUSE_POOL,
)
def ingest_landing_files(context: dg.AssetExecutionContext, settings: AnticipateSettings) -> Iterator[dg.MaterializeResult]:
    """Load new landing files into `raw`; bad rows go to raw.rejected_rows with their reason."""
    from anticipate.ingest import ingest  # deferred: keeps definition loading fast

    resolved = settings.resolve()
    result = ingest(
        resolved.landing_dir,
        resolved.warehouse,
        mapping_path=Path(settings.mapping_path) if settings.mapping_path else None,
        progress=context.log.info,
    )
    per_source: dict[str, dict[str, int]] = {}
    for entry in result.files:
        counts = per_source.setdefault(entry.source, {"files_loaded": 0, "files_skipped": 0, "rows_loaded": 0, "rows_rejected": 0})
        counts["files_loaded" if entry.status == "loaded" else "files_skipped"] += 1
        counts["rows_loaded"] += entry.rows_loaded or 0
        counts["rows_rejected"] += entry.rows_rejected or 0
    for table in RAW_TABLES:
        metadata: Mapping[str, Any] = {"batch_id": result.batch_id, **per_source.get(table, {})}
        if table == "rejected_rows":
            metadata = {"batch_id": result.batch_id, "rejects_by_reason": dg.MetadataValue.json(dict(result.rejects_by_reason))}
        yield dg.MaterializeResult(asset_key=["raw", table], metadata=metadata)


class LayeredDbtTranslator(DagsterDbtTranslator):
    """Group dbt models in the UI by warehouse layer (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "seed":
            return "reference"
        return fqn[1] if len(fqn) > 2 else "dbt"


#: dbt models reading the scoring assets' tables. They build in a second dbt step after scoring: one
#: @dbt_assets for the whole project would make the graph a cycle (marts -> scoring -> dbt).
PREDICTION_MODELS_SELECTOR = "tag:predictions"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=PREDICTION_MODELS_SELECTOR,
    dagster_dbt_translator=LayeredDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def warehouse_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: AnticipateSettings):
    """`dbt build` up to the marts and training sets: seeds, models and their tests (surfaced as asset checks)."""
    settings.export_warehouse_for_dbt()
    yield from _dbt_build(context, dbt)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=PREDICTION_MODELS_SELECTOR,
    name="prediction_dbt_models",
    # the prediction tables' own tests become checks of the scoring assets that wrote them
    dagster_dbt_translator=LayeredDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)),
    pool=WAREHOUSE_POOL,
)
def prediction_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: AnticipateSettings):
    """`dbt build` of the reader-facing models over the prediction tables, with the tests of those tables."""
    settings.export_warehouse_for_dbt()
    yield from _dbt_build(context, dbt)


#: The scheduled build leaves dbt's unit tests out, as dbt Labs recommends for production: their inputs are
#: fixed rows in the yml, not the shop's data, so they pass or fail the same on every run. `make test` and a
#: hand-run `dbt build` run them (13 of them: 7.4 s of dbt thread time in the demo's build of 38.6 s).
PRODUCTION_BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    invocation = dbt.cli(list(PRODUCTION_BUILD_ARGS), context=context)
    yield from invocation.stream()
    keep_partial_parse(invocation.target_path)
