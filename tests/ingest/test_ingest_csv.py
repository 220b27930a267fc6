"""CSV landing files -> raw: dialect, headers, file errors, rejected rows and their reasons."""

from __future__ import annotations

import json

import pytest

from anticipate.contract import SOURCES
from anticipate.ingest import FileError, IngestResult, ingest


def test_valid_files_load_every_row_with_exact_text_and_batch_metadata(landing, warehouse, query, now):
    result = ingest(landing, warehouse, now=now)

    assert isinstance(result, IngestResult)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (9, 9, 0)
    assert [(entry.source, entry.status, entry.rows_read, entry.rows_loaded) for entry in result.files] == [
        ("customers", "loaded", 2, 2), ("products", "loaded", 2, 2), ("orders", "loaded", 2, 2), ("order_items", "loaded", 3, 3),
    ]
    assert query(warehouse, "select order_id, customer_id, cast(ordered_at as varchar), status, _batch_id, _source_file, "
                            "_row_number from raw.orders order by order_id") == [
        ("o1", "c1", "2024-05-01 10:00:00+00", "placed", result.batch_id, "orders.csv", 1),
        ("o2", "c2", "2024-05-02 09:30:00+00", "shipped", result.batch_id, "orders.csv", 2),
    ]
    assert query(warehouse, "select sum(quantity * unit_price) from raw.order_items") == [(2 * 9.5 + 12 + 9.5,)]


def test_all_seven_raw_tables_exist_with_contract_columns_when_optional_sources_are_absent(landing, warehouse, query, now):
    ingest(landing, warehouse, now=now)

    for name, source in SOURCES.items():
        columns = [row[0] for row in query(warehouse, f"select column_name from information_schema.columns where "
                                                      f"table_schema = 'raw' and table_name = '{name}' order by ordinal_position")]
        assert columns == list(source.column_names) + ["_batch_id", "_source_file", "_row_number", "_loaded_at"]
    assert query(warehouse, "select count(*) from raw.web_events") == [(0,)]


def test_rfc4180_quoted_fields_crlf_and_byte_order_mark_keep_exact_text(landing, warehouse, write, query, now):
    customers = ('\ufeffcustomer_id,first_name,last_name,postal_code\r\n'
                 'c1,"Zoë","O\'Brien, ""the elder""",01234\r\n'
                 'c2,"Line\r\nbreak",Müller,"00501"\r\n')
    write(landing, {"customers.csv": customers})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select customer_id, first_name, last_name, postal_code from raw.customers order by 1") == [
        ("c1", "Zoë", "O'Brien, \"the elder\"", "01234"),
        ("c2", "Line\r\nbreak", "Müller", "00501"),
    ]


def test_blank_lines_are_skipped_and_not_counted_as_records(landing, warehouse, write, query, now):
    write(landing, {"products.csv": "product_id,name\n\np1,Mug\n\n\np2,Plate\n\n"})

    result = ingest(landing, warehouse, now=now)

    products = next(entry for entry in result.files if entry.source == "products")
    assert (products.rows_read, products.rows_loaded) == (2, 2)
    assert query(warehouse, "select product_id, _row_number from raw.products order by 1") == [("p1", 1), ("p2", 2)]


def test_header_matches_trimmed_and_case_insensitive_in_any_order_and_extra_columns_are_warned(landing, warehouse, write, query, now):
    write(landing, {"customers.csv": " Email ,LOYALTY_TIER,Customer_ID \na@example.com,gold,c1\n"})

    result = ingest(landing, warehouse, now=now)

    assert query(warehouse, "select customer_id, email from raw.customers") == [("c1", "a@example.com")]
    customers = next(entry for entry in result.files if entry.source == "customers")
    assert customers.warnings == ["ignored unknown columns: LOYALTY_TIER"]
    assert query(warehouse, "select warnings from raw.ingestion_log where source = 'customers'") == [
        ("ignored unknown columns: LOYALTY_TIER",)]


def test_missing_required_column_is_a_file_error_and_nothing_of_the_batch_is_loaded(landing, warehouse, write, query, now):
    write(landing, {"orders.csv": "order_id,ordered_at\no1,2024-05-01\n"})

    with pytest.raises(FileError) as raised:
        ingest(landing, warehouse, now=now)

    assert str(raised.value) == "orders.csv: missing required column(s) customer_id (header is: order_id, ordered_at)"
    assert query(warehouse, "select count(*) from raw.customers") == [(0,)]  # loaded before orders, rolled back
    assert query(warehouse, "select source, file, status, warnings from raw.ingestion_log") == [
        ("orders", "orders.csv", "failed", "missing required column(s) customer_id (header is: order_id, ordered_at)")]


def test_missing_header_row_is_a_file_error_that_says_so(landing, warehouse, write, now):
    write(landing, {"products.csv": "p1,Mug,9.5\n"})

    with pytest.raises(FileError, match=r"^products.csv: missing required column\(s\) product_id .*is the header row missing\?$"):
        ingest(landing, warehouse, now=now)


def test_required_source_absent_is_a_file_error_naming_the_source(landing, warehouse, query, now):
    (landing / "order_items.csv").unlink()

    with pytest.raises(FileError, match=r"^order_items: required source is missing"):
        ingest(landing, warehouse, now=now)
    assert query(warehouse, "select source, file, status from raw.ingestion_log") == [("order_items", None, "failed")]


def test_zero_byte_file_is_a_file_error_but_a_header_without_rows_is_an_empty_source(landing, warehouse, write, query, now):
    write(landing, {"web_events.csv": ""})
    with pytest.raises(FileError, match=r"^web_events.csv: file is empty \(0 bytes\)"):
        ingest(landing, warehouse, now=now)

    write(landing, {"web_events.csv": "event_id,occurred_at\n"})
    result = ingest(landing, warehouse, now=now)
    events = next(entry for entry in result.files if entry.source == "web_events")
    assert (events.status, events.rows_read, events.rows_loaded) == ("loaded", 0, 0)
    assert query(warehouse, "select count(*) from raw.customers") == [(2,)]


def test_invalid_utf8_without_encoding_in_mapping_is_a_file_error_naming_line_and_offset(landing, warehouse, write, now):
    write(landing, {"customers.csv": "customer_id,first_name\nc1,Ann\nc2,Ren\xe9e\n".encode("latin-1")})

    with pytest.raises(FileError) as raised:
        ingest(landing, warehouse, now=now)

    assert str(raised.value).startswith("customers.csv: not valid UTF-8 at line 3 (byte offset 36)")
    assert "set `encoding`" in str(raised.value)


def test_encoding_from_the_mapping_decodes_a_legacy_file(landing, warehouse, write, query, now):
    write(landing, {"customers.csv": "customer_id,first_name\nc2,Ren\xe9e\n".encode("cp1252"),
                    "mapping.yml": "customers:\n  encoding: cp1252\n"})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select first_name from raw.customers") == [("Renée",)]


def test_every_broken_rule_of_a_row_is_in_its_reason(landing, warehouse, write, query, now):
    write(landing, {"orders.csv": (
        "order_id,customer_id,ordered_at,status,shipping_amount,discount_amount\n"
        "o1,c1,2024-05-01T10:00:00Z,placed,4.5,0\n"
        "o2,,31/02/2024,lost,NaN,2000000000\n"
        "o3,c1,2024-06-03T12:00:00Z,Placed,abc,inf\n"
        "o4,c2,2024-02-30,placed,1,1\n"
    )})

    result = ingest(landing, warehouse, now=now)

    reasons = dict(query(warehouse, "select raw_values->>'order_id', reason from raw.rejected_rows "
                                 "where source = 'orders' order by row_number"))
    assert reasons == {
        "o2": "customer_id: required value is empty; ordered_at: not an ISO 8601 timestamp: '31/02/2024'; "
              "status: not an allowed code: 'lost' (allowed: placed, shipped, delivered, cancelled, returned); "
              "shipping_amount: NaN or infinite: 'NaN'; discount_amount: out of bounds [-1e+09, 1e+09]: '2000000000'",
        "o3": "ordered_at: more than one day after the load time: '2024-06-03T12:00:00Z'; "
              "shipping_amount: not a decimal number: 'abc'; discount_amount: NaN or infinite: 'inf'",
        "o4": "ordered_at: not an ISO 8601 timestamp: '2024-02-30'",
    }
    assert result.rejects_by_reason["ordered_at: not an ISO 8601 timestamp"] == 2
    assert query(warehouse, "select order_id from raw.orders") == [("o1",)]


def test_integers_booleans_ratings_and_sentiment_are_checked_against_the_contract(landing, warehouse, write, query, now):
    write(landing, {
        "order_items.csv": "order_id,line_number,product_id,quantity\no1,1.5,p1,1\no1,0,p1,1\no1,3,p1,-2\n",
        "customers.csv": "customer_id,marketing_opt_in\nc1,YES\nc2,f\nc3,maybe\n",
        "product_reviews.csv": "review_id,product_id,reviewed_at,rating\nr1,p1,2024-05-01,5\nr2,p1,2024-05-01,6\n",
        "marketing_interactions.csv": "interaction_id,customer_id,occurred_at,sentiment,interaction_type\n"
                                      "m1,c1,2024-05-01,-1, Click \nm2,c1,2024-05-01,1.5,open\n",
    })

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select source, reason from raw.rejected_rows order by source, row_number") == [
        ("customers", "marketing_opt_in: not a boolean (true/false/1/0/yes/no/t/f/y/n): 'maybe'"),
        ("marketing_interactions", "sentiment: out of bounds [-1, 1]: '1.5'"),
        ("order_items", "line_number: not an integer: '1.5'"),
        ("order_items", "line_number: out of bounds [1, inf]: '0'"),
        ("product_reviews", "rating: out of bounds [1, 5]: '6'"),
    ]
    assert query(warehouse, "select customer_id, marketing_opt_in from raw.customers order by 1") == [("c1", True), ("c2", False)]
    assert query(warehouse, "select interaction_type from raw.marketing_interactions") == [("click",)]
    # A negative quantity is a return line and loads.
    assert query(warehouse, "select line_number, quantity from raw.order_items where quantity < 0") == [(3, -2.0)]


def test_rejected_row_keeps_original_text_by_header_name_and_extra_fields_by_position(landing, warehouse, write, query, now):
    write(landing, {"products.csv": "Product_ID,Name\np1,Mug\np2,Plate,surplus,more\np3\n"})

    result = ingest(landing, warehouse, now=now)

    rejected = query(warehouse, "select row_number, raw_values, reason from raw.rejected_rows order by row_number")
    assert [(row, json.loads(values), reason) for row, values, reason in rejected] == [
        (2, {"Product_ID": "p2", "Name": "Plate", "3": "surplus", "4": "more"}, "row: wrong number of fields: expected 2, found 4"),
        (3, {"Product_ID": "p3", "Name": None}, "row: wrong number of fields: expected 2, found 1"),
    ]
    products = next(entry for entry in result.files if entry.source == "products")
    assert products.rows_read == products.rows_loaded + products.rows_rejected == 3


def test_order_lines_of_unknown_orders_are_rejected_but_unknown_customers_and_products_load_with_a_warning(
        landing, warehouse, write, query, now):
    write(landing, {
        "orders.csv": "order_id,customer_id,ordered_at\no1,c1,2024-05-01\no2,c9,2024-05-01\no3,c8,2024-05-01\n",
        "order_items.csv": "order_id,product_id\no1,p1\no1,p7\no5,p1\n",
    })

    result = ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id from raw.orders order by 1") == [("o1",), ("o2",), ("o3",)]
    assert query(warehouse, "select reason from raw.rejected_rows") == [("order_id: unknown order: 'o5'",)]
    warnings = {entry.source: entry.warnings for entry in result.files}
    assert warnings["orders"] == ["2 rows reference unknown customer_id"]
    assert warnings["order_items"] == ["1 row references unknown product_id"]


def test_line_numbers_follow_row_order_within_each_order_when_the_column_is_absent(landing, warehouse, write, query, now):
    write(landing, {"order_items.csv": "order_id,product_id\no1,p1\no2,p1\no1,p2\no1,p1\n"})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, line_number, product_id from raw.order_items order by 1, 2") == [
        ("o1", 1, "p1"), ("o1", 2, "p2"), ("o1", 3, "p1"), ("o2", 1, "p1")]


def test_mapping_sets_delimiter_decimal_separator_date_format_timezone_renames_and_value_maps(landing, warehouse, write, query, now):
    write(landing, {
        "Bestellungen.csv": "Nr;Kunde;Datum;Zustand;Versand\nA-1;c1;01.05.2024 10:30;bezahlt;4,95\nA-2;c2;2024-05-02;versandt;0\n",
        "mapping.yml": (
            "defaults:\n  timezone: Europe/Berlin\n"
            "orders:\n  file: Bestellungen.csv\n  delimiter: ';'\n  decimal_separator: ','\n"
            "  date_format: '%d.%m.%Y %H:%M'\n"
            "  columns: {order_id: Nr, customer_id: Kunde, ordered_at: Datum, status: Zustand, shipping_amount: Versand}\n"
            "  values:\n    status: {bezahlt: placed, Versandt: shipped}\n"
        ),
    })
    (landing / "orders.csv").unlink()

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, cast(ordered_at as varchar), status, shipping_amount, _source_file "
                            "from raw.orders order by 1") == [
        ("A-1", "2024-05-01 08:30:00+00", "placed", 4.95, "Bestellungen.csv"),   # CEST is UTC+2
        ("A-2", "2024-05-01 22:00:00+00", "shipped", 0.0, "Bestellungen.csv"),
    ]


def test_naive_times_are_utc_without_a_mapping_and_offsets_are_honoured(landing, warehouse, write, query, now):
    write(landing, {"orders.csv": "order_id,customer_id,ordered_at\n"
                                  "o1,c1,2024-05-01 10:00\no2,c1,2024-05-01T10:00:00+02:00\no3,c1,2024-05-01\n"})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select cast(ordered_at as varchar) from raw.orders order by order_id") == [
        ("2024-05-01 10:00:00+00",), ("2024-05-01 08:00:00+00",), ("2024-05-01 00:00:00+00",)]


def test_mapping_mistakes_are_file_errors_naming_the_mapping_and_the_key(landing, warehouse, write):
    write(landing, {"mapping.yml": "orders:\n  columns: {order_number: Nr}\n"})
    with pytest.raises(FileError, match=r"mapping.yml: orders: columns: 'order_number' is not a column of orders"):
        ingest(landing, warehouse)

    write(landing, {"mapping.yml": "orders:\n  timezone: Mars/Olympus\n"})
    with pytest.raises(FileError, match=r"mapping.yml: orders: unknown timezone 'Mars/Olympus'"):
        ingest(landing, warehouse)


def test_a_quote_left_open_to_the_end_of_the_file_is_a_file_error_naming_the_line(landing, warehouse, write, now):
    write(landing, {"products.csv": 'product_id,name\np1,Mug\np2,"Plate\np3,Bowl\n'})

    with pytest.raises(FileError, match=r"^products.csv: malformed CSV at line \d+"):
        ingest(landing, warehouse, now=now)


def test_progress_reports_rows_read_and_loaded_per_file(landing, warehouse, now):
    lines = []

    ingest(landing, warehouse, now=now, progress=lines.append)

    assert "orders.csv: 2 rows read" in lines
    assert "order_items.csv: 3 rows loaded, 0 rejected" in lines


def test_dates_are_iso_calendar_dates_and_not_in_the_future(landing, warehouse, write, query, now):
    write(landing, {"customers.csv": "customer_id,birth_date\nc1,1980-02-29\nc2,1981-02-29\nc3,2099-01-01\nc4,\n"})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select customer_id, birth_date::varchar from raw.customers order by 1") == [
        ("c1", "1980-02-29"), ("c4", None)]
    assert query(warehouse, "select reason from raw.rejected_rows order by row_number") == [
        ("birth_date: not an ISO 8601 date: '1981-02-29'",),
        ("birth_date: more than one day after the load time: '2099-01-01'",),
    ]
