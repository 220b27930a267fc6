"""The prediction tables BI tools and applications read, and their atomic replacement.

A scoring run builds the new table beside the old one and swaps it in inside one transaction: readers
see the old predictions or the new ones, and a run that fails or is killed midway leaves the old table
intact. The column lists here are the published interface; dbt's `create_prediction_tables` macro
creates the same tables empty so `dbt build` works before any model has scored (a test checks both
definitions agree).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

__all__ = ["PREDICTION_TABLES", "replace_table", "ensure_prediction_tables", "described_columns"]

#: table -> ordered (column, DuckDB type). Every column is NOT NULL except where a model may not know.
PREDICTION_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "predictions.churn_scores": (
        ("customer_id", "varchar"),
        ("scored_at", "timestamp with time zone"),
        ("model_version", "varchar"),
        ("churn_probability", "double"),
        ("risk_band", "varchar"),
        ("top_drivers", "json"),
    ),
    "predictions.purchase_propensity": (
        ("customer_id", "varchar"),
        ("horizon_days", "integer"),
        ("probability", "double"),
        ("scored_at", "timestamp with time zone"),
        ("model_version", "varchar"),
    ),
    "predictions.customer_lifetime_value": (
        ("customer_id", "varchar"),
        ("horizon_days", "integer"),
        ("expected_purchases", "double"),
        ("expected_revenue", "double"),
        ("p_alive", "double"),
        ("scored_at", "timestamp with time zone"),
        ("model_version", "varchar"),
    ),
    "predictions.next_best_products": (
        ("customer_id", "varchar"),
        ("rank", "integer"),
        ("product_id", "varchar"),
        ("score", "double"),
        ("reason", "varchar"),
        ("model_version", "varchar"),
        ("scored_at", "timestamp with time zone"),
    ),
    "predictions.similar_products": (
        ("product_id", "varchar"),
        ("rank", "integer"),
        ("similar_product_id", "varchar"),
        ("score", "double"),
        ("model_version", "varchar"),
        ("scored_at", "timestamp with time zone"),
    ),
}


def _create_statement(table: str, columns: tuple[tuple[str, str], ...], *, if_not_exists: bool) -> str:
    body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
    return f"create table {'if not exists ' if if_not_exists else ''}{table} ({body})"


def ensure_prediction_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the prediction tables empty where missing (a warehouse nothing has scored yet)."""
    connection.execute("create schema if not exists predictions")
    for table, columns in PREDICTION_TABLES.items():
        connection.execute(_create_statement(table, columns, if_not_exists=True))


def described_columns(connection: duckdb.DuckDBPyConnection, table: str) -> tuple[tuple[str, str], ...]:
    """(column, lower-case DuckDB type) of `table` as the warehouse has it, in order: compare with PREDICTION_TABLES."""
    schema, name = table.split(".")
    return tuple(connection.execute(
        "select column_name, lower(data_type) from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position", [schema, name]
    ).fetchall())


def replace_table(connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, *,
                  before_swap: Callable[[], None] | None = None) -> int:
    """Replace `table` (a key of PREDICTION_TABLES) by the rows of `frame`, atomically; returns the row count.

    `frame` must hold exactly the table's columns (any order). Values are cast to the published types
    inside DuckDB, so a value that does not fit raises before anything is swapped.
    `before_swap` runs after the new rows are written and before the old table is dropped; tests use it
    to fail a run at the worst moment.
    """
    if table not in PREDICTION_TABLES:
        raise ValueError(f"table must be one of {', '.join(PREDICTION_TABLES)}, got {table!r}")
    columns = PREDICTION_TABLES[table]
    expected = [name for name, _ in columns]
    if sorted(frame.columns) != sorted(expected):
        missing = sorted(set(expected) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(expected))
        raise ValueError(f"rows for {table} must have columns {expected}; missing {missing}, unexpected {extra}")
    schema, name = table.split(".")
    staging_name = f"{name}__next"
    view_name = f"_anticipate_rows_{name}"
    connection.register(view_name, frame)
    try:
        connection.execute("begin transaction")
        try:
            connection.execute(f"drop table if exists {schema}.{staging_name}")
            connection.execute(_create_statement(f"{schema}.{staging_name}", columns, if_not_exists=False))
            selected = ", ".join(f'cast("{column}" as {kind})' for column, kind in columns)
            connection.execute(f"insert into {schema}.{staging_name} select {selected} from {view_name}")
            if before_swap is not None:
                before_swap()
            connection.execute(f"drop table if exists {table}")
            connection.execute(f"alter table {schema}.{staging_name} rename to {name}")
            connection.execute("commit")
        except BaseException:
            connection.execute("rollback")
            raise
    finally:
        connection.unregister(view_name)
    return len(frame)
