"""The benchmark's floor computes the same table as the dbt build: the hand-written query over `raw`
against `marts.customer_features_current` built by the real `dbt build` on small demo data."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


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

FIRST, CORRECTION = ("edge-1", "2027-01-01 00:00:00+00"), ("edge-2", "2027-01-02 00:00:00+00")

# A batch loaded after the demo data, with the cases the demo data rarely or never holds: corrections
# re-sent in a later batch, untrimmed ids and codes, missing statuses and line numbers, a category tie, a
# category netted below zero, a customer missing from the CRM, a session exactly at the timeout, and
# sessions straddling the 90-day window's start (they ended inside it, so they count: a session belongs to
# the day it ended), one of them a customer's only session in the window.
# Dates stay before the demo data's last day (2026-10-31), so the scoring date is the demo data's.
EDGE_CASE_ROWS: dict[str, list[tuple[tuple[str, str], dict]]] = {
    "customers": [
        (FIRST, {"customer_id": "edge-c1", "signup_at": "2026-09-01 12:00:00+00", "updated_at": "2026-09-02 00:00:00+00"}),
        # an older version re-sent later: updated_at decides before load order
        (CORRECTION, {"customer_id": "edge-c1", "signup_at": "2026-07-15 12:00:00+00", "updated_at": "2026-09-01 00:00:00+00"}),
        (FIRST, {"customer_id": " edge-c2 ", "signup_at": None}),  # no sign-up: tenure from the first order
        (FIRST, {"customer_id": "  ", "signup_at": "2026-09-01 12:00:00+00"}),  # blank id: not a customer
        (FIRST, {"customer_id": "edge-c3", "signup_at": "2026-06-01 12:00:00+00"}),  # browses only
    ],
    "products": [
        (FIRST, {"product_id": "edge-p1", "category": " Shoes "}),
        (FIRST, {"product_id": "edge-p2", "category": "BOOKS"}),
        (FIRST, {"product_id": "edge-p3", "category": " "}),  # blank category: 'unknown'
    ],
    "orders": [
        (FIRST, {"order_id": "edge-o1", "customer_id": "edge-c1", "ordered_at": "2026-10-05 10:00:00+00", "status": " Delivered", "discount_amount": 5.0}),
        (FIRST, {"order_id": "edge-o2", "customer_id": "edge-c1", "ordered_at": "2026-10-06 10:00:00+00", "status": "placed"}),
        (CORRECTION, {"order_id": "edge-o2", "customer_id": "edge-c1", "ordered_at": "2026-10-06 10:00:00+00", "status": "cancelled"}),
        (FIRST, {"order_id": "edge-o3", "customer_id": "edge-c1", "ordered_at": "2026-08-01 10:00:00+00", "status": None}),
        (FIRST, {"order_id": "edge-o4", "customer_id": "edge-c1", "ordered_at": "2026-10-07 10:00:00+00", "status": "returned"}),
        (FIRST, {"order_id": "edge-o5", "customer_id": "edge-c1", "ordered_at": "2026-10-08 10:00:00+00", "status": "delivered"}),
        (FIRST, {"order_id": "edge-o6", "customer_id": " edge-c2", "ordered_at": "2026-10-09 10:00:00+00", "status": "shipped"}),
        (FIRST, {"order_id": "edge-o7", "customer_id": "edge-c9", "ordered_at": "2026-10-10 10:00:00+00", "status": "delivered"}),
    ],
    "order_items": [
        (FIRST, {"order_id": "edge-o1", "line_number": 1, "product_id": "edge-p1", "quantity": 2.0, "unit_price": 50.0, "discount_amount": 10.0}),
        (FIRST, {"order_id": "edge-o1", "line_number": 2, "product_id": "edge-p3", "quantity": 1.0, "unit_price": 20.0}),
        (FIRST, {"order_id": "edge-o2", "line_number": 1, "product_id": "edge-p1", "quantity": 1.0, "unit_price": 50.0}),
        (CORRECTION, {"order_id": "edge-o2", "line_number": 1, "product_id": "edge-p1", "quantity": 3.0, "unit_price": 50.0}),
        (FIRST, {"order_id": "edge-o3", "line_number": None, "product_id": "edge-p2", "quantity": 1.0, "unit_price": 30.0}),
        (FIRST, {"order_id": "edge-o3", "line_number": None, "product_id": "edge-p2", "quantity": 2.0, "unit_price": 15.0, "discount_amount": 3.0}),
        (FIRST, {"order_id": "edge-o4", "line_number": 1, "product_id": "edge-p1", "quantity": 2.0, "unit_price": 40.0}),
        (FIRST, {"order_id": "edge-o4", "line_number": 2, "product_id": "edge-p1", "quantity": -1.0, "unit_price": 40.0}),
        (FIRST, {"order_id": "edge-o5", "line_number": 1, "product_id": "edge-p2", "quantity": -2.0, "unit_price": 15.0, "discount_amount": 1.0}),
        # equal spend on two categories: the alphabetically first wins
        (FIRST, {"order_id": "edge-o6", "line_number": 1, "product_id": "edge-p1", "quantity": 1.0, "unit_price": 25.0}),
        (FIRST, {"order_id": "edge-o6", "line_number": 2, "product_id": "edge-p2", "quantity": 1.0, "unit_price": 25.0}),
        # discounted below zero: a negative category must not count against the top category's share
        (FIRST, {"order_id": "edge-o6", "line_number": 3, "product_id": "edge-p3", "quantity": 1.0, "unit_price": 5.0, "discount_amount": 8.0}),
        (FIRST, {"order_id": "edge-o7", "line_number": 1, "product_id": "edge-p2", "quantity": 1.0, "unit_price": 999.0}),
        (FIRST, {"order_id": "edge-o99", "line_number": 1, "product_id": "edge-p1", "quantity": 1.0, "unit_price": 10.0}),
    ],
    "web_events": [
        (FIRST, {"event_id": "edge-e1", "customer_id": "edge-c1", "event_type": "product_view", "occurred_at": "2026-10-01 10:00:00+00"}),
        (FIRST, {"event_id": "edge-e2", "customer_id": "edge-c1", "event_type": " Add_To_Cart", "occurred_at": "2026-10-01 10:30:00+00"}),
        (FIRST, {"event_id": "edge-e3", "customer_id": "edge-c1", "event_type": "product_view", "occurred_at": "2026-10-01 11:00:00.5+00"}),
        (FIRST, {"event_id": "edge-e4", "customer_id": "edge-c1", "event_type": "page_view", "occurred_at": "2026-10-01 11:00:00.5+00"}),
        (FIRST, {"event_id": "edge-e5", "customer_id": "edge-c1", "event_type": "product_view", "occurred_at": "2026-07-01 10:00:00+00"}),
        (FIRST, {"event_id": "edge-e6", "customer_id": "edge-c1", "event_type": "page_view", "occurred_at": "2026-08-02 23:50:00+00"}),
        (FIRST, {"event_id": "edge-e7", "customer_id": "edge-c1", "event_type": "product_view", "occurred_at": "2026-08-03 00:10:00+00"}),
        (FIRST, {"event_id": "edge-e8", "customer_id": "edge-c1", "event_type": "add_to_cart", "occurred_at": "2026-10-20 10:00:00+00"}),
        (CORRECTION, {"event_id": "edge-e8", "customer_id": None, "anonymous_id": "anon-edge", "event_type": "add_to_cart", "occurred_at": "2026-10-20 10:00:00+00"}),
        (FIRST, {"event_id": "edge-e9", "customer_id": " edge-c2 ", "event_type": "product_view", "occurred_at": "2026-10-21 10:00:00+00"}),
        # edge-c3's only session of the window started the day before it
        (FIRST, {"event_id": "edge-e10", "customer_id": "edge-c3", "event_type": "page_view", "occurred_at": "2026-08-02 23:40:00+00"}),
        (FIRST, {"event_id": "edge-e11", "customer_id": "edge-c3", "event_type": "product_view", "occurred_at": "2026-08-03 00:05:00+00"}),
    ],
    "marketing_interactions": [
        (FIRST, {"interaction_id": "edge-m1", "customer_id": "edge-c1", "channel": " Newsletter ", "interaction_type": "open", "occurred_at": "2026-10-01 08:00:00+00"}),
        (FIRST, {"interaction_id": "edge-m2", "customer_id": "edge-c1", "channel": "e-mail", "interaction_type": "CLICK", "occurred_at": "2026-10-02 08:00:00+00"}),
        (FIRST, {"interaction_id": "edge-m3", "customer_id": "edge-c1", "channel": "Instagram", "interaction_type": "like", "occurred_at": "2026-10-03 08:00:00+00", "sentiment": 0.5}),
        (FIRST, {"interaction_id": "edge-m4", "customer_id": "edge-c1", "channel": "carrier pigeon", "interaction_type": "comment", "occurred_at": "2026-10-03 09:00:00+00", "sentiment": -0.25}),
        (FIRST, {"interaction_id": "edge-m5", "customer_id": "edge-c1", "channel": "facebook", "interaction_type": "send", "occurred_at": "2026-10-04 08:00:00+00"}),
        (FIRST, {"interaction_id": "edge-m6", "customer_id": "edge-c1", "channel": "email", "interaction_type": "open", "occurred_at": "2026-10-05 08:00:00+00"}),
        (CORRECTION, {"interaction_id": "edge-m6", "customer_id": "edge-c1", "channel": "email", "interaction_type": "click", "occurred_at": "2026-10-05 08:00:00+00"}),
    ],
    "product_reviews": [
        (FIRST, {"review_id": "edge-r1", "customer_id": "edge-c1", "product_id": "edge-p1", "rating": 4.0, "reviewed_at": "2026-10-10 08:00:00+00"}),
        (CORRECTION, {"review_id": "edge-r1", "customer_id": "edge-c1", "product_id": "edge-p1", "rating": 2.0, "reviewed_at": "2026-10-10 08:00:00+00"}),
        (FIRST, {"review_id": "edge-r2", "customer_id": "edge-c1", "product_id": "edge-p2", "rating": None, "reviewed_at": "2026-10-11 08:00:00+00"}),
    ],
}


def _insert_edge_cases(warehouse: Path) -> None:
    """Straight into `raw`, as a later batch would land (ingestion would clean some of these itself)."""
    with duckdb.connect(str(warehouse)) as connection:
        for source, rows in EDGE_CASE_ROWS.items():
            for row_number, ((batch_id, loaded_at), values) in enumerate(rows, start=1):
                columns = [*values, "_batch_id", "_source_file", "_row_number", "_loaded_at"]
                connection.execute(
                    f"insert into raw.{source} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
                    [*values.values(), batch_id, f"{source}_{batch_id}.csv", row_number, loaded_at],
                )


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory, build_demo_warehouse) -> Path:
    """300 demo customers (with the generator's dirty rows) and the edge cases, built up to the current features."""
    return build_demo_warehouse(tmp_path_factory.mktemp("handwritten_features"), customers=300, seed=3,
                                select=("+customer_features_current",), before_build=_insert_edge_cases)


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
        edge_customers = connection.execute(
            "select customer_id, top_category, sessions_90d, average_session_minutes_90d, product_views_90d"
            " from marts.customer_features_current where customer_id like 'edge-%' order by 1"
        ).fetchall()
        # scoring date 2026-11-01: the window starts 2026-08-03. edge-c1's sessions: 10:00-10:30 (a gap of
        # exactly the timeout), 11:00:00.5 alone, and 23:50-00:10 across the window's start (20 minutes);
        # edge-c3's 23:40-00:05 across it too. Only views inside the window count.
        assert edge_customers == [
            ("edge-c1", "shoes", 3, pytest.approx((30 + 0 + 20) / 3), 3),
            ("edge-c2", "books", 1, 0.0, 1),
            ("edge-c3", None, 1, 25.0, 1),
        ]

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
