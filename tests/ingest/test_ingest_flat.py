"""A flat order-lines export declared in mapping.yml -> customers, products, orders and order_items."""

from __future__ import annotations

from pathlib import Path

import pytest

from anticipate.ingest import FileError, ingest

ONLINE_RETAIL_LIKE = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,2011-06-01 08:26:00,2.55,17850,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2011-06-01 08:26:00,3.39,17850,United Kingdom\n"
    "536365,POST,POSTAGE,1,2011-06-01 08:26:00,18.00,17850,United Kingdom\n"
    "536366,85123A,WHITE HANGING HEART,2,2011-06-02 09:00:00,2.65,12583,France\n"
    "536366,85123A,WHITE HANGING HEART,2,2011-06-02 09:00:00,2.65,12583,France\n"
    "536367,71053,WHITE METAL LANTERN,1,2011-06-02 10:00:00,3.39,,United Kingdom\n"
    "C536368,85123A,WHITE HANGING HEART,-1,2011-06-03 11:00:00,2.55,17850,United Kingdom\n"
    "536369,gift_0001_20,GIFT VOUCHER,1,2011-06-03 12:00:00,20,12999,Spain\n"
)

ONLINE_RETAIL_MAPPING = """
flat_order_lines:
  file: retail.csv
  timezone: Europe/London
  currency: GBP
  columns: {order_id: InvoiceNo, product_id: StockCode, product_name: Description, quantity: Quantity,
            ordered_at: InvoiceDate, unit_price: UnitPrice, customer_id: CustomerID, country: Country}
  cancellation: {order_id_prefix: "C"}
  exclude_products: [POST, D, M, "gift_*"]
"""


@pytest.fixture
def retail(tmp_path: Path, write) -> Path:
    return write(tmp_path / "landing", {"retail.csv": ONLINE_RETAIL_LIKE, "mapping.yml": ONLINE_RETAIL_MAPPING})


def test_every_flat_line_becomes_one_order_line_or_one_rejected_row_with_its_reason(retail, warehouse, query, now):
    result = ingest(retail, warehouse, now=now)

    [entry] = result.files
    assert (entry.source, entry.file, entry.rows_read, entry.rows_loaded, entry.rows_rejected) == (
        "flat_order_lines", "retail.csv", 8, 4, 4)
    assert query(warehouse, "select row_number, reason from raw.rejected_rows order by row_number") == [
        (3, "excluded by mapping: non-product code POST"),
        (5, "duplicate: exact repeat of an earlier row: retail.csv row 4"),
        (6, "customer_id: required value is empty"),
        (8, "excluded by mapping: non-product code gift_0001_20"),
    ]
    assert result.rejects_by_reason["excluded by mapping: non-product code POST"] == 1


def test_flat_lines_derive_orders_with_cancellations_in_local_time(retail, warehouse, query, now):
    ingest(retail, warehouse, now=now)

    assert query(warehouse, "select order_id, customer_id, cast(ordered_at as varchar), status, currency "
                            "from raw.orders order by order_id") == [
        ("536365", "17850", "2011-06-01 07:26:00+00", None, "GBP"),  # BST is UTC+1
        ("536366", "12583", "2011-06-02 08:00:00+00", None, "GBP"),
        ("C536368", "17850", "2011-06-03 10:00:00+00", "cancelled", "GBP"),
    ]
    assert query(warehouse, "select order_id, line_number, product_id, quantity, unit_price from raw.order_items "
                            "order by order_id, line_number") == [
        ("536365", 1, "85123A", 6.0, 2.55), ("536365", 2, "71053", 6.0, 3.39),
        ("536366", 1, "85123A", 2.0, 2.65), ("C536368", 1, "85123A", -1.0, 2.55),
    ]


def test_flat_lines_derive_one_customer_and_product_per_id_from_the_latest_line(retail, warehouse, query, now):
    ingest(retail, warehouse, now=now)

    # 12999 bought only a gift voucher: an excluded line still proves the customer exists.
    assert query(warehouse, "select customer_id, country, cast(updated_at as varchar) from raw.customers order by 1") == [
        ("12583", "France", "2011-06-02 08:00:00+00"),
        ("12999", "Spain", "2011-06-03 11:00:00+00"),
        ("17850", "United Kingdom", "2011-06-03 10:00:00+00"),
    ]
    # list_price is the median unit price of the product's loaded lines (2.55, 2.65, 2.55).
    assert query(warehouse, "select product_id, name, list_price, currency from raw.products order by 1") == [
        ("71053", "WHITE METAL LANTERN", 3.39, "GBP"), ("85123A", "WHITE HANGING HEART", 2.55, "GBP")]


def test_basket_id_from_customer_and_day_and_unit_price_from_line_revenue(tmp_path, write, warehouse, query, now):
    landing = write(tmp_path / "landing", {
        "lines.csv": ('\ufeff"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID","AMOUNT","SALES_PRICE"\r\n'
                      '"11/1/2000","01104905","45-49","115","110411","4710199010372","2","30"\r\n'
                      '"11/1/2000","01104905","45-49","115","120107","4710857472535","4","46"\r\n'
                      '"11/2/2000","01104905","50-54","106","110411","4710199010372","1","16"\r\n'),
        "mapping.yml": ("flat_order_lines:\n  file: lines.csv\n  date_format: '%m/%d/%Y'\n  timezone: Asia/Taipei\n"
                        "  columns:\n    order_id: {concat: [CUSTOMER_ID, TRANSACTION_DT], separator: '|'}\n"
                        "    customer_id: CUSTOMER_ID\n    ordered_at: TRANSACTION_DT\n    product_id: PRODUCT_ID\n"
                        "    quantity: AMOUNT\n    line_amount: SALES_PRICE\n    age_group: AGE_GROUP\n"
                        "    postal_code: PIN_CODE\n    category: PRODUCT_SUBCLASS\n"),
    })

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, cast(ordered_at as varchar) from raw.orders order by 1") == [
        ("01104905|11/1/2000", "2000-10-31 16:00:00+00"), ("01104905|11/2/2000", "2000-11-01 16:00:00+00")]
    assert query(warehouse, "select product_id, unit_price from raw.order_items order by _row_number") == [
        ("4710199010372", 15.0), ("4710857472535", 11.5), ("4710199010372", 16.0)]
    assert query(warehouse, "select customer_id, age_group, postal_code from raw.customers") == [("01104905", "50-54", "106")]
    assert query(warehouse, "select product_id, category, list_price from raw.products order by 1") == [
        ("4710199010372", "110411", 15.5), ("4710857472535", "120107", 11.5)]


def test_missing_customers_can_be_assigned_a_guest_id_instead_of_rejected(retail, warehouse, write, query, now):
    write(retail, {"mapping.yml": ONLINE_RETAIL_MAPPING + "  on_missing_customer: {assign: guest}\n"})

    ingest(retail, warehouse, now=now)

    assert query(warehouse, "select customer_id from raw.orders where order_id = '536367'") == [("guest",)]


def test_flat_export_missing_a_mapped_column_is_a_file_error(retail, warehouse, write):
    write(retail, {"retail.csv": ONLINE_RETAIL_LIKE.replace("InvoiceDate", "Date")})

    with pytest.raises(FileError, match=r"^retail.csv: missing required column\(s\) ordered_at \(mapped to 'InvoiceDate'\)"):
        ingest(retail, warehouse)


def test_flat_mapping_without_its_file_is_a_file_error(retail, warehouse):
    (retail / "retail.csv").unlink()

    with pytest.raises(FileError, match=r"^flat_order_lines: no file matches 'retail.csv'"):
        ingest(retail, warehouse)
