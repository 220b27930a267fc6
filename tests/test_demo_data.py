"""The demo-data generator: deterministic, contract-shaped files with realistic structure and counted dirt.

Files are generated once per module at a small size and read back with DuckDB, the way ingestion reads them.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from anticipate.contract import ORDER_STATUSES, SOURCES, WEB_EVENT_TYPES
from anticipate.demo_data import DIRTY_KINDS, FILE_NAMES, DemoDataSummary, generate_demo_data
from anticipate.demo_data import generator as generator_module

CUSTOMERS = 1_000
# Larger than the default so every kind of dirty row appears even at this size.
DIRTY_SHARE = 0.01
ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoDataSummary:
    return generate_demo_data(tmp_path_factory.mktemp("landing"), customers=CUSTOMERS, seed=7, dirty_share=DIRTY_SHARE)


@pytest.fixture(scope="module")
def db(demo: DemoDataSummary):
    """In-memory DuckDB with one table per landing file, every column as text (as ingestion reads them).

    Tables, not views over read_csv: DuckDB pushes a filter holding try_cast into the CSV scan, where it
    becomes a hard cast and fails on the deliberately unparseable timestamps.
    """
    connection = duckdb.connect()
    files = {source: str(path) for source, path in demo.files.items()}
    for source in ("customers", "products", "orders", "order_items", "product_reviews"):
        connection.execute(f"create table {source} as select * from read_csv('{files[source]}', all_varchar = true, header = true)")
    connection.execute(f"create view web_events as select * from read_parquet('{files['web_events']}')")
    objects = [json.loads(line) for line in Path(files["marketing_interactions"]).read_text().splitlines()]
    interactions = [row for row in objects if isinstance(row, dict)]
    connection.execute(
        "create table marketing_interactions as select unnest(?::json[]) as doc",
        [[json.dumps(row) for row in interactions]],
    )
    connection.execute(
        "create view marketing as select doc->>'interaction_id' as interaction_id, doc->>'customer_id' as customer_id, "
        "doc->>'interaction_type' as interaction_type, doc->>'occurred_at' as occurred_at, "
        "(doc->>'sentiment')::double as sentiment from marketing_interactions"
    )
    yield connection
    connection.close()


def scalar(db, sql: str):
    return db.execute(sql).fetchone()[0]


def test_same_arguments_give_byte_identical_files_and_another_seed_different_ones(tmp_path):
    first = generate_demo_data(tmp_path / "a", customers=300, seed=11)
    again = generate_demo_data(tmp_path / "b", customers=300, seed=11)
    other = generate_demo_data(tmp_path / "c", customers=300, seed=12)
    for file_name in FILE_NAMES.values():
        assert (tmp_path / "a" / file_name).read_bytes() == (tmp_path / "b" / file_name).read_bytes(), file_name
        assert (tmp_path / "a" / file_name).read_bytes() != (tmp_path / "c" / file_name).read_bytes(), file_name
    assert (first.rows_by_file, first.dirty_rows) == (again.rows_by_file, again.dirty_rows)
    assert sorted(path.name for path in (tmp_path / "a").iterdir()) == sorted(FILE_NAMES.values())  # no .partial left


def test_chunked_generation_keeps_ids_unique_and_counts_exact(tmp_path, monkeypatch):
    # The 1M-customer path: several chunks appended to the same files.
    monkeypatch.setattr(generator_module, "CHUNK_CUSTOMERS", 120)
    summary = generate_demo_data(tmp_path, customers=400, seed=3, dirty_share=0.01)
    connection = duckdb.connect()
    orders = f"read_csv('{tmp_path / 'orders.csv'}', all_varchar = true)"
    events = f"read_parquet('{tmp_path / 'web_events.parquet'}')"
    assert scalar(connection, f"select count(*) from {orders}") == summary.rows_by_file["orders.csv"]
    assert scalar(connection, f"select count(*) - count(distinct order_id) from {orders}") == summary.dirty_rows["duplicate_order"]
    assert scalar(connection, f"select count(*) - count(distinct event_id) from {events}") == 0
    assert scalar(connection, f"select count(*) - count(distinct session_id || anonymous_id) from (select distinct session_id, anonymous_id from {events})") == 0
    assert scalar(connection, f"select count(distinct customer_id) from read_csv('{tmp_path / 'customers.csv'}', all_varchar = true)") == 400


def test_every_file_has_exactly_the_contract_columns(demo):
    for source, path in demo.files.items():
        expected = list(SOURCES[source].column_names)
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            assert rows[0] == expected, source
            assert {len(row) for row in rows} == {len(expected)}, f"{source}: ragged rows"
            assert len(rows) - 1 == demo.rows_by_file[path.name]
        elif path.suffix == ".parquet":
            assert pq.read_schema(path).names == expected
            assert pq.read_metadata(path).num_rows == demo.rows_by_file[path.name]
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == demo.rows_by_file[path.name]
            objects = [json.loads(line) for line in lines]
            assert {tuple(row) for row in objects if isinstance(row, dict)} == {tuple(expected)}


def test_dirty_rows_in_the_files_are_exactly_those_the_summary_counts(demo, db):
    assert all(count >= 1 for count in demo.dirty_rows.values()), demo.dirty_rows
    statuses = ", ".join(f"'{status}'" for status in ORDER_STATUSES)
    event_types = ", ".join(f"'{event_type}'" for event_type in WEB_EVENT_TYPES)
    found = {
        "duplicate_order": scalar(db, "select (select count(*) from orders) - (select count(*) from (select distinct * from orders))"),
        "unparseable_ordered_at": scalar(db, "select count(*) from orders where try_cast(ordered_at as timestamptz) is null"),
        "unknown_order_status": scalar(db, f"select count(*) from orders where status not in ({statuses})"),
        "empty_product_id": scalar(db, "select count(*) from order_items where coalesce(product_id, '') = ''"),
        "non_numeric_unit_price": scalar(db, "select count(*) from order_items where try_cast(unit_price as double) is null"),
        "orphan_order_line": scalar(db, "select count(*) from order_items where order_id not in (select order_id from orders)"),
        "unknown_event_type": scalar(db, f"select count(*) from web_events where event_type not in ({event_types})"),
        "non_object_json_line": sum(
            not line.startswith("{") for line in demo.files["marketing_interactions"].read_text().splitlines()
        ),
    }
    assert found == demo.dirty_rows
    assert set(DIRTY_KINDS) == set(demo.dirty_rows)
    assert demo.dirty_rows_by_source["orders"] == sum(demo.dirty_rows[kind] for kind in DIRTY_KINDS if DIRTY_KINDS[kind] == "orders")


def test_no_dirty_rows_when_the_share_is_zero(tmp_path):
    summary = generate_demo_data(tmp_path, customers=200, seed=5, dirty_share=0)
    assert summary.total_dirty_rows == 0
    connection = duckdb.connect()
    assert scalar(connection, f"select count(*) filter (where try_cast(ordered_at as timestamptz) is null) from read_csv('{tmp_path / 'orders.csv'}', all_varchar = true)") == 0


def test_keys_are_unique_apart_from_injected_duplicates_and_customer_versions(demo, db):
    assert scalar(db, "select count(*) - count(distinct order_id) from orders") == demo.dirty_rows["duplicate_order"]
    assert scalar(db, "select count(*) from (select order_id, line_number from order_items group by all having count(*) > 1)") == 0
    assert scalar(db, "select count(*) - count(distinct product_id) from products") == 0
    assert scalar(db, "select count(*) - count(distinct event_id) from web_events") == 0
    assert scalar(db, "select count(*) - count(distinct interaction_id) from marketing") == 0
    assert scalar(db, "select count(*) - count(distinct review_id) from product_reviews") == 0
    # A customer's second version is newer and changes the email or the city; both rows stay in the file.
    versions = db.execute(
        "select count(*), count(*) filter (where newer.updated_at::timestamptz > older.updated_at::timestamptz "
        "and (newer.email <> older.email or newer.city <> older.city)) "
        "from customers older join customers newer on older.customer_id = newer.customer_id and older.updated_at < newer.updated_at"
    ).fetchone()
    assert versions[0] == versions[1] == demo.customer_versions > 0
    assert scalar(db, "select count(*) - count(distinct customer_id) from customers") == demo.customer_versions


def test_foreign_keys_resolve_apart_from_injected_orphans(demo, db):
    assert scalar(db, "select count(*) from orders where customer_id not in (select customer_id from customers)") == 0
    assert scalar(db, "select count(*) from order_items where order_id not in (select order_id from orders)") == demo.dirty_rows["orphan_order_line"]
    assert scalar(db, "select count(*) from order_items where product_id <> '' and product_id not in (select product_id from products)") == 0
    for table in ("web_events", "marketing", "product_reviews"):
        assert scalar(db, f"select count(*) from {table} where customer_id is not null and customer_id not in (select customer_id from customers)") == 0, table
    for table in ("web_events", "product_reviews"):
        assert scalar(db, f"select count(*) from {table} where product_id is not null and product_id not in (select product_id from products)") == 0, table


def test_timestamps_are_iso_8601_with_a_zone_and_within_history(demo, db):
    columns = {
        "customers": ("signup_at", "updated_at"),
        "products": ("created_at", "updated_at"),
        "orders": ("ordered_at",),
        "product_reviews": ("reviewed_at",),
        "web_events": ("occurred_at",),
        "marketing": ("occurred_at",),
    }
    for table, names in columns.items():
        for name in names:
            malformed = scalar(
                db,
                f"select count(*) from {table} where not regexp_full_match({name}, '{ISO_TIMESTAMP.pattern}') "
                f"or try_cast({name} as timestamptz) is null",
            )
            expected = demo.dirty_rows["unparseable_ordered_at"] if (table, name) == ("orders", "ordered_at") else 0
            assert malformed == expected, (table, name)
    latest = scalar(db, "select max(try_cast(ordered_at as timestamptz)) from orders")
    assert demo.history_start <= scalar(db, "select min(try_cast(ordered_at as timestamptz)) from orders") and latest < demo.history_end
    assert scalar(db, "select max(occurred_at::timestamptz) from marketing") < demo.history_end
    assert scalar(db, "select count(*) from marketing where occurred_at not like '%Z' and occurred_at not like '%+00:00'") > 0


def test_customer_text_survives_accents_quotes_and_leading_zeros(db):
    names = [row[0] + " " + row[1] for row in db.execute("select first_name, last_name from customers").fetchall()]
    assert any("'" in name for name in names)
    assert any('"' in name for name in names)
    assert any(not name.isascii() for name in names)
    assert scalar(db, "select count(*) from customers where postal_code like '0%'") > 0


def test_many_customers_lapse_but_not_all(demo, db):
    lapsed = scalar(
        db,
        "with last_order as (select customer_id, max(try_cast(ordered_at as timestamptz)) as last_at from orders group by all) "
        f"select avg(case when last_at < '{demo.history_end.isoformat()}'::timestamptz - interval 90 day then 1.0 else 0.0 end) from last_order",
    )
    assert 0.25 < lapsed < 0.9


def test_purchase_rates_are_heavy_tailed(db):
    top_fifth_share = scalar(
        db,
        "with counts as (select customer_id, count(distinct order_id) as n from orders group by all), "
        "ranked as (select n, row_number() over (order by n desc) as rank, count(*) over () as customers from counts) "
        "select sum(n) filter (where rank <= customers / 5) / sum(n) from ranked",
    )
    assert top_fifth_share > 0.45


def test_purchases_are_mostly_preceded_by_views_of_the_same_product(db):
    preceded = scalar(
        db,
        "select avg(case when exists (select 1 from web_events view where view.anonymous_id = purchase.anonymous_id "
        "and view.product_id = purchase.product_id and view.event_type = 'product_view' "
        "and view.occurred_at::timestamptz between purchase.occurred_at::timestamptz - interval 11 day and purchase.occurred_at::timestamptz) "
        "then 1.0 else 0.0 end) from web_events purchase where purchase.event_type = 'purchase'",
    )
    assert 0.75 < preceded < 1.0


def test_sessions_break_after_30_minutes_of_inactivity(db):
    gaps = db.execute(
        "with ordered as (select anonymous_id, session_id, occurred_at::timestamptz as event_time, "
        "lag(occurred_at::timestamptz) over (partition by anonymous_id order by occurred_at, event_id) as previous_at, "
        "lag(session_id) over (partition by anonymous_id order by occurred_at, event_id) as previous_session from web_events) "
        "select count(*) filter (where session_id = previous_session and event_time - previous_at > interval 30 minute), "
        "count(*) filter (where session_id <> previous_session and event_time - previous_at <= interval 30 minute), "
        "count(*) filter (where session_id <> previous_session) from ordered where previous_at is not null"
    ).fetchone()
    assert gaps[0] == 0 and gaps[1] == 0 and gaps[2] > 0
    assert scalar(db, "select count(*) from web_events where customer_id is null and anonymous_id is not null") > 0
    assert scalar(db, "select count(distinct event_type) from web_events where event_type <> 'teleport'") == len(WEB_EVENT_TYPES)


def test_november_and_december_sell_more_than_the_months_before(db):
    daily = dict(
        db.execute(
            "select case when month(ordered_time) in (11, 12) then 'peak' else 'autumn' end, count(*) / count(distinct ordered_time::date) "
            "from (select try_cast(ordered_at as timestamptz) as ordered_time from orders) "
            "where ordered_time >= '2025-09-01' and ordered_time < '2026-01-01' group by all"
        ).fetchall()
    )
    assert daily["peak"] > 1.15 * daily["autumn"]


def test_cold_start_customers_and_products_exist(demo, db):
    last_month = f"'{demo.history_end.isoformat()}'::timestamptz - interval 30 day"
    assert scalar(db, f"select count(*) from customers where signup_at::timestamptz >= {last_month} and customer_id not in (select customer_id from orders)") > 0
    assert scalar(db, f"select count(*) from products where created_at::timestamptz >= {last_month} and product_id not in (select product_id from order_items where product_id is not null)") > 0
    assert scalar(db, "select count(*) from products where is_active = 'false'") > 0
    # A discontinued product is not sold after it was discontinued.
    assert scalar(
        db,
        "select count(*) from order_items join orders using (order_id) join products using (product_id) "
        "where is_active = 'false' and try_cast(ordered_at as timestamptz) > products.updated_at::timestamptz",
    ) == 0


def test_order_life_cycle_returns_and_discounts(demo, db):
    statuses = dict(db.execute("select status, count(*) from orders group by all").fetchall())
    assert set(ORDER_STATUSES) <= set(statuses)
    recent = f"'{demo.history_end.isoformat()}'::timestamptz - interval 2 day"
    assert scalar(db, f"select count(*) from orders where try_cast(ordered_at as timestamptz) >= {recent} and status not in ('placed', 'lost_in_space')") == 0
    assert scalar(db, "select count(*) from order_items join orders using (order_id) where quantity::int < 0 and status not in ('returned', 'delivered')") == 0
    assert scalar(db, "select count(*) from order_items join (select distinct order_id from orders where status = 'returned') using (order_id) where quantity::int < 0") > 0
    assert scalar(db, "select count(*) from orders where discount_amount::double > 0") > 0
    assert scalar(db, "select count(*) from order_items where try_cast(discount_amount as double) > 0") > 0
    assert scalar(db, "select count(distinct channel) from orders") == 3


def test_repeat_purchases_and_category_preferences(db):
    repeat_share = scalar(
        db,
        "with pairs as (select customer_id, product_id, count(*) as n from order_items join orders using (order_id) "
        "where quantity::int > 0 group by all) select avg(case when n > 1 then 1.0 else 0.0 end) from pairs",
    )
    assert repeat_share > 0.05
    # Each customer concentrates on a few categories: their top category holds far more than 1/10 of lines.
    top_category_share = scalar(
        db,
        "with lines as (select customer_id, category, count(*) as n from order_items join orders using (order_id) "
        "join products using (product_id) group by all), per_customer as (select customer_id, max(n) / sum(n) as top, sum(n) as total "
        "from lines group by all) select avg(top) from per_customer where total >= 5",
    )
    assert top_category_share > 0.35


def test_some_customers_buy_mostly_discounted_items_and_the_shop_grows(demo, db):
    bargain_hunters = scalar(
        db,
        "with lines as (select customer_id, avg(case when order_items.discount_amount::double > 0 then 1.0 else 0.0 end) as discounted, count(*) as n "
        "from order_items join orders using (order_id) where try_cast(order_items.discount_amount as double) is not null and quantity::int > 0 group by all) "
        "select avg(case when discounted > 0.5 then 1.0 else 0.0 end) from lines where n >= 5",
    )
    assert 0.02 < bargain_hunters < 0.5
    middle = f"'{demo.history_start.isoformat()}'::timestamptz + interval 365 day"
    first_year, second_year = db.execute(
        f"select count(*) filter (where ordered_time < {middle}), count(*) filter (where ordered_time >= {middle}) "
        "from (select try_cast(ordered_at as timestamptz) as ordered_time from orders)"
    ).fetchone()
    assert second_year > 1.1 * first_year


def test_engaged_customers_buy_more(db):
    orders_by_engagement = dict(
        db.execute(
            "with clicks as (select customer_id, count(*) filter (where interaction_type = 'click') > 0 as clicked "
            "from marketing where interaction_type in ('send', 'open', 'click') group by all), "
            "counts as (select customer_id, count(distinct order_id) as n from orders group by all) "
            "select clicked, avg(coalesce(n, 0)) from clicks left join counts using (customer_id) group by all"
        ).fetchall()
    )
    assert orders_by_engagement[True] > 1.3 * orders_by_engagement[False]
    sentiment = db.execute("select min(sentiment), max(sentiment), count(sentiment) from marketing").fetchone()
    assert -1 <= sentiment[0] < 0 < sentiment[1] <= 1 and sentiment[2] > 0


def test_bad_arguments_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="customers must be an int between 1 and 9999999, got 0"):
        generate_demo_data(tmp_path, customers=0)
    with pytest.raises(ValueError, match="dirty_share must be"):
        generate_demo_data(tmp_path, customers=10, dirty_share=0.5)
    with pytest.raises(ValueError, match="end_date must be"):
        generate_demo_data(tmp_path, customers=10, end_date="2026-01-01")
    assert not any(tmp_path.iterdir())


def test_end_date_moves_the_history(tmp_path):
    summary = generate_demo_data(tmp_path, customers=50, seed=1, years=1.0, end_date=date(2025, 6, 30))
    assert summary.history_end.date() == date(2025, 7, 1)
    assert (summary.history_end - summary.history_start).days == 365
