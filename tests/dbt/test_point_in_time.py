"""Point in time: the snapshot features for as-of date T must not change when every source row dated on or
after T is removed. If any feature peeked at the future, removing the future would change it."""

from __future__ import annotations

from datetime import date, datetime, timezone

import duckdb
import pytest

from anticipate.contract import SOURCES

from conftest import XDIST_GROUP, assert_succeeded, copy_built_warehouse, query, run_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(XDIST_GROUP)]

CUTOFF = date(2024, 3, 1)
LATER_AS_OF = date(2024, 4, 1)
# The full fixture's default spine is monthly from 2024-03-01; the truncated history would switch `auto`
# to weekly, so pin the same month starts for the rebuild.
SPINE_VARS = {"snapshot_step": "month", "snapshot_end": "2024-08-01"}
# Seeds and models up to the snapshot, without data tests: the full build is checked elsewhere.
FEATURES_ONLY = ("build", "--select", "+customer_features_snapshot", "--exclude-resource-type", "test", "unit_test")


def snapshot_rows(warehouse, as_of: date) -> list[tuple]:
    rows = query(
        warehouse,
        "select * from marts.customer_features_snapshot where as_of_date = ? order by customer_id",
        [as_of],
    )
    # floats rounded so two builds summing in different orders still compare equal
    return [tuple(round(value, 9) if isinstance(value, float) else value for value in row) for row in rows]


def delete_rows_dated_from(warehouse, cutoff: date) -> int:
    """Delete every raw row with any timestamp or date column on/after the cutoff, then orphaned order lines."""
    cutoff_at = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=timezone.utc)
    deleted = 0
    with duckdb.connect(str(warehouse)) as con:
        for source in SOURCES.values():
            dated = [column.name for column in source.columns if column.kind in ("timestamp", "date")]
            if not dated:  # order lines go with their order, below
                continue
            condition = " or ".join(f"{name} >= ?" for name in dated)
            deleted += con.execute(
                f"delete from raw.{source.name} where {condition}", [cutoff_at] * len(dated)
            ).fetchone()[0]
        deleted += con.execute(
            "delete from raw.order_items where order_id not in (select order_id from raw.orders)"
        ).fetchone()[0]
    return deleted


@pytest.fixture(scope="module")
def truncated_warehouse(fixture_warehouse, tmp_path_factory):
    """A copy of the built fixture warehouse with the future removed and the features rebuilt."""
    truncated, folder = copy_built_warehouse(fixture_warehouse, tmp_path_factory, "point_in_time")
    deleted = delete_rows_dated_from(truncated, CUTOFF)
    assert deleted > 0
    assert_succeeded(run_dbt(truncated, folder / "target", *FEATURES_ONLY, vars=SPINE_VARS))
    return truncated


def test_features_at_the_cutoff_ignore_everything_from_the_cutoff_on(fixture_warehouse, truncated_warehouse):
    full_rows = snapshot_rows(fixture_warehouse[0], CUTOFF)
    assert len(full_rows) == 3
    assert snapshot_rows(truncated_warehouse, CUTOFF) == full_rows


def test_the_removed_rows_did_matter_for_a_later_as_of_date(fixture_warehouse, truncated_warehouse):
    # guards the test above: had nothing after the cutoff reached the features, it would prove nothing
    assert snapshot_rows(truncated_warehouse, LATER_AS_OF) != snapshot_rows(fixture_warehouse[0], LATER_AS_OF)
