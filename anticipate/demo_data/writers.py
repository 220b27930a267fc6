"""Landing files written chunk by chunk: CSV (RFC 4180), Parquet and JSON Lines.

Files are written under a `.partial` name and renamed only when the whole set is complete, so a
landing-folder watcher never picks up half a demo.
"""

from __future__ import annotations

import os
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


def _schema(source: str) -> pa.Schema:
    return pa.schema([pa.field(name, pa.string()) for name in SOURCES[source].column_names])


class LandingWriter:
    """Appends text tables to the landing files; `commit()` publishes them, otherwise they are removed."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rows = {source: 0 for source in FILE_NAMES}
        self._handles: dict[str, object] = {}

    def _partial(self, source: str) -> Path:
        return self.out_dir / (FILE_NAMES[source] + ".partial")

    def write(self, source: str, table: pa.Table, extra_json_lines: list[str] | None = None) -> None:
        schema = _schema(source)
        if table.column_names != schema.names:
            raise ValueError(f"{source} columns must be {schema.names}, got {table.column_names}")
        table = table.cast(schema)
        file_name = FILE_NAMES[source]
        if file_name.endswith(".parquet"):
            if source not in self._handles:
                self._handles[source] = pq.ParquetWriter(self._partial(source), schema, compression="zstd")
            self._handles[source].write_table(table)
        else:
            if source not in self._handles:
                self._handles[source] = open(self._partial(source), "wb")
                first = True
            else:
                first = False
            handle = self._handles[source]
            if file_name.endswith(".csv"):
                # pyarrow quotes every string and doubles embedded quotes: valid RFC 4180 with CRLF-free rows.
                pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=first))
            else:
                handle.write(_json_lines(table))
                if extra_json_lines:
                    handle.write("".join(line + "\n" for line in extra_json_lines).encode("utf-8"))
                self.rows[source] += len(extra_json_lines or [])
        self.rows[source] += table.num_rows

    def commit(self) -> dict[str, Path]:
        self._close()
        published = {}
        for source, file_name in FILE_NAMES.items():
            if source not in self._handles:
                raise RuntimeError(f"no rows were written for {source}; every landing file must exist")
            os.replace(self._partial(source), self.out_dir / file_name)
            published[source] = self.out_dir / file_name
        return published

    def abort(self) -> None:
        self._close()
        for source in self._handles:
            self._partial(source).unlink(missing_ok=True)

    def _close(self) -> None:
        for handle in self._handles.values():
            handle.close()


def _json_lines(table: pa.Table) -> bytes:
    """One JSON object per row, newline-terminated. Values are ids, codes, timestamps and numbers: none needs escaping."""
    def text(value: str) -> pa.Scalar:
        return pa.scalar(value, pa.large_string())

    pieces: list = []
    for index, name in enumerate(table.column_names):
        values = table[name].combine_chunks().cast(pa.large_string())  # 64-bit offsets: a chunk may pass 2 GB
        if name not in _JSON_NUMBER_COLUMNS:
            values = pc.binary_join_element_wise(text('"'), values, text('"'), text(""))
        pieces += [text(("{" if index == 0 else ",") + f'"{name}":'), pc.fill_null(values, text("null"))]
    lines = pc.binary_join_element_wise(*pieces, text("}\n"), text(""))
    if len(lines) == 0:
        return b""
    # The rows are contiguous in the values buffer: write it as is instead of making a Python string per row.
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(data)[int(bounds[0]) : int(bounds[-1])].tobytes()
