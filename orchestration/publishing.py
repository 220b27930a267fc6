"""Asset: publish a read-only copy of the marts, ml and predictions schemas for BI tools and the API,
swapped in by atomic rename, after everything upstream of it succeeded. Thin glue over anticipate.publish."""

import dagster as dg

from orchestration.assets import WAREHOUSE_POOL, prediction_dbt_models
from orchestration.model_assets import scoring_assets
from orchestration.monitoring import model_monitoring
from orchestration.recommender_assets import next_best_products
from orchestration.resources import AnticipateSettings


@dg.asset(
    deps=[prediction_dbt_models, *scoring_assets, next_best_products, model_monitoring],
    group_name="publishing",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
)
def published_warehouse(context: dg.AssetExecutionContext, settings: AnticipateSettings) -> dg.MaterializeResult:
    """The published copy readers open read-only: a new DuckDB file renamed onto the published path, so a
    reader sees the previous publication or this one, never a mix, and never waits for the pipeline."""
    from anticipate.publish import publish_snapshot

    published = settings.published()
    published.parent.mkdir(parents=True, exist_ok=True)
    result = publish_snapshot(settings.resolve().warehouse, published)
    context.log.info(f"published {len(result.row_counts)} tables to {result.path} in {result.seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.path)),
        "tables": len(result.row_counts),
        "rows": sum(result.row_counts.values()),
        "published_at": result.published_at.isoformat(),
        "seconds": round(result.seconds, 2),
    })
