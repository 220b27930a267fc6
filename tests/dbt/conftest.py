"""Build helpers for the dbt project tests: a temporary DuckDB warehouse with the raw tables created
from the source contract, a small hand-written fixture, and the real `dbt build` run as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from anticipate.contract import INGESTION_LOG_DDL, REJECTED_ROWS_DDL, SOURCES, raw_table_ddl

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")

# Emails, phones and names of the fixture: no table after staging may hold any of them.
FIXTURE_PII_VALUES = (
    "Alice@Example.com",
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "+44 20 7946 0001",
    "+1 555 0100",
    "Alice",
    "Liddell",
    "Bob",
    "Builder",
    "Carol",
    "Danvers",
    "SW1A 1AA",
    "London",
)

BATCH_1 = ("batch-1", "2024-08-10 00:00:00+00")
BATCH_2 = ("batch-2", "2024-08-11 00:00:00+00")

# Rows per source: (batch, values in contract column order). Times are UTC.
FIXTURE_ROWS: dict[str, list[tuple[tuple[str, str], tuple]]] = {
    "customers": [
        # alice's newer version (updated 2024-02-01) arrives first; an older version re-sent by a later
        # batch must not win: updated_at decides before load order.
        (BATCH_1, ("c1", "Alice@Example.com", "Alice", "Liddell", "+44 20 7946 0001", "United Kingdom", "London",
                   "SW1A 1AA", "2024-01-05 09:00:00+00", "1990-03-01", "F", None, True, "2024-02-01 00:00:00+00")),
        (BATCH_2, ("c1", "alice@example.com", "Alice", "Liddell", None, "France", "Paris",
                   "75001", "2024-01-05 09:00:00+00", "1990-03-01", "F", None, True, "2024-01-05 09:00:00+00")),
        (BATCH_1, ("c2", "bob@example.com", "Bob", "Builder", "+1 555 0100", "us", "Boston",
                   "02101", "2024-01-10 12:00:00+00", None, "male", "35-44", False, "2024-01-10 12:00:00+00")),
        (BATCH_1, ("c3", "carol@example.com", "Carol", "Danvers", None, "DEU", "Berlin",
                   "10115", "2024-03-20 08:00:00+00", "1975-07-04", None, None, None, "2024-03-20 08:00:00+00")),
    ],
    "products": [
        (BATCH_1, ("p1", "Trail shoe", "Shoes", "Running", "Acme", 100.0, "EUR", "2023-06-01 00:00:00+00", True,
                   "2023-06-01 00:00:00+00")),
        (BATCH_1, ("p2", "Road shoe", "shoes ", "Running", "Acme", 60.0, "EUR", "2023-06-01 00:00:00+00", True,
                   "2023-06-01 00:00:00+00")),
        (BATCH_1, ("p3", "Field guide", "Books", "Nature", "Pub", 20.0, "EUR", "2023-06-01 00:00:00+00", True,
                   "2023-06-01 00:00:00+00")),
    ],
    "orders": [
        (BATCH_1, ("o1", "c1", "2024-01-10 10:00:00+00", "delivered", "web", "EUR", 5.0, 0.0)),
        (BATCH_1, ("o2", "c1", "2024-02-15 12:00:00+00", "delivered", "web", "EUR", 0.0, 5.0)),
        (BATCH_1, ("o3", "c1", "2024-02-29 23:00:00+00", "delivered", "web", "EUR", 0.0, 0.0)),
        (BATCH_1, ("o4", "c1", "2024-03-01 00:30:00+00", "delivered", "web", "EUR", 0.0, 0.0)),
        # o5 was placed, then cancelled: the later batch corrects it
        (BATCH_1, ("o5", "c2", "2024-01-20 09:00:00+00", "placed", "app", "EUR", 0.0, 0.0)),
        (BATCH_2, ("o5", "c2", "2024-01-20 09:00:00+00", "cancelled", "app", "EUR", 0.0, 0.0)),
        (BATCH_1, ("o6", "c2", "2024-02-05 15:00:00+00", "delivered", "web", "EUR", 4.0, 0.0)),
        # c9 is not in the customer export: it gets a placeholder customer
        (BATCH_1, ("o7", "c9", "2024-02-10 10:00:00+00", "delivered", "store", "EUR", 0.0, 0.0)),
        (BATCH_1, ("o8", "c2", "2024-03-10 10:00:00+00", "delivered", "web", "EUR", 0.0, 0.0)),
        (BATCH_1, ("o10", "c3", "2024-08-05 10:00:00+00", "shipped", "web", "EUR", 0.0, 0.0)),
    ],
    "order_items": [
        (BATCH_1, ("o1", 1, "p1", 1.0, 100.0, 10.0)),
        (BATCH_1, ("o1", 2, "p3", 2.0, 20.0, 0.0)),
        (BATCH_1, ("o2", 1, "p2", 1.0, 60.0, 0.0)),
        (BATCH_1, ("o3", 1, "p3", 1.0, 20.0, 0.0)),
        (BATCH_1, ("o4", 1, "p1", 1.0, 100.0, 0.0)),
        (BATCH_1, ("o5", 1, "p1", 2.0, 100.0, 0.0)),
        (BATCH_1, ("o6", 1, "p2", 2.0, 60.0, 0.0)),
        (BATCH_1, ("o6", 2, "p2", -1.0, 60.0, 0.0)),  # one unit returned
        (BATCH_1, ("o7", 1, "p9", 1.0, 30.0, 0.0)),  # p9 is not in the catalogue: placeholder product
        (BATCH_1, ("o8", 1, "p3", 1.0, 20.0, 0.0)),
        (BATCH_1, ("o10", 1, "p3", 3.0, 20.0, 0.0)),
    ],
    "web_events": [
        # c1 browses on 2024-02-20: a 30-minute gap stays in the session, a 31-minute gap starts a new one
        (BATCH_1, ("e1", "s1", "c1", "anon-1", "product_view", "p1", "2024-02-20 10:00:00+00", "/p/p1", None, "mobile")),
        (BATCH_1, ("e2", "s1", "c1", "anon-1", "add_to_cart", "p1", "2024-02-20 10:20:00+00", "/cart", None, "mobile")),
        (BATCH_1, ("e3", "s1", "c1", "anon-1", "product_view", "p2", "2024-02-20 10:50:00+00", "/p/p2", None, "mobile")),
        (BATCH_1, ("e4", "s1", "c1", "anon-1", "product_view", "p3", "2024-02-20 11:21:00+00", "/p/p3", None, "mobile")),
        (BATCH_1, ("e5", "s2", "c1", "anon-1", "product_view", "p1", "2024-03-01 08:00:00+00", "/p/p1", None, "mobile")),
        # an anonymous visitor: sessionised on the anonymous id, never a customer feature
        (BATCH_1, ("e6", None, None, "anon-7", "page_view", None, "2024-02-21 09:00:00+00", "/", None, "desktop")),
        (BATCH_1, ("e7", None, None, "anon-7", "product_view", "p2", "2024-02-21 09:05:00+00", "/p/p2", None, "desktop")),
        # e7 re-sent by the later batch with its page corrected: staging keeps the correction only
        (BATCH_2, ("e7", None, None, "anon-7", "product_view", "p2", "2024-02-21 09:05:00+00", "/p/p2?corrected", None,
                   "desktop")),
    ],
    # marketing_interactions and product_reviews stay empty: optional sources may be
}


@dataclass(frozen=True)
class DbtRun:
    """Outcome of one `dbt` invocation."""

    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    run_results: dict


def create_raw_tables(warehouse: Path) -> None:
    """Raw tables exactly as ingestion creates them, from the source contract."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists raw")
        for source_name in SOURCES:
            con.execute(raw_table_ddl(source_name))
        con.execute(REJECTED_ROWS_DDL)
        con.execute(INGESTION_LOG_DDL)


def insert_fixture(warehouse: Path, rows: dict[str, list] = FIXTURE_ROWS) -> None:
    with duckdb.connect(str(warehouse)) as con:
        for source_name, source_rows in rows.items():
            columns = SOURCES[source_name].column_names + ("_batch_id", "_source_file", "_row_number", "_loaded_at")
            placeholders = ", ".join("?" for _ in columns)
            for row_number, ((batch_id, loaded_at), values) in enumerate(source_rows, start=1):
                con.execute(
                    f"insert into raw.{source_name} ({', '.join(columns)}) values ({placeholders})",
                    [*values, batch_id, f"{source_name}_{batch_id}.csv", row_number, loaded_at],
                )


def run_dbt(warehouse: Path, target_path: Path, *args: str, vars: dict | None = None) -> DbtRun:
    """Run the real dbt CLI against `warehouse`, with its own target path so parallel tests don't clash."""
    command = [
        str(DBT_EXECUTABLE), *args,
        "--project-dir", str(REPO_ROOT),
        "--profiles-dir", str(REPO_ROOT),
        "--target-path", str(target_path),
    ]
    if vars:
        command += ["--vars", json.dumps(vars)]
    env = {
        **os.environ,
        "ANTICIPATE_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(target_path / "logs"),
    }
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    results_file = target_path / "run_results.json"
    run_results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return DbtRun(tuple(args), completed.returncode, completed.stdout + completed.stderr, seconds, run_results)


def build_warehouse(warehouse: Path, target_path: Path, *, vars: dict | None = None) -> DbtRun:
    """A plain `dbt build`, as a developer or CI runs it: seeds, models, data tests and unit tests in one go
    (the daily job's build is the same without the unit tests: orchestration.assets.PRODUCTION_BUILD_ARGS).

    The raw tables must exist (ingestion creates them, empty for a source without a file). Unit tests read
    their inputs' columns from the warehouse; `dbt build` runs each unit test after its model's parents,
    so one plain build works on a fresh warehouse too (checked by test_a_fresh_warehouse_builds_in_one_pass).
    """
    return run_dbt(warehouse, target_path, "build", vars=vars)


def assert_succeeded(run: DbtRun) -> None:
    assert run.returncode == 0, f"dbt {' '.join(run.args)} failed:\n{run.output[-6000:]}"


# Modules that use this fixture share one xdist group, so the build runs once per worker session.
XDIST_GROUP = "dbt_fixture_warehouse"


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory) -> tuple[Path, DbtRun]:
    """A fresh warehouse holding the fixture, built once per session (read-only for tests: copy to change)."""
    folder = tmp_path_factory.mktemp("warehouse")
    warehouse = folder / "anticipate.duckdb"
    create_raw_tables(warehouse)
    insert_fixture(warehouse)
    return warehouse, build_warehouse(warehouse, folder / "target")


def copy_built_warehouse(fixture_warehouse: tuple[Path, DbtRun], tmp_path_factory, name: str) -> tuple[Path, Path]:
    """A copy of the built fixture warehouse for a test module to change: (warehouse, its folder)."""
    warehouse, build = fixture_warehouse
    assert_succeeded(build)
    folder = tmp_path_factory.mktemp(name)
    copy = folder / "anticipate.duckdb"
    shutil.copyfile(warehouse, copy)
    return copy, folder


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
