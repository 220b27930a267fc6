"""The real `dbt build` on a fresh fixture warehouse: it passes, and the marts hold the known answers."""

from __future__ import annotations

import re
from datetime import date

import pytest

from anticipate.config import SCHEMAS

from conftest import FIXTURE_PII_VALUES, XDIST_GROUP, assert_succeeded, query

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(XDIST_GROUP)]

AS_OF = date(2024, 3, 1)
# a column named for a person's identifier, alone or prefixed (customer_email); `email_opens` is a count
PII_COLUMN_PATTERN = re.compile(
    r"(.*_)?(e?mail|email_address|phone|phone_number|mobile|first_name|last_name|full_name|customer_name|person_name"
    r"|name_of_person|city|postal_code|zip|zip_code|birth_date|date_of_birth|dob|street|address)"
)


@pytest.fixture(scope="module")
def warehouse(fixture_warehouse):
    path, build = fixture_warehouse
    assert_succeeded(build)
    return path


def features(warehouse, table: str, customer_id: str, as_of: date | None = None) -> dict:
    """One feature row as a dict."""
    where = "customer_id = ?" + (" and as_of_date = ?" if as_of else "")
    params = [customer_id] + ([as_of] if as_of else [])
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from marts.{table} where {where}", params)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one {table} row for {customer_id} {as_of}, got {len(rows)}"
    return dict(zip(names, rows[0]))


def test_a_fresh_warehouse_builds_in_one_pass_with_every_test_and_unit_test(fixture_warehouse):
    _, build = fixture_warehouse
    assert_succeeded(build)
    results = build.run_results["results"]
    # exposures (the dashboards reading the predictions) have nothing to build: dbt reports them "no-op"
    statuses = {result["status"] for result in results if not result["unique_id"].startswith("exposure.")}
    assert statuses <= {"success", "pass"}, statuses
    unit_tests = [result for result in results if result["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 5
    print(f"fixture dbt build: {build.seconds:.1f} s, {len(results)} nodes")


def test_every_relation_lands_in_the_six_warehouse_schemas(warehouse):
    schemas = {row[0] for row in query(warehouse, "select distinct table_schema from information_schema.tables")}
    assert schemas <= set(SCHEMAS), schemas - set(SCHEMAS)
    tables = set(query(warehouse, "select table_schema, table_name from information_schema.tables"))
    assert ("staging", "stg_customers") in tables
    assert ("staging", "country_codes") in tables  # seeds are reference data in staging
    assert ("intermediate", "int_web_events_sessionized") in tables
    for mart in ("dim_customers", "dim_products", "fct_orders", "fct_order_items", "fct_sessions",
                 "customer_features_snapshot", "customer_features_current", "customer_product_interactions"):
        assert ("marts", mart) in tables


def test_no_pii_column_or_value_after_staging(warehouse):
    columns = query(
        warehouse,
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_schema not in ('raw', 'staging')",
    )
    assert columns
    for schema, table, column, data_type in columns:
        if column.endswith("_hash"):
            # salted digests are allowed; they must never hold the clear value
            values = query(warehouse, f'select distinct "{column}" from {schema}.{table} where "{column}" is not null')
            assert all(re.fullmatch(r"[0-9a-f]{64}", value) for (value,) in values), f"{schema}.{table}.{column}"
            continue
        assert not PII_COLUMN_PATTERN.fullmatch(column), f"PII-like column {schema}.{table}.{column}"

    pii_values = [value.strip().lower() for value in FIXTURE_PII_VALUES]
    for schema, table, column, data_type in columns:
        if data_type != "VARCHAR":
            continue
        leaked = query(
            warehouse,
            f'select distinct "{column}" from {schema}.{table} where lower(trim("{column}")) in '
            f"(select unnest(?::varchar[]))",
            [pii_values],
        )
        assert not leaked, f"{schema}.{table}.{column} holds fixture PII {leaked}"


def test_pii_columns_are_hashed_in_staging(warehouse):
    (email_hash,) = query(warehouse, "select email_hash from staging.stg_customers where customer_id = 'c1'")[0]
    assert re.fullmatch(r"[0-9a-f]{64}", email_hash)
    staging_columns = {row[0] for row in query(
        warehouse, "select column_name from information_schema.columns where table_name = 'stg_customers'"
    )}
    assert not staging_columns & {"email", "phone", "first_name", "last_name", "city", "postal_code", "birth_date"}


def test_customer_versions_and_placeholders(warehouse):
    customers = dict(query(warehouse, "select customer_id, country_code from marts.dim_customers"))
    # c1's older version came in a later batch, but the later updated_at wins
    assert customers["c1"] == "GB"
    assert customers["c2"] == "US"
    assert customers["c3"] == "DE"
    placeholders = query(warehouse, "select customer_id from marts.dim_customers where is_placeholder")
    assert placeholders == [("c9",)]
    products = query(warehouse, "select product_id, category from marts.dim_products where is_placeholder")
    assert products == [("p9", "unknown")]
    # no revenue lost to a missing dimension row
    (orders_revenue,) = query(warehouse, "select sum(net_revenue) from marts.fct_orders")[0]
    (joined_revenue,) = query(
        warehouse,
        "select sum(net_revenue) from marts.fct_orders join marts.dim_customers using (customer_id)",
    )[0]
    assert joined_revenue == orders_revenue == pytest.approx(130 + 55 + 20 + 100 + 60 + 30 + 20 + 60)


def test_orders_net_returns_and_zero_cancellations(warehouse):
    orders = {
        row[0]: row[1:]
        for row in query(
            warehouse,
            "select order_id, status, gross_merchandise_amount, returned_amount, net_revenue, shipping_amount "
            "from marts.fct_orders",
        )
    }
    assert orders["o1"] == ("delivered", 140.0, 0.0, 130.0, 5.0)  # 100 - 10 line discount + 2 x 20
    assert orders["o2"][3] == pytest.approx(55.0)  # 60 - 5 order discount
    assert orders["o5"] == ("cancelled", 200.0, 0.0, 0.0, 0.0)  # corrected to cancelled by batch 2
    assert orders["o6"] == ("delivered", 120.0, 60.0, 60.0, 4.0)  # 2 x 60, one unit returned


def test_an_event_resent_by_a_later_batch_is_kept_once_as_corrected(warehouse):
    events = query(warehouse, "select event_id, page_url from staging.stg_web_events order by event_id")
    assert [event_id for event_id, _ in events] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert dict(events)["e7"] == "/p/p2?corrected"


def test_sessions_split_on_a_gap_over_thirty_minutes(warehouse):
    sessions = query(
        warehouse,
        "select customer_id, anonymous_id, started_at::varchar, duration_seconds, product_view_count, add_to_cart_count "
        "from marts.fct_sessions order by started_at",
    )
    assert sessions == [
        ("c1", "anon-1", "2024-02-20 10:00:00", 3000, 2, 1),  # 10:00, 10:20, 10:50 (exactly 30 min gap)
        ("c1", "anon-1", "2024-02-20 11:21:00", 0, 1, 0),  # 31 minutes later: new session
        (None, "anon-7", "2024-02-21 09:00:00", 300, 1, 0),
        ("c1", "anon-1", "2024-03-01 08:00:00", 0, 1, 0),
    ]


def test_snapshot_dates_are_month_starts_from_the_data(warehouse):
    dates = [row[0] for row in query(warehouse, "select as_of_date from intermediate.int_snapshot_dates_spined order by 1")]
    # first order 2024-01-10: first month start after it (Feb 1) plus one month, to the latest data (Aug 5)
    assert dates == [date(2024, month, 1) for month in range(3, 9)]


def test_snapshot_features_have_the_known_values(warehouse):
    alice = features(warehouse, "customer_features_snapshot", "c1", AS_OF)
    # o1 (130, Jan 10), o2 (55, Feb 15), o3 (20, Feb 29); o4 on the as-of date itself is excluded
    assert alice["purchase_orders_lifetime"] == 3
    assert alice["net_revenue_lifetime"] == pytest.approx(205.0)
    assert alice["purchase_orders_30d"] == 2 and alice["net_revenue_30d"] == pytest.approx(75.0)
    assert alice["net_revenue_90d"] == pytest.approx(205.0)
    assert alice["days_since_last_purchase"] == 1
    assert alice["tenure_days"] == 56  # signed up 2024-01-05
    assert alice["average_order_value"] == pytest.approx(205 / 3)
    assert alice["top_category"] == "shoes"
    assert alice["top_category_spend_share"] == pytest.approx(150 / 210)  # shoes 90 + 60, books 40 + 20
    assert alice["discounted_line_share"] == pytest.approx(0.5)  # line discount on o1/p1, order discount on o2
    assert alice["average_line_discount_rate"] == pytest.approx(0.1 / 4)
    assert alice["sessions_90d"] == 2 and alice["product_views_90d"] == 3 and alice["add_to_carts_90d"] == 1
    assert alice["add_to_cart_rate_90d"] == pytest.approx(1 / 3)
    assert alice["average_session_minutes_90d"] == pytest.approx(25.0)  # 50 and 0 minutes
    # optional sources are empty: zeros and nulls, not errors
    assert alice["email_opens_90d"] == 0 and alice["reviews_lifetime"] == 0
    assert alice["mean_sentiment_90d"] is None and alice["mean_rating_lifetime"] is None

    bob = features(warehouse, "customer_features_snapshot", "c2", AS_OF)
    assert bob["purchase_orders_lifetime"] == 1  # o5 was cancelled
    assert bob["net_revenue_lifetime"] == pytest.approx(60.0)
    assert bob["return_rate_lifetime"] == pytest.approx(0.5)  # 1 of 2 units returned

    customers_at_as_of = {row[0] for row in query(
        warehouse, "select customer_id from marts.customer_features_snapshot where as_of_date = ?", [AS_OF]
    )}
    # carol signs up on 2024-03-20: not a customer yet; c9 is known from an order before the date
    assert customers_at_as_of == {"c1", "c2", "c9"}


def test_current_features_count_the_latest_day_and_skip_placeholders(warehouse):
    rows = query(warehouse, "select customer_id, as_of_date from marts.customer_features_current order by 1")
    assert rows == [("c1", date(2024, 8, 6)), ("c2", date(2024, 8, 6)), ("c3", date(2024, 8, 6))]
    carol = features(warehouse, "customer_features_current", "c3")
    assert carol["purchase_orders_lifetime"] == 1  # ordered on 2024-08-05, the latest data date
    assert carol["days_since_last_purchase"] == 1


def test_snapshot_and_current_share_one_schema(warehouse):
    def columns(table):
        return query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position",
            [table],
        )

    assert columns("customer_features_snapshot") == columns("customer_features_current")


def test_interactions_are_weighted_by_event_weights(warehouse):
    row = query(
        warehouse,
        "select view_count, cart_count, purchase_count, interaction_score, last_purchased_at::varchar "
        "from marts.customer_product_interactions where customer_id = 'c1' and product_id = 'p1'",
    )
    # 2 views x 1 + 1 cart x 3 + 2 purchases x 5
    assert row == [(2, 1, 2, 15.0, "2024-03-01 00:30:00")]
    anonymous = query(warehouse, "select count(*) from marts.customer_product_interactions where customer_id is null")
    assert anonymous == [(0,)]
