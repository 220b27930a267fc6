"""Staging keeps one row per key: the latest load of a re-sent row, and order lines numbered when an
export had no line numbers (rows written to raw without ingestion, which would have filled them)."""

from __future__ import annotations

import pytest

from conftest import (BATCH_1, BATCH_2, XDIST_GROUP, assert_succeeded, copy_built_warehouse, insert_fixture, query,
                      run_dbt)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(XDIST_GROUP)]

EXTRA_ROWS = {
    "orders": [
        (BATCH_1, ("o21", "c1", "2024-03-05 10:00:00+00", "delivered", "web", "EUR", 0.0, 0.0)),
        (BATCH_1, ("o22", "c2", "2024-03-06 10:00:00+00", "delivered", "web", "EUR", 0.0, 0.0)),
    ],
    "order_items": [
        # o1 line 1 re-sent by the later batch with another price: a correction
        (BATCH_2, ("o1", 1, "p1", 1.0, 95.0, 10.0)),
        # o21: no line numbers at all; o22: one numbered line and one without
        (BATCH_1, ("o21", None, "p1", 1.0, 10.0, 0.0)),
        (BATCH_1, ("o21", None, "p2", 2.0, 11.0, 0.0)),
        (BATCH_1, ("o22", 1, "p3", 1.0, 12.0, 0.0)),
        (BATCH_1, ("o22", None, "p1", 1.0, 13.0, 0.0)),
    ],
    "marketing_interactions": [
        (BATCH_1, ("m-extra", "c1", "email", "open", "camp-1", "2024-02-01 10:00:00+00", None)),
        (BATCH_2, ("m-extra", "c1", "email", "click", "camp-1", "2024-02-01 10:00:00+00", None)),
    ],
}


@pytest.fixture(scope="module")
def staged_warehouse(fixture_warehouse, tmp_path_factory):
    copy, folder = copy_built_warehouse(fixture_warehouse, tmp_path_factory, "staging_versions")
    insert_fixture(copy, EXTRA_ROWS)
    assert_succeeded(run_dbt(copy, folder / "target", "build", "--select", "stg_orders", "stg_order_items",
                                 "stg_marketing_interactions"))
    return copy


def test_a_re_sent_order_line_is_kept_once_with_the_later_values(staged_warehouse):
    lines = query(staged_warehouse, "select unit_price, batch_id from staging.stg_order_items where order_item_id = 'o1-1'")
    assert lines == [(95.0, "batch-2")]


def test_lines_without_a_number_take_their_position_among_the_orders_lines(staged_warehouse):
    lines = query(
        staged_warehouse,
        "select order_item_id, product_id, unit_price from staging.stg_order_items "
        "where order_id in ('o21', 'o22') order by order_item_id",
    )
    assert lines == [
        ("o21-1", "p1", 10.0),
        ("o21-2", "p2", 11.0),
        ("o22-1", "p3", 12.0),
        ("o22-2", "p1", 13.0),
    ]


def test_every_other_line_is_kept_as_loaded(staged_warehouse, fixture_warehouse):
    before = query(fixture_warehouse[0], "select order_item_id, unit_price from staging.stg_order_items order by 1")
    after = query(
        staged_warehouse,
        "select order_item_id, unit_price from staging.stg_order_items "
        "where order_id not in ('o21', 'o22') and order_item_id <> 'o1-1' order by 1",
    )
    assert after == [row for row in before if row[0] != "o1-1"]


def test_a_re_sent_interaction_is_kept_once_as_corrected(staged_warehouse):
    rows = query(staged_warehouse, "select interaction_type from staging.stg_marketing_interactions where interaction_id = 'm-extra'")
    assert rows == [("click",)]
