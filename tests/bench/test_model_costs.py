"""The per-model cost benchmark on a small built warehouse: it measures the models dbt builds, in dbt's
order, and leaves the warehouse as it found it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from benchmarks.model_costs import SCRATCH_SCHEMA, compiled_table_models, measure, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, build_demo_warehouse) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("model_costs"), customers=200, seed=3, years=1.0,
                                end_date=date(2026, 10, 15), select=("+customer_features_current",))


def _tables(warehouse: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        names = connection.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall()
        return {(schema, table): connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                for schema, table in names}


def test_each_table_model_is_measured_in_dbt_order_with_the_rows_dbt_built(warehouse, tmp_path):
    before = _tables(warehouse)
    models = compiled_table_models(warehouse, "+customer_features_current", tmp_path / "target")
    names = [name for name, _ in models]
    # sources first, the mart last; views (fct_sessions) and seeds are not dbt's table builds
    assert names[-1] == "customer_features_current" and names.index("stg_web_events") < names.index("int_web_events_sessionized")
    assert "fct_sessions" not in names and "event_types" not in names and len(names) == len(set(names))

    costs = measure(warehouse, models, echo=False)
    assert [cost.model for cost in costs] == names
    built = {table: rows for (_, table), rows in before.items()}
    assert {cost.model: cost.rows for cost in costs} == {name: built[name] for name in names}
    assert all(cost.create_seconds > 0 and cost.select_cpu_seconds >= 0 for cost in costs)
    # the copies are gone and the warehouse's own tables are untouched
    after = _tables(warehouse)
    assert after == before and not any(schema == SCRATCH_SCHEMA for schema, _ in after)

    table = render(costs, warehouse=warehouse, select="+customer_features_current")
    assert table.count("\n| ") == len(costs) + 2  # the header, a row per model, the total
