"""What a batch did, per file and in total: returned to the caller and written to `raw.ingestion_log`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileLogEntry:
    """One `raw.ingestion_log` row. For a loaded file rows_read == rows_loaded + rows_rejected."""

    source: str
    file: str | None
    status: str  # loaded | skipped | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    content_hash: str | None = None


@dataclass
class IngestResult:
    batch_id: str
    files: list[FileLogEntry]
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    #: Rule (e.g. "ordered_at: not an ISO 8601 timestamp") -> rejected rows breaking it; a row breaking
    #: two rules counts under both.
    rejects_by_reason: dict[str, int]
