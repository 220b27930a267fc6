"""Batches over time: duplicates, corrections, idempotent re-runs, atomic failure; and the non-CSV formats."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import timedelta

import duckdb
import pytest

from anticipate.ingest import FileError, ingest


def test_exact_repeat_is_rejected_and_same_key_with_other_content_rejects_the_later_row(landing, warehouse, write, query, now):
    write(landing, {"orders.csv": ("order_id,customer_id,ordered_at\n"
                                   "o1,c1,2024-05-01\no2,c2,2024-05-01\no1,c1,2024-05-01\no2,c1,2024-05-03\n")})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, customer_id from raw.orders order by 1") == [("o1", "c1"), ("o2", "c2")]
    assert query(warehouse, "select row_number, reason from raw.rejected_rows order by row_number") == [
        (3, "duplicate: exact repeat of an earlier row: orders.csv row 1"),
        (4, "duplicate: same key with different content: order_id 'o2' first in orders.csv row 2"),
    ]


def test_customers_and_products_keep_every_version_of_a_key_for_staging_to_pick_the_latest(landing, warehouse, write, query, now):
    write(landing, {"customers.csv": ("customer_id,email,updated_at\n"
                                      "c1,old@example.com,2024-01-01\nc1,new@example.com,2024-03-01\nc2,b@example.com,\n"
                                      "c2,b@example.com,\n")})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select customer_id, email from raw.customers order by _row_number") == [
        ("c1", "old@example.com"), ("c1", "new@example.com"), ("c2", "b@example.com")]
    assert query(warehouse, "select reason from raw.rejected_rows") == [
        ("duplicate: exact repeat of an earlier row: customers.csv row 3",)]


def test_duplicates_are_found_across_the_files_of_a_source_folder(landing, warehouse, write, query, now):
    (landing / "orders.csv").unlink()
    write(landing, {"orders/part-1.csv": "order_id,customer_id,ordered_at\no1,c1,2024-05-01\n",
                    "orders/part-2.csv": "ordered_at,order_id,customer_id\n2024-05-02,o2,c2\n2024-05-01,o1,c1\n"})

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, _source_file from raw.orders order by 1") == [
        ("o1", "orders/part-1.csv"), ("o2", "orders/part-2.csv")]
    assert query(warehouse, "select file, row_number, reason from raw.rejected_rows") == [
        ("orders/part-2.csv", 2, "duplicate: exact repeat of an earlier row: orders/part-1.csv row 1")]


def test_reingesting_the_same_files_is_idempotent_even_under_another_name(landing, warehouse, query, now):
    first = ingest(landing, warehouse, now=now)
    (landing / "customers.csv").rename(landing / "customers_copy.csv")
    (landing / "customers").mkdir()
    (landing / "customers_copy.csv").rename(landing / "customers" / "export.csv")

    second = ingest(landing, warehouse, now=now + timedelta(hours=1))

    assert {entry.status for entry in second.files} == {"skipped"}
    assert second.rows_loaded == 0
    assert second.files[0].warnings == [f"same content already loaded as customers.csv in batch {first.batch_id}"]
    assert query(warehouse, "select count(*), count(distinct _batch_id) from raw.order_items") == [(3, 1)]
    assert query(warehouse, "select count(*) from raw.rejected_rows") == [(0,)]
    assert query(warehouse, "select status, count(*) from raw.ingestion_log group by 1 order by 1") == [("loaded", 4), ("skipped", 4)]


def test_a_later_batch_with_a_known_key_is_a_correction_and_raw_keeps_both(landing, warehouse, write, query, now):
    first = ingest(landing, warehouse, now=now)
    write(landing, {"orders.csv": "order_id,customer_id,ordered_at,status\no1,c1,2024-05-01T10:00:00Z,cancelled\n"})

    second = ingest(landing, warehouse, now=now + timedelta(days=1))

    assert query(warehouse, "select status, _batch_id from raw.orders where order_id = 'o1' order by _loaded_at") == [
        ("placed", first.batch_id), ("cancelled", second.batch_id)]
    # order lines of the batch point at an order loaded before: they are known, not rejected
    assert second.rows_rejected == 0


def test_order_lines_may_reference_orders_loaded_in_an_earlier_batch(landing, warehouse, write, query, now):
    ingest(landing, warehouse, now=now)
    write(landing, {"order_items.csv": "order_id,line_number,product_id,quantity\no2,2,p2,1\n"})

    result = ingest(landing, warehouse, now=now + timedelta(days=1))

    assert result.rows_loaded == 1 and result.rows_rejected == 0
    assert query(warehouse, "select count(*) from raw.order_items where order_id = 'o2'") == [(2,)]


def test_a_failing_file_leaves_earlier_batches_intact_and_logs_only_its_failure(landing, warehouse, write, query, now):
    first = ingest(landing, warehouse, now=now)
    write(landing, {"customers.csv": "customer_id\nc7\n", "products.csv": "name\nMug\n"})

    with pytest.raises(FileError, match="^products.csv: missing required column"):
        ingest(landing, warehouse, now=now + timedelta(days=1))

    assert query(warehouse, "select distinct _batch_id from raw.customers") == [(first.batch_id,)]
    assert query(warehouse, "select source, status from raw.ingestion_log where batch_id <> ?", [first.batch_id]) == [
        ("products", "failed")]
    # the fixed file loads next time: a failed file is not "already loaded"
    write(landing, {"products.csv": "product_id,name\np9,Bowl\n"})
    ingest(landing, warehouse, now=now + timedelta(days=2))
    assert query(warehouse, "select count(*) from raw.customers where customer_id = 'c7'") == [(1,)]


def test_parquet_files_load_with_the_same_rules(landing, warehouse, query, now, tmp_path):
    (landing / "orders.csv").unlink()
    with duckdb.connect() as con:
        con.execute(f"""copy (select * from (values ('o1', 'c1', timestamp '2024-05-01 10:00:00', 4.5::double),
                                                   ('o2', 'c2', timestamp '2030-01-01 00:00:00', null))
                             as t(Order_ID, customer_id, ordered_at, shipping_amount))
                        to '{landing / "orders.parquet"}' (format parquet)""")

    ingest(landing, warehouse, now=now)

    assert query(warehouse, "select order_id, cast(ordered_at as varchar), shipping_amount from raw.orders") == [
        ("o1", "2024-05-01 10:00:00+00", 4.5)]
    assert query(warehouse, "select file, row_number, reason, raw_values->>'Order_ID' from raw.rejected_rows "
                            "where source = 'orders'") == [
        ("orders.parquet", 2, "ordered_at: more than one day after the load time: '2030-01-01 00:00:00'", "o2")]


def test_json_lines_load_and_a_line_that_is_not_a_json_object_is_a_rejected_row(landing, warehouse, write, query, now):
    lines = [
        json.dumps({"event_id": "e1", "occurred_at": "2024-05-01T10:00:00Z", "event_type": "page_view", "customer_id": "c1"}),
        "",
        "[1, 2]",
        "{not json",
        json.dumps({"event_id": "e2", "occurred_at": "2024-05-01T11:00:00Z", "event_type": "Add_To_Cart", "referrer": None}),
    ]
    write(landing, {"web_events.jsonl": "\n".join(lines) + "\n"})

    result = ingest(landing, warehouse, now=now)

    events = next(entry for entry in result.files if entry.source == "web_events")
    assert (events.rows_read, events.rows_loaded, events.rows_rejected) == (4, 2, 2)
    assert query(warehouse, "select event_id, event_type from raw.web_events order by 1") == [
        ("e1", "page_view"), ("e2", "add_to_cart")]
    assert [(row, json.loads(values), reason) for row, values, reason in query(
        warehouse, "select row_number, raw_values, reason from raw.rejected_rows order by row_number")] == [
        (2, {"_line": "[1, 2]"}, "line: not a JSON object"),
        (3, {"_line": "{not json"}, "line: not valid JSON"),
    ]


def test_gzip_and_zip_compressed_csv_files_are_read(landing, warehouse, query, now):
    orders = (landing / "orders.csv").read_bytes()
    items = (landing / "order_items.csv").read_bytes()
    (landing / "orders.csv").unlink()
    (landing / "order_items.csv").unlink()
    (landing / "orders.csv.gz").write_bytes(gzip.compress(orders))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/lines.csv", items)
    (landing / "order_items.csv.zip").write_bytes(buffer.getvalue())

    result = ingest(landing, warehouse, now=now)

    assert [entry.file for entry in result.files] == ["customers.csv", "products.csv", "orders.csv.gz", "order_items.csv.zip"]
    assert query(warehouse, "select count(*) from raw.order_items") == [(3,)]


def test_json_lines_file_of_only_non_objects_rejects_every_line_instead_of_failing(landing, warehouse, write, query, now):
    write(landing, {"product_reviews.ndjson": "[1]\n\"text\"\n"})

    result = ingest(landing, warehouse, now=now)

    reviews = next(entry for entry in result.files if entry.source == "product_reviews")
    assert (reviews.rows_read, reviews.rows_loaded, reviews.rows_rejected) == (2, 0, 2)
    assert query(warehouse, "select reason from raw.rejected_rows") == [("line: not a JSON object",)] * 2


def test_json_lines_values_keep_their_json_text_and_keys_match_like_csv_headers(landing, warehouse, write, query, now):
    lines = [
        '{"REVIEW_ID ": "r1", "product_id": "p1", "reviewedAt": "2024-05-01T10:00:00Z", "rating": 4.5, "extra": {"a": [1]}}',
        '{"REVIEW_ID ": "r2", "product_id": "p1", "reviewedAt": "2024-05-01", "rating": 1e400, "we\\"ird": true}',
    ]
    write(landing, {"product_reviews.jsonl": "\r\n".join(lines) + "\r\n",
                    "mapping.yml": "product_reviews:\n  columns: {reviewed_at: reviewedat}\n"})

    result = ingest(landing, warehouse, now=now)

    assert query(warehouse, "select review_id, rating from raw.product_reviews") == [("r1", 4.5)]
    assert query(warehouse, "select reason, raw_values->>'rating' from raw.rejected_rows") == [
        ("rating: NaN or infinite: '1e400'", "1e400")]
    reviews = next(entry for entry in result.files if entry.source == "product_reviews")
    assert reviews.warnings == ['ignored unknown columns: extra, we"ird']
