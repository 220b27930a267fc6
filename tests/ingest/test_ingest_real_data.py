"""The two shipped mappings on the real public datasets, checked against their SOURCE.txt figures."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from anticipate.config import PROJECT_ROOT
from anticipate.ingest import ingest

pytestmark = pytest.mark.real_data

MAPPINGS = PROJECT_ROOT / "mappings"


def _landing_with(tmp_path: Path, dataset: Path) -> Path:
    """A landing folder holding (a link to) the read-only dataset, as a user would point at it."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / dataset.name).symlink_to(dataset)
    return landing


def test_online_retail_lines_are_all_accounted_for_with_fee_codes_guests_and_duplicates_rejected(
        shared_data, tmp_path, warehouse, query):
    landing = _landing_with(tmp_path, shared_data / "online_retail" / "online_retail.parquet")

    result = ingest(landing, warehouse, mapping_path=MAPPINGS / "online_retail.yml")

    [entry] = result.files
    assert entry.rows_read == 541_909
    assert entry.rows_read == entry.rows_loaded + entry.rows_rejected
    assert query(warehouse, "select count(distinct customer_id) from raw.customers") == [(4_372,)]
    assert result.rejects_by_reason["customer_id: required value is empty"] == 135_080
    kinds = {reason.split(": ")[0] + ": " + reason.split(": ")[1].split(" ")[0] for reason in result.rejects_by_reason}
    assert kinds == {"customer_id: required", "duplicate: exact", "excluded by mapping: non-product"}
    assert result.rejects_by_reason["excluded by mapping: non-product code POST"] == 1_256
    assert result.rejects_by_reason["duplicate: exact repeat of an earlier row"] > 5_000
    assert query(warehouse, "select count(*) from raw.rejected_rows") == [(entry.rows_rejected,)]
    # Cancellations keep their negative quantities as return lines.
    assert query(warehouse, "select count(*) > 0, bool_and(status = 'cancelled') from raw.orders where order_id like 'C%'") == [
        (True, True)]
    assert query(warehouse, "select min(quantity) < 0 from raw.order_items where order_id like 'C%'") == [(True,)]


def test_ta_feng_lines_load_with_baskets_per_customer_and_day(shared_data, tmp_path, warehouse, query):
    landing = _landing_with(tmp_path, shared_data / "ta_feng" / "ta_feng.csv.zip")

    result = ingest(landing, warehouse, mapping_path=MAPPINGS / "ta_feng.yml")

    [entry] = result.files
    assert entry.rows_read == 817_741
    assert entry.rows_read == entry.rows_loaded + entry.rows_rejected
    assert query(warehouse, "select count(distinct customer_id) from raw.customers") == [(32_266,)]
    assert query(warehouse, "select count(distinct product_id) from raw.products") == [(23_812,)]
    assert set(result.rejects_by_reason) <= {"duplicate: exact repeat of an earlier row"}
    assert query(warehouse, "select min(ordered_at)::date, max(ordered_at)::date from raw.orders") == [
        (date(2000, 10, 31), date(2001, 2, 27))]  # Taipei midnights are 16:00 UTC the day before
