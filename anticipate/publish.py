"""Publishing a read-only copy of the warehouse for BI tools and the API.

DuckDB lets one process write a database file and keeps every other process out while it does, even
readers. So readers never open the pipeline's warehouse: after a successful run the pipeline copies the
marts, ml and predictions schemas into a new DuckDB file beside the published one and renames it onto
the published name (`os.replace`, atomic on one file system). A reader that opened the previous file
keeps reading it (the old inode lives until its last handle closes); the next connection sees the new
one. Readers therefore see one complete publication or the next, never a mix, and are never blocked.

Readers open the published file read-only (`duckdb.connect(path, read_only=True)`, or `?access_mode=read_only`
in a BI tool's connection string). A read-write connection would write a `.wal` file beside it that the
next swap would pair with the wrong database, so publishing refuses to swap while one exists.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

__all__ = [
    "PUBLISHED_PATH_VAR",
    "PUBLISHED_SCHEMAS",
    "MANIFEST_TABLE",
    "PublishResult",
    "default_published_path",
    "publish_snapshot",
]

#: Overrides where the published copy goes (the lead moves this into anticipate.config).
PUBLISHED_PATH_VAR = "ANTICIPATE_PUBLISHED_PATH"
PUBLISHED_SCHEMAS = ("marts", "ml", "predictions")
#: One row per published table: published_at, source_warehouse, table_schema, table_name, source_type, row_count.
MANIFEST_TABLE = "_published.manifest"

_SOURCE_ALIAS = "_anticipate_source"


@dataclass(frozen=True)
class PublishResult:
    """What a publication wrote: where, when, and the rows of each table (`schema.table` -> rows)."""

    path: Path
    published_at: datetime
    row_counts: dict[str, int]
    seconds: float


def default_published_path(warehouse: str | os.PathLike) -> Path:
    """ANTICIPATE_PUBLISHED_PATH if set, else `<warehouse folder>/published/<warehouse file name>`.

    The published file keeps the warehouse's stem, so DuckDB names its catalog the same in both and
    queries qualified by database name work against either.
    """
    chosen = os.environ.get(PUBLISHED_PATH_VAR)
    if chosen:
        return Path(chosen).expanduser()
    warehouse = Path(warehouse).expanduser()
    return warehouse.parent / "published" / f"{warehouse.stem}.duckdb"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _copy_table(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    """Materialise one source table or view into the snapshot; returns its row count."""
    target = f"{_quoted(schema)}.{_quoted(table)}"
    connection.execute(f"create table {target} as select * from {_SOURCE_ALIAS}.{target}")
    return connection.execute(f"select count(*) from {target}").fetchone()[0]


def _write_manifest(connection: duckdb.DuckDBPyConnection, published_at: datetime, warehouse: Path,
                    copied: list[tuple[str, str, str, int]]) -> None:
    connection.execute("create schema _published")
    connection.execute(
        f"create table {MANIFEST_TABLE} (published_at timestamptz not null, source_warehouse varchar not null, "
        "table_schema varchar not null, table_name varchar not null, source_type varchar not null, "
        "row_count bigint not null)"
    )
    connection.executemany(
        f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?, ?, ?)",
        [[published_at, str(warehouse), schema, table, kind, rows] for schema, table, kind, rows in copied],
    )


def _build_snapshot(warehouse: Path, snapshot: Path, schemas: tuple[str, ...],
                    published_at: datetime) -> dict[str, int]:
    with duckdb.connect(str(snapshot)) as connection:
        # READ_ONLY: the copy never takes the writer's lock on the warehouse
        path_literal = str(warehouse).replace("'", "''")
        connection.execute(f"attach '{path_literal}' as {_SOURCE_ALIAS} (read_only)")
        tables = connection.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = ? and table_schema in (select unnest(?)) order by table_schema, table_name",
            [_SOURCE_ALIAS, list(schemas)],
        ).fetchall()
        copied = []
        for schema in schemas:  # every schema, even if empty, so readers' queries name a schema that exists
            connection.execute(f"create schema if not exists {_quoted(schema)}")
        for schema, table, kind in tables:
            copied.append((schema, table, kind, _copy_table(connection, schema, table)))
        connection.execute(f"detach {_SOURCE_ALIAS}")
        _write_manifest(connection, published_at, warehouse, copied)
        connection.execute("checkpoint")  # everything in the file itself, no .wal to carry along
    return {f"{schema}.{table}": rows for schema, table, _, rows in copied}


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_snapshot(warehouse: str | os.PathLike, published_path: str | os.PathLike, *,
                     schemas: tuple[str, ...] = PUBLISHED_SCHEMAS) -> PublishResult:
    """Copy `schemas` of `warehouse` into a new DuckDB file and swap it onto `published_path` atomically.

    Tables and views alike become tables in the copy (a view would point at the warehouse readers must
    not open), and `_published.manifest` records the publication. The copy is built under a temporary
    name in the published file's folder (a rename is atomic only within one file system), written to
    disk, then renamed onto `published_path`. On any failure the temporary file is removed and the
    previous published file stays as it was.

    The warehouse is attached read-only, so no process may hold it read-write meanwhile; within one
    process, close connections to it first (DuckDB shares one instance per file and refuses to reopen it
    with other options).

    Raises
    ------
    FileNotFoundError
        The warehouse does not exist.
    RuntimeError
        A `.wal` file sits beside the published file: someone opened it read-write.
    """
    started = time.perf_counter()
    warehouse = Path(warehouse).expanduser().resolve()
    published_path = Path(published_path).expanduser()
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist: nothing to publish")
    if published_path.resolve() == warehouse:
        raise ValueError(f"published_path must differ from the warehouse, got {published_path}")
    if not schemas:
        raise ValueError("schemas must name at least one schema, got none")
    stale_wal = published_path.with_name(published_path.name + ".wal")
    if stale_wal.exists():
        raise RuntimeError(f"{stale_wal} exists: the published file was opened read-write; readers must open it "
                           "read-only. Remove the .wal file (its changes would be lost anyway) and publish again.")
    published_path.parent.mkdir(parents=True, exist_ok=True)
    published_at = datetime.now(timezone.utc)
    temporary = published_path.with_name(f".{published_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        row_counts = _build_snapshot(warehouse, temporary, tuple(schemas), published_at)
        _fsync(temporary)
        os.replace(temporary, published_path)
    except BaseException:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    _fsync(published_path.parent)  # the rename itself survives a crash
    return PublishResult(path=published_path, published_at=published_at, row_counts=row_counts,
                         seconds=time.perf_counter() - started)
