"""Landing files written chunk by chunk: CSV (RFC 4180), Parquet and JSON Lines.

Files are written under a `.partial` name and renamed only when the whole set is complete, so a
landing-folder watcher never picks up half a demo. Writing runs on one background thread (Arrow
releases the GIL), so a chunk is serialised while the next one is simulated.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from anticipate.contract import SOURCES

#: Landing file per source: formats mixed on purpose, ingestion accepts all three.
FILE_NAMES = {
    "customers": "customers.csv",
    "products": "products.csv",
    "orders": "orders.csv",
    "order_items": "order_items.csv",
    "web_events": "web_events.parquet",
    "marketing_interactions": "marketing_interactions.jsonl",
    "product_reviews": "product_reviews.csv",
}
#: Columns written as bare JSON numbers rather than strings.
_JSON_NUMBER_COLUMNS = frozenset({"sentiment"})
#: Rows serialised at once: keeps a batch's text well under the 2 GB of a 32-bit-offset Arrow string array.
_JSON_BATCH_ROWS = 1_000_000


def _schema(source: str) -> pa.Schema:
    return pa.schema([pa.field(name, pa.string()) for name in SOURCES[source].column_names])


class LandingWriter:
    """Appends text tables to the landing files; `commit()` publishes them, otherwise they are removed."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rows = {source: 0 for source in FILE_NAMES}
        self._handles: dict[str, object] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-writer")
        self._pending: list[Future] = []

    def _partial(self, source: str) -> Path:
        return self.out_dir / (FILE_NAMES[source] + ".partial")

    def write(self, source: str, table: pa.Table, extra_json_lines: list[str] | None = None) -> None:
        """Queue `table` (text columns in contract order) to be appended; `extra_json_lines` go in verbatim."""
        schema = _schema(source)
        if table.column_names != schema.names:
            raise ValueError(f"{source} columns must be {schema.names}, got {table.column_names}")
        self.rows[source] += table.num_rows + len(extra_json_lines or [])
        self._pending.append(self._executor.submit(self._append, source, table.cast(schema), extra_json_lines or []))

    def flush(self) -> None:
        """Wait until everything queued is written; raises the first writing error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _append(self, source: str, table: pa.Table, extra_json_lines: list[str]) -> None:
        file_name = FILE_NAMES[source]
        first = source not in self._handles
        if file_name.endswith(".parquet"):
            if first:
                self._handles[source] = pq.ParquetWriter(self._partial(source), table.schema, compression="zstd")
            self._handles[source].write_table(table)
            return
        if first:
            self._handles[source] = open(self._partial(source), "wb")
        handle = self._handles[source]
        if file_name.endswith(".csv"):
            # pyarrow quotes every string and doubles embedded quotes: valid RFC 4180.
            pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=first))
        else:
            for start in range(0, table.num_rows, _JSON_BATCH_ROWS):
                handle.write(_json_lines(table.slice(start, _JSON_BATCH_ROWS)))
            handle.write("".join(line + "\n" for line in extra_json_lines).encode("utf-8"))

    def commit(self) -> dict[str, Path]:
        self.flush()
        self._close()
        published = {}
        for source, file_name in FILE_NAMES.items():
            if source not in self._handles:
                raise RuntimeError(f"no rows were written for {source}; every landing file must exist")
            os.replace(self._partial(source), self.out_dir / file_name)
            published[source] = self.out_dir / file_name
        return published

    def abort(self) -> None:
        for future in self._pending:
            future.cancel()
        self._executor.shutdown(wait=True)
        self._close()
        for source in self._handles:
            self._partial(source).unlink(missing_ok=True)

    def _close(self) -> None:
        self._executor.shutdown(wait=True)
        for handle in self._handles.values():
            handle.close()


def _json_lines(table: pa.Table) -> bytes:
    """One JSON object per row, newline-terminated. Values are ids, codes, timestamps and numbers: none needs escaping."""
    pieces: list = []
    for index, name in enumerate(table.column_names):
        values = table[name].combine_chunks()
        if name not in _JSON_NUMBER_COLUMNS:
            values = pc.binary_join_element_wise('"', values, '"', "")
        pieces += [("{" if index == 0 else ",") + f'"{name}":', pc.fill_null(values, "null")]
    lines = pc.binary_join_element_wise(*pieces, "}\n", "")
    if len(lines) == 0:
        return b""
    # The rows are contiguous in the values buffer: write it as is instead of making a Python string per row.
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(data)[int(bounds[0]) : int(bounds[-1])].tobytes()
