"""Property: whatever mix of good and damaged rows arrives, nothing is dropped and good text survives exactly."""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anticipate.ingest import ingest

OTHER_SOURCES = {
    "products.csv": "product_id\np1\n",
    "orders.csv": "order_id,customer_id,ordered_at\no1,c1,2024-05-01\n",
    "order_items.csv": "order_id,product_id\no1,p1\n",
}
HEADER = ["customer_id", "first_name", "last_name", "postal_code", "signup_at", "marketing_opt_in"]
EXAMPLES = itertools.count()
DAMAGES = ("empty id", "bad time", "bad boolean", "extra field", "missing field")

names = st.text(alphabet="aeéüøÅçñ' \",-\nO", min_size=1, max_size=12).filter(lambda name: name.strip())
postcodes = st.from_regex(r"0[0-9]{3,5}", fullmatch=True)
rows = st.lists(st.tuples(names, names, postcodes, st.sampled_from((None,) + DAMAGES)), min_size=1, max_size=25)


def _damaged(record: list[str], damage: str | None) -> list[str]:
    if damage == "empty id":
        record[0] = "  "
    elif damage == "bad time":
        record[4] = "31/02/2024"
    elif damage == "bad boolean":
        record[5] = "perhaps"
    elif damage == "extra field":
        record.append("surplus")
    elif damage == "missing field":
        record.pop()
    return record


@pytest.fixture(scope="module")
def shared_warehouse(tmp_path_factory) -> Path:
    """One warehouse for all examples, so the unchanged sources are skipped as already loaded (faster)."""
    return tmp_path_factory.mktemp("property") / "w.duckdb"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated=rows)
def test_loaded_plus_rejected_equals_read_and_good_rows_keep_their_exact_text(shared_warehouse, generated):
    example = next(EXAMPLES)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER + ["example"])  # a distinct, ignored column: every example is new content
    good = []
    for index, (first, last, postcode, damage) in enumerate(generated):
        customer_id = f"{index:04d}"  # leading zeros must survive
        writer.writerow(_damaged([customer_id, first, last, postcode, "2024-01-02T03:04:05Z", "Yes", str(example)], damage))
        if damage is None:
            good.append((customer_id, first, last, postcode))

    with tempfile.TemporaryDirectory() as folder:
        landing = Path(folder)
        (landing / "customers.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
        for name, content in OTHER_SOURCES.items():
            (landing / name).write_text(content, encoding="utf-8")

        result = ingest(landing, shared_warehouse, now=datetime(2024, 6, 1, tzinfo=timezone.utc))

    customers = result.files[0]
    assert (customers.source, customers.status) == ("customers", "loaded")
    assert customers.rows_read == len(generated)
    assert customers.rows_loaded + customers.rows_rejected == customers.rows_read
    assert customers.rows_rejected == len(generated) - len(good)
    with duckdb.connect(str(shared_warehouse), read_only=True) as con:
        loaded = con.execute("select customer_id, first_name, last_name, postal_code from raw.customers "
                             "where _batch_id = ? order by customer_id", [result.batch_id]).fetchall()
        quarantined = con.execute("select count(*) from raw.rejected_rows where batch_id = ?", [result.batch_id]).fetchone()[0]
    assert loaded == good
    assert quarantined == customers.rows_rejected
