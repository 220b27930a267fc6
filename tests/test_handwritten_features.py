"""The benchmark's floor computes the same table as the dbt build: the hand-written query over `raw`
against `marts.customer_features_current` built by the real `dbt build` on small demo data."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from anticipate.demo_data import generate_demo_data
from anticipate.ingest import ingest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")


def _load_handwritten_module():
    # benchmarks/ is a folder of scripts run from the repository root, not an installed package, and
    # pytest puts only tests/ on sys.path: load it from its file
    path = REPOSITORY_ROOT / "benchmarks" / "handwritten_features.py"
    spec = importlib.util.spec_from_file_location("handwritten_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handwritten_current_features_sql = _load_handwritten_module().handwritten_current_features_sql

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 demo customers (with the generator's dirty rows), ingested and built up to the current features."""
    folder = tmp_path_factory.mktemp("handwritten_features")
    landing, warehouse = folder / "landing", folder / "anticipate.duckdb"
    generate_demo_data(landing, customers=300, seed=3)
    ingest(landing, warehouse)
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), "build", "--project-dir", str(REPOSITORY_ROOT), "--profiles-dir", str(REPOSITORY_ROOT),
         "--target-path", str(folder / "target"), "--select", "+customer_features_current",
         "--exclude-resource-type", "test", "unit_test"],
        env=env, cwd=REPOSITORY_ROOT, capture_output=True, text=True,
    )
    assert completed.returncode == 0, f"dbt build failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}"
    return warehouse


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in connection.execute(f"describe {table}").fetchall()]


def _values_equal(expected: object, actual: object) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        # sums run in another order than dbt's per-day pre-aggregation; a difference that nets to zero
        # (revenue trend, cancelled money) can leave rounding dust, hence the tiny absolute tolerance
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9)
    return expected == actual


def test_handwritten_query_matches_dbt_current_features_row_for_row(built_warehouse: Path) -> None:
    with duckdb.connect(str(built_warehouse)) as connection:
        connection.execute(handwritten_current_features_sql())
        dbt_columns = _columns(connection, "marts.customer_features_current")
        assert _columns(connection, "handwritten_features") == dbt_columns

        order = "order by customer_id"
        expected = connection.execute(f"select * from marts.customer_features_current {order}").fetchall()
        actual = connection.execute(f"select * from handwritten_features {order}").fetchall()

        # the comparison must cover real behaviour, not empty or all-null features
        assert len(expected) >= 250
        coverage = connection.execute(
            """
            select
                count(*) filter (where purchase_orders_lifetime > 0),
                count(*) filter (where units_returned_lifetime > 0),
                count(*) filter (where sessions_90d > 0),
                count(*) filter (where email_opens_90d > 0),
                count(*) filter (where reviews_lifetime > 0),
                count(*) filter (where price_to_category_median_ratio is not null),
            from marts.customer_features_current
            """
        ).fetchone()
        assert min(coverage) > 0, f"demo data no longer exercises every feature group: {coverage}"

    assert [row[0] for row in actual] == [row[0] for row in expected], "not the same customers"
    names = [name for name, _ in dbt_columns]
    mismatches = [
        f"{expected_row[0]} {name}: dbt {expected_value!r}, hand-written {actual_value!r}"
        for expected_row, actual_row in zip(expected, actual)
        for name, expected_value, actual_value in zip(names, expected_row, actual_row)
        if not _values_equal(expected_value, actual_value)
    ]
    assert not mismatches, f"{len(mismatches)} values differ:\n" + "\n".join(mismatches[:20])


def test_benchmark_entry_point_reports_rows_and_leaves_the_warehouse_unchanged(built_warehouse: Path) -> None:
    with duckdb.connect(str(built_warehouse), read_only=True) as connection:
        tables_before = connection.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall()
        customers = connection.execute("select count(*) from marts.customer_features_current").fetchone()[0]

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.handwritten_features", str(built_warehouse)],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"{customers:,} rows" in completed.stdout

    with duckdb.connect(str(built_warehouse), read_only=True) as connection:
        assert connection.execute("select schema_name, table_name from duckdb_tables() order by all").fetchall() == tables_before
