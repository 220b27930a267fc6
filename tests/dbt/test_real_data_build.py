"""The dbt build on a real shop's history: the UCI Online Retail transactions (541,909 lines, 2010-12 to
2011-12), written straight into the raw tables. Money must reconcile with the source to the cent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from conftest import assert_succeeded, build_warehouse, create_raw_tables, query

REPO_ROOT = Path(__file__).resolve().parents[2]
ONLINE_RETAIL = REPO_ROOT / ".." / "shared" / "data" / "online_retail" / "online_retail.parquet"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_data,
    pytest.mark.xdist_group("dbt_real_data"),
    pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason=f"real data set not found at {ONLINE_RETAIL}"),
]

META = "'online-retail', 'online_retail.parquet', row_number, timestamptz '2012-01-01 00:00:00+00'"


def load_online_retail(warehouse: Path) -> None:
    """Invoices become orders (cancellation invoices hold negative quantities: return orders), stock codes
    products, customer ids customers. Lines without a customer id are left out, as ingestion rejects them."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"""
            create temp table lines as
            select
                *,
                row_number() over () as row_number,
                row_number() over (partition by InvoiceNo) as line_number,
                -- the shop's clock is UK local time
                timezone('Europe/London', InvoiceDate) as invoiced_at,
            from read_parquet('{ONLINE_RETAIL.resolve()}')
            where CustomerID is not null
        """)
        con.execute(f"""
            insert into raw.customers (customer_id, country, _batch_id, _source_file, _row_number, _loaded_at)
            select cast(CustomerID as varchar), arg_min(Country, row_number), {META.replace('row_number', 'min(row_number)')}
            from lines group by CustomerID
        """)
        con.execute(f"""
            insert into raw.products (product_id, name, list_price, currency, _batch_id, _source_file, _row_number, _loaded_at)
            select StockCode, arg_min(Description, row_number), median(UnitPrice), 'GBP', {META.replace('row_number', 'min(row_number)')}
            from lines group by StockCode
        """)
        con.execute(f"""
            insert into raw.orders (order_id, customer_id, ordered_at, status, currency, _batch_id, _source_file, _row_number, _loaded_at)
            select InvoiceNo, cast(any_value(CustomerID) as varchar), min(invoiced_at), 'delivered', 'GBP',
                {META.replace('row_number', 'min(row_number)')}
            from lines group by InvoiceNo
        """)
        con.execute(f"""
            insert into raw.order_items (order_id, line_number, product_id, quantity, unit_price, _batch_id, _source_file, _row_number, _loaded_at)
            select InvoiceNo, line_number, StockCode, Quantity, UnitPrice, {META}
            from lines
        """)


@pytest.fixture(scope="module")
def online_retail_warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("online_retail")
    warehouse = folder / "anticipate.duckdb"
    create_raw_tables(warehouse)
    load_online_retail(warehouse)
    build = build_warehouse(warehouse, folder / "target")
    assert_succeeded(build)
    print(f"online retail dbt build: {build.seconds:.1f} s")
    return warehouse


def test_net_revenue_reconciles_with_the_source_lines(online_retail_warehouse):
    (source_total,) = query(
        online_retail_warehouse, "select sum(quantity * unit_price) from raw.order_items"
    )[0]
    (orders_total,) = query(online_retail_warehouse, "select sum(net_revenue) from marts.fct_orders")[0]
    (features_total,) = query(
        online_retail_warehouse, "select sum(net_revenue_lifetime) from marts.customer_features_current"
    )[0]
    assert orders_total == pytest.approx(source_total, abs=0.01)
    assert features_total == pytest.approx(source_total, abs=0.01)


def test_every_customer_is_scored_and_cancellation_invoices_are_returns(online_retail_warehouse):
    assert query(online_retail_warehouse, "select count(*) from marts.customer_features_current") == [(4372,)]
    (returns,) = query(
        online_retail_warehouse, "select count(*) from marts.fct_orders where is_return and order_id like 'C%'"
    )[0]
    (cancellation_invoices,) = query(
        online_retail_warehouse, "select count(*) from raw.orders where order_id like 'C%'"
    )[0]
    assert returns == cancellation_invoices > 3000


def test_a_year_of_history_gets_a_monthly_spine(online_retail_warehouse):
    dates = [row[0] for row in query(
        online_retail_warehouse, "select as_of_date from intermediate.int_snapshot_dates_spined order by 1"
    )]
    # first invoice 2010-12-01: second month start after it, to the last invoice on 2011-12-09
    assert dates == [date(2011, month, 1) for month in range(2, 13)]
    (rows,) = query(online_retail_warehouse, "select count(*) from marts.customer_features_snapshot")[0]
    assert rows > 30_000
