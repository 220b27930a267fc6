"""Deliberately broken rows, a small share of each file, so ingestion's quarantine has something to catch.

Every dirty row is an extra row that nothing else refers to, so rejecting it never cascades: ingestion
should quarantine exactly the counts reported in `DemoDataSummary.dirty_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .commerce import Purchases
from .text import format_ids

#: Kind of dirty row -> the source it is injected into.
DIRTY_KINDS = {
    "duplicate_order": "orders",  # an exact copy of an order row
    "unparseable_ordered_at": "orders",  # ordered_at such as 2024-13-45
    "unknown_order_status": "orders",
    "empty_product_id": "order_items",
    "non_numeric_unit_price": "order_items",  # unit_price 'abc'
    "orphan_order_line": "order_items",  # order_id not in orders
    "unknown_event_type": "web_events",  # event_type 'teleport'
    "non_object_json_line": "marketing_interactions",  # a JSON Lines line that is not an object
}
UNPARSEABLE_TIMESTAMPS = ("2024-13-45", "2025-02-30T10:00:00Z", "31/31/2025 25:61", "not a date")
UNKNOWN_STATUS = "lost_in_space"
UNKNOWN_EVENT_TYPE = "teleport"
NON_NUMERIC_PRICE = "abc"
NON_OBJECT_JSON_LINES = ("[1,2,3]", '"just a string"', "42", "null")
#: Orphan order lines point at order numbers no generated order reaches.
ORPHAN_ORDER_BASE = 990_000_000


def dirty_count(dirty_share: float, rows: int, source: str) -> int:
    """Rows of one kind for a chunk: the source's share split across its kinds, at least one when any."""
    if dirty_share <= 0 or rows == 0:
        return 0
    kinds = sum(1 for target in DIRTY_KINDS.values() if target == source)
    return max(1, int(round(dirty_share * rows / kinds)))


def insert_at_random(rng: np.random.Generator, table: pa.Table, extra: pa.Table) -> pa.Table:
    """`table` with the rows of `extra` spread over random positions.

    Built from zero-copy slices: taking the whole table through a permutation costs seconds per chunk.
    """
    if extra.num_rows == 0:
        return table
    extra = extra.cast(table.schema)
    positions = np.sort(rng.integers(0, table.num_rows + 1, extra.num_rows))
    pieces, previous = [], 0
    for index, position in enumerate(positions.tolist()):
        pieces.append(table.slice(previous, position - previous))
        pieces.append(extra.slice(index, 1))
        previous = position
    pieces.append(table.slice(previous))
    return pa.concat_tables(pieces).combine_chunks()


def _with(table: pa.Table, column: str, values) -> pa.Table:
    array = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return table.set_column(table.schema.get_field_index(column), column, array)


def dirty_orders(rng: np.random.Generator, orders: pa.Table, counts: dict[str, int], next_order_number: int) -> pa.Table:
    """Duplicates of real orders, plus new orders (no lines) with a broken timestamp or status."""
    n = orders.num_rows
    duplicates = orders.take(pa.array(rng.integers(0, n, counts["duplicate_order"])))
    broken = counts["unparseable_ordered_at"] + counts["unknown_order_status"]
    extra = orders.take(pa.array(rng.integers(0, n, broken)))
    extra = _with(extra, "order_id", format_ids("O", next_order_number + np.arange(broken) + 1, 9))
    bad_time = counts["unparseable_ordered_at"]
    ordered_at = extra["ordered_at"].to_pylist()
    status = extra["status"].to_pylist()
    for index in range(broken):
        if index < bad_time:
            ordered_at[index] = UNPARSEABLE_TIMESTAMPS[index % len(UNPARSEABLE_TIMESTAMPS)]
        else:
            status[index] = UNKNOWN_STATUS
    extra = _with(_with(extra, "ordered_at", ordered_at), "status", status)
    return pa.concat_tables([duplicates, extra])


def dirty_order_items(
    rng: np.random.Generator, items: pa.Table, orders: pa.Table, lines_per_order: np.ndarray, counts: dict[str, int], first_orphan: int
) -> pa.Table:
    """Extra lines on real orders with an empty product or a non-numeric price, and lines of missing orders."""
    on_real_orders = counts["empty_product_id"] + counts["non_numeric_unit_price"]
    # Distinct orders, each getting its next line number, keep (order_id, line_number) unique.
    order = rng.choice(orders.num_rows, size=on_real_orders, replace=False)
    extra = items.take(pa.array(rng.integers(0, items.num_rows, on_real_orders)))
    extra = _with(extra, "order_id", orders["order_id"].combine_chunks().take(pa.array(order)))
    extra = _with(extra, "line_number", [str(value) for value in (lines_per_order[order] + 1).tolist()])
    product = extra["product_id"].to_pylist()
    price = extra["unit_price"].to_pylist()
    for index in range(on_real_orders):
        if index < counts["empty_product_id"]:
            product[index] = ""
        else:
            price[index] = NON_NUMERIC_PRICE
    extra = _with(_with(extra, "product_id", product), "unit_price", price)
    orphans = items.take(pa.array(rng.integers(0, items.num_rows, counts["orphan_order_line"])))
    orphans = _with(orphans, "order_id", format_ids("O", ORPHAN_ORDER_BASE + first_orphan + np.arange(orphans.num_rows) + 1, 9))
    orphans = _with(orphans, "line_number", ["1"] * orphans.num_rows)
    return pa.concat_tables([extra, orphans])


def dirty_web_events(rng: np.random.Generator, events: pa.Table, count: int, next_event_number: int) -> pa.Table:
    extra = events.take(pa.array(rng.integers(0, events.num_rows, count)))
    extra = _with(extra, "event_id", format_ids("E", next_event_number + np.arange(count) + 1, 11))
    return _with(extra, "event_type", [UNKNOWN_EVENT_TYPE] * count)


def non_object_json_lines(count: int) -> list[str]:
    return [NON_OBJECT_JSON_LINES[index % len(NON_OBJECT_JSON_LINES)] for index in range(count)]


@dataclass(frozen=True)
class DirtyChunk:
    """A chunk's files with their dirty rows in place, and how many of each kind were added."""

    orders: pa.Table
    order_items: pa.Table
    web_events: pa.Table
    json_lines: list[str]  # lines to append to the JSON Lines file
    counts: dict[str, int]


def add_dirty_rows(
    rng: np.random.Generator,
    dirty_share: float,
    purchases: Purchases,
    web_events: pa.Table,
    interaction_rows: int,
    *,
    next_order_number: int,
    next_event_number: int,
    next_orphan_number: int,
) -> DirtyChunk:
    orders, items = purchases.orders, purchases.order_items
    clean_rows = {"orders": orders.num_rows, "order_items": items.num_rows, "web_events": web_events.num_rows, "marketing_interactions": interaction_rows}
    counts = {kind: dirty_count(dirty_share, clean_rows[source], source) for kind, source in DIRTY_KINDS.items()}
    # Extra lines go on distinct real orders: a tiny chunk may have too few.
    while counts["empty_product_id"] + counts["non_numeric_unit_price"] > orders.num_rows:
        counts["non_numeric_unit_price" if counts["non_numeric_unit_price"] >= counts["empty_product_id"] else "empty_product_id"] -= 1
    if orders.num_rows:
        extra_orders = dirty_orders(rng, orders, counts, next_order_number)
        extra_items = dirty_order_items(rng, items, orders, purchases.lines_per_order, counts, next_orphan_number)
        orders = insert_at_random(rng, orders, extra_orders)
        items = insert_at_random(rng, items, extra_items)
    if web_events.num_rows:
        web_events = insert_at_random(rng, web_events, dirty_web_events(rng, web_events, counts["unknown_event_type"], next_event_number))
    return DirtyChunk(orders, items, web_events, non_object_json_lines(counts["non_object_json_line"]), counts)
