"""Memory stays bounded by the largest source, not the batch: a source's working tables go once its rows are in."""

from __future__ import annotations

import duckdb

from anticipate.ingest import ingest

CUSTOMERS = 200_000


def _table_memory(warehouse) -> int:
    # In the same process, connecting to the open warehouse joins ingestion's database instance.
    with duckdb.connect(str(warehouse)) as con:
        return con.execute("select coalesce(sum(memory_usage_bytes + temporary_storage_bytes), 0) "
                           "from duckdb_memory() where tag = 'IN_MEMORY_TABLE'").fetchone()[0]


def test_a_source_s_staged_and_checked_rows_are_freed_before_the_next_source_loads(landing, warehouse, write, query, now):
    write(landing, {"customers.csv": "customer_id,email,first_name\n" + "".join(
        f"c{index},customer{index}@example.com,Name {index}\n" for index in range(CUSTOMERS))})
    memory: dict[str, int] = {}

    def progress(message: str) -> None:
        if message.startswith("customers.csv:") and "loaded" in message:
            memory["customers checked"] = _table_memory(warehouse)
        elif message.startswith("orders.csv:") and "rows read" in message:
            memory["orders staged"] = _table_memory(warehouse)

    result = ingest(landing, warehouse, now=now, progress=progress)

    assert result.rows_loaded == CUSTOMERS + 2 + 2 + 3
    # Before the fix a batch kept every source's staged text and checked table until it committed.
    assert memory["orders staged"] < memory["customers checked"] / 4, memory
    # ... and the batch is still one transaction: the rows of every source, the order lines' checks against
    # orders loaded in this batch (not yet committed) included.
    assert query(warehouse, "select count(*) from raw.customers") == [(CUSTOMERS,)]
    assert query(warehouse, "select count(*) from raw.rejected_rows") == [(0,)]
    warnings = {entry.source: entry.warnings for entry in result.files}
    assert warnings["orders"] == [] and warnings["order_items"] == []
