"""Prediction tables: the published columns, and atomic replacement that never leaves readers a broken table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.prediction_tables import PREDICTION_TABLES, described_columns, ensure_prediction_tables, replace_table

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def propensity_rows(version: str, customers: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(customers)],
        "horizon_days": 30,
        "probability": [0.1 * (i + 1) for i in range(customers)],
        "scored_at": pd.Timestamp("2026-11-01", tz="UTC"),
        "model_version": version,
    })


@pytest.fixture
def connection(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        ensure_prediction_tables(connection)
        yield connection


def test_replace_swaps_in_the_new_rows_and_leaves_no_staging_table(connection):
    assert replace_table(connection, "predictions.purchase_propensity", propensity_rows("v1")) == 3
    assert replace_table(connection, "predictions.purchase_propensity", propensity_rows("v2", customers=5)) == 5
    assert connection.execute("select model_version, count(*) from predictions.purchase_propensity group by 1").fetchall() == [("v2", 5)]
    tables = {row[0] for row in connection.execute("select table_name from information_schema.tables where table_schema = 'predictions'").fetchall()}
    assert tables == {table.split(".")[1] for table in PREDICTION_TABLES}


def test_a_run_that_fails_before_the_swap_leaves_the_previous_predictions(connection):
    replace_table(connection, "predictions.purchase_propensity", propensity_rows("v1"))

    def killed() -> None:
        raise KeyboardInterrupt("scoring run killed")

    with pytest.raises(KeyboardInterrupt):
        replace_table(connection, "predictions.purchase_propensity", propensity_rows("v2", customers=7), before_swap=killed)
    assert connection.execute("select model_version, count(*) from predictions.purchase_propensity group by 1").fetchall() == [("v1", 3)]
    # and the next run still works
    replace_table(connection, "predictions.purchase_propensity", propensity_rows("v3"))
    assert connection.execute("select distinct model_version from predictions.purchase_propensity").fetchall() == [("v3",)]


def test_a_value_that_does_not_fit_the_published_type_fails_before_anything_is_replaced(connection):
    replace_table(connection, "predictions.purchase_propensity", propensity_rows("v1"))
    broken = propensity_rows("v2").astype({"horizon_days": object})
    broken.loc[1, "horizon_days"] = "thirty"
    with pytest.raises(duckdb.ConversionException):
        replace_table(connection, "predictions.purchase_propensity", broken)
    assert connection.execute("select distinct model_version from predictions.purchase_propensity").fetchall() == [("v1",)]


def test_rows_must_have_exactly_the_published_columns(connection):
    with pytest.raises(ValueError, match=r"missing \['model_version'\], unexpected \['version'\]"):
        replace_table(connection, "predictions.purchase_propensity", propensity_rows("v1").rename(columns={"model_version": "version"}))
    with pytest.raises(ValueError, match="table must be one of"):
        replace_table(connection, "marts.dim_customers", propensity_rows("v1"))


def test_a_reader_in_another_connection_sees_old_or_new_rows_never_a_mix(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    database = duckdb.connect(str(path))
    ensure_prediction_tables(database)
    replace_table(database, "predictions.purchase_propensity", propensity_rows("v1", customers=4))
    reader = database.cursor()  # a second connection to the same database
    for version, customers in (("v2", 6), ("v3", 2), ("v4", 9)):
        replace_table(database, "predictions.purchase_propensity", propensity_rows(version, customers))
        seen = reader.execute("select list(distinct model_version), count(*) from predictions.purchase_propensity").fetchone()
        assert seen == ([version], customers)
    database.close()


def test_dbt_creates_the_same_empty_tables_before_anything_has_scored(tmp_path):
    """The on-run-start hook and ml.prediction_tables must publish identical columns."""
    warehouse = tmp_path / "fresh.duckdb"
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_PROFILES_DIR": str(REPOSITORY_ROOT)}
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "seed", "--select", "order_statuses", "--project-dir",
         str(REPOSITORY_ROOT), "--target-path", str(tmp_path / "target")],
        cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table, columns in PREDICTION_TABLES.items():
            assert described_columns(connection, table) == columns, table
