"""Ingestion: landing files (CSV, Parquet, JSON Lines, or one flat order-lines export) -> DuckDB `raw`.

    from anticipate.ingest import ingest, IngestResult, FileError
    result = ingest(landing_dir, warehouse, mapping_path=None, now=None, progress=print)

The rules are documented in docs/source_contract.md.
"""

from anticipate.ingest.errors import FileError
from anticipate.ingest.load import ingest
from anticipate.ingest.result import FileLogEntry, IngestResult

__all__ = ["FileError", "FileLogEntry", "IngestResult", "ingest"]
