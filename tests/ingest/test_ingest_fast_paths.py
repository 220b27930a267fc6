"""The shortcuts taken for speed give the same answers as the plain way: block-wise JSON Lines reading
(in a reader thread), the cheap trim, duplicates found from repeated keys, Parquet read in place."""

from __future__ import annotations

import functools
import json
import threading

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anticipate.ingest import ingest
from anticipate.ingest import readers
from anticipate.ingest.readers import _json_line_blocks, _read_ahead
from anticipate.ingest.validate import ISO_OFFSET, ISO_TIMESTAMP, ISO_TIMESTAMP_WITH_OFFSET, trimmed_or_null, unless_blank

# Pieces that stress line splitting: every line break Python's universal newlines know, blank and
# whitespace-only lines, and characters str.splitlines would (wrongly, for JSON Lines) split on.
LINE_PIECES = st.sampled_from(["\n", "\r\n", "\r", " ", "\t", "{\"a\": 1}", "x", "\u2028", "\x0c", "\x1c", "\x85", "\u00e9", "\u3000", ""])
TEXT_PIECES = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "\u200b", "a", "~", "!", "\u00e9", "e\u0301", ""])


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(LINE_PIECES, max_size=40), block_chars=st.integers(min_value=1, max_value=12))
def test_json_lines_read_in_blocks_are_the_non_blank_lines_of_the_file(tmp_path_factory, pieces, block_chars):
    path = tmp_path_factory.mktemp("jsonl") / "lines.jsonl"
    path.write_text("".join(pieces), encoding="utf-8", newline="")
    with path.open("r", encoding="utf-8-sig", newline=None) as handle:
        expected = [line.rstrip("\n") for line in handle if line.strip()]

    blocks = list(_json_line_blocks(path, "utf-8-sig", block_chars=block_chars))

    assert [line for block in blocks for line in block.to_pylist()] == expected
    assert all(len(block) for block in blocks)  # no empty block is handed to DuckDB


def _reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "anticipate-json-lines"]


def test_blocks_read_ahead_arrive_in_order_and_a_reader_error_after_the_blocks_before_it():
    def blocks():
        yield from range(5)
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    received = []
    with pytest.raises(UnicodeDecodeError):
        for block in _read_ahead(blocks()):
            received.append(block)

    assert received == [0, 1, 2, 3, 4]
    assert _reader_threads() == []


def test_the_reader_thread_stops_when_the_caller_fails_midway():
    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]

    with pytest.raises(RuntimeError, match="parse failed"):
        for block in _read_ahead(endless()):
            if block == 3:
                raise RuntimeError("parse failed")

    assert _reader_threads() == []  # joined, not left reading the rest of the file
    assert len(produced) <= 6  # at most the block in hand, one queued and one being made


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.lists(TEXT_PIECES, max_size=5).map("".join)), min_size=1, max_size=50))
def test_cheap_trim_equals_duckdb_trim_then_empty_as_null(values):
    differing = _memory_connection().execute(
        f"select text from (select unnest(?::varchar[]) as text) "
        f"where nullif(trim(text), '') is distinct from ({trimmed_or_null('text')})", [values]).fetchall()
    assert differing == []


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.lists(TEXT_PIECES, max_size=5).map("".join)), min_size=1, max_size=50))
def test_cheap_blank_test_keeps_the_text_as_written_unless_trim_leaves_nothing(values):
    # Ids and strings are stored untrimmed; only a blank value (NULL, '' or whitespace) becomes NULL.
    differing = _memory_connection().execute(
        f"select text from (select unnest(?::varchar[]) as text) "
        f"where (case when nullif(trim(text), '') is null then null else text end) is distinct from ({unless_blank('text')})",
        [values]).fetchall()
    assert differing == []


TIMESTAMP_PIECES = st.sampled_from(["2024-05-01", "T", " ", "10:00", ":30", ".5", "Z", "+02", ":00", "-0530", "7", "-", "z"])


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.lists(TIMESTAMP_PIECES, max_size=6).map("".join), min_size=1, max_size=50))
def test_one_offset_pattern_equals_the_iso_pattern_and_the_offset_search(values):
    differing = _memory_connection().execute(
        f"select text from (select unnest(?::varchar[]) as text) "
        f"where regexp_full_match(text, '{ISO_TIMESTAMP_WITH_OFFSET}') "
        f"<> (regexp_full_match(text, '{ISO_TIMESTAMP}') and regexp_matches(text, '{ISO_OFFSET}'))", [values]).fetchall()
    assert differing == []


@functools.cache
def _memory_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()  # one for all examples: connecting costs more than the query


def test_parquet_duplicates_and_rejects_keep_the_file_text(landing, warehouse, query, now):
    with duckdb.connect() as con:
        con.execute(f"""copy (select * from (values
                ('e1', 'page_view', '2024-05-01T10:00:00Z', 1),
                ('e2', ' Bogus ', '2024-05-01T10:00:00Z', 2),
                ('e1', 'page_view', '2024-05-01T10:00:00Z', 1),
                ('e1', 'search', '2024-05-01T10:00:00Z', 1),
                ('e3', 'search', '2024-05-01T10:00:00Z', 007))
            as t(event_id, event_type, occurred_at, session_id))
            to '{landing / "web_events.parquet"}' (format parquet)""")

    result = ingest(landing, warehouse, now=now)

    events = next(entry for entry in result.files if entry.source == "web_events")
    assert (events.rows_read, events.rows_loaded, events.rows_rejected) == (5, 2, 3)
    assert query(warehouse, "select event_id, session_id from raw.web_events order by _row_number") == [
        ("e1", "1"), ("e3", "7")]
    rejected = query(warehouse, "select row_number, reason, raw_values from raw.rejected_rows order by row_number")
    assert [(row, reason, json.loads(values)["event_type"]) for row, reason, values in rejected] == [
        (2, "event_type: not an allowed code: ' Bogus ' (allowed: page_view, product_view, search, add_to_cart, "
            "remove_from_cart, checkout, purchase)", " Bogus "),
        (3, "duplicate: exact repeat of an earlier row: web_events.parquet row 1", "page_view"),
        (4, "duplicate: same key with different content: event_id 'e1' first in web_events.parquet row 1", "search"),
    ]


def test_json_lines_parsed_block_by_block_equal_the_file_parsed_at_once(tmp_path, minimal_files, write, query, now,
                                                                     monkeypatch):
    # Keys first seen in a later block (rating, extra, a key no JSON path can name) become columns then;
    # a line that is no object and a duplicate sit in other blocks than the rows they relate to.
    lines = [
        '{"review_id": "r1", "product_id": "p1", "reviewed_at": "2024-05-01T10:00:00Z"}',
        '[1, 2]',
        '{"reviewed_at": "2024-05-02", "review_id": "r2", "rating": 4, "product_id": "p1"}',
        '{"review_id": "r1", "product_id": "p1", "reviewed_at": "2024-05-01T10:00:00Z"}',
        '{"extra": {"a": [1]}, "review_id": "r3", "product_id": "p2", "reviewed_at": "2024-05-03", "rating": 9}',
        '{"we\\"ird": true, "review_id": "r4", "product_id": "p2", "reviewed_at": "2024-05-04", "rating": "x"}',
    ]

    def outcome(folder_name: str):
        landing, warehouse = tmp_path / folder_name, tmp_path / f"{folder_name}.duckdb"
        write(landing, {**minimal_files, "product_reviews.jsonl": "\n".join(lines) + "\n"})
        result = ingest(landing, warehouse, now=now)
        reviews = next(entry for entry in result.files if entry.source == "product_reviews")
        return (
            (reviews.rows_read, reviews.rows_loaded, reviews.rows_rejected, reviews.warnings),
            query(warehouse, "select review_id, product_id, rating, reviewed_at, _row_number from raw.product_reviews "
                             "order by _row_number"),
            query(warehouse, "select row_number, raw_values, reason from raw.rejected_rows order by row_number"),
        )

    whole = outcome("whole")
    small_blocks = functools.partial(readers._json_line_blocks, block_chars=1)  # one line per block
    monkeypatch.setattr(readers, "_json_line_blocks", lambda path, encoding: small_blocks(path, encoding))
    by_line = outcome("by_line")

    assert by_line == whole
    assert whole[0] == (6, 2, 4, ['ignored unknown columns: extra, we"ird'])
    assert [(row, reason) for row, _, reason in whole[2]] == [
        (2, "line: not a JSON object"),
        (4, "duplicate: exact repeat of an earlier row: product_reviews.jsonl row 1"),
        (5, "rating: out of bounds [1, 5]: '9'"),
        (6, "rating: not a decimal number: 'x'"),
    ]
