"""Point in time: the snapshot features for as-of date T must not change when every source row dated on or
after T is removed. If any feature peeked at the future, removing the future would change it."""

from __future__ import annotations

from datetime import date, datetime, timezone

import duckdb
import pytest

from anticipate.contract import SOURCES

from conftest import assert_succeeded, create_raw_tables, insert_fixture, query, run_dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt_point_in_time")]

CUTOFF = date(2024, 3, 1)
# Pin the spine so the truncated history keeps the same as-of dates (auto would switch it to weekly).
SPINE_VARS = {"snapshot_step": "month", "snapshot_end": "2024-08-01"}
# Seeds and models up to the snapshot, without data tests: the full build is checked elsewhere.
FEATURES_ONLY = ("build", "--select", "+customer_features_snapshot", "--exclude-resource-type", "test", "unit_test")


def snapshot_rows(warehouse, as_of: date) -> list[tuple]:
    return query(
        warehouse,
        "select * from marts.customer_features_snapshot where as_of_date = ? order by customer_id",
        [as_of],
    )


def delete_rows_dated_from(warehouse, cutoff: date) -> int:
    """Delete every raw row with any timestamp or date column on/after the cutoff, then orphaned order lines."""
    cutoff_at = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=timezone.utc)
    deleted = 0
    with duckdb.connect(str(warehouse)) as con:
        for source in SOURCES.values():
            dated = [column.name for column in source.columns if column.kind in ("timestamp", "date")]
            if not dated:
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
def builds_before_and_after_removing_the_future(tmp_path_factory):
    folder = tmp_path_factory.mktemp("point_in_time")
    warehouse = folder / "anticipate.duckdb"
    create_raw_tables(warehouse)
    insert_fixture(warehouse)
    target = folder / "target"

    full = run_dbt(warehouse, target, *FEATURES_ONLY, vars=SPINE_VARS)
    assert_succeeded(full)
    full_rows = {as_of: snapshot_rows(warehouse, as_of) for as_of in (CUTOFF, date(2024, 4, 1))}

    deleted = delete_rows_dated_from(warehouse, CUTOFF)
    truncated = run_dbt(warehouse, target, *FEATURES_ONLY, vars=SPINE_VARS)
    assert_succeeded(truncated)
    truncated_rows = {as_of: snapshot_rows(warehouse, as_of) for as_of in (CUTOFF, date(2024, 4, 1))}
    return full_rows, truncated_rows, deleted


def test_features_at_the_cutoff_ignore_everything_from_the_cutoff_on(builds_before_and_after_removing_the_future):
    full_rows, truncated_rows, deleted = builds_before_and_after_removing_the_future
    assert deleted > 0
    assert len(full_rows[CUTOFF]) == 3
    assert [tuple(map(_comparable, row)) for row in truncated_rows[CUTOFF]] == [
        tuple(map(_comparable, row)) for row in full_rows[CUTOFF]
    ]


def test_the_removed_rows_did_matter_for_a_later_as_of_date(builds_before_and_after_removing_the_future):
    # guards the test above: had nothing after the cutoff reached the features, it would prove nothing
    full_rows, truncated_rows, _ = builds_before_and_after_removing_the_future
    assert truncated_rows[date(2024, 4, 1)] != full_rows[date(2024, 4, 1)]


def _comparable(value):
    """Floats rounded so two builds summing in different orders still compare equal."""
    return round(value, 9) if isinstance(value, float) else value
