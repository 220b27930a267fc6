"""One batch: landing folder -> DuckDB `raw`, atomically, with quarantine and the ingestion log."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from anticipate.contract import (
    CONTRACT_VERSION,
    INGESTION_LOG_DDL,
    LOAD_ORDER,
    REJECTED_ROWS_DDL,
    SOURCES,
    raw_table_ddl,
)
from anticipate.ingest import flat as flat_lines
from anticipate.ingest.errors import FileError
from anticipate.ingest.mapping import FLAT_SOURCES, Mapping, load_mapping
from anticipate.ingest.normalize import file_select
from anticipate.ingest.readers import StagedFile, content_hash, discover, drop_stage, stage_file
from anticipate.ingest.record import (copy_rows, counts_by_file, insert_rejects, reason_counts,
                                       unknown_reference_warnings)
from anticipate.ingest.result import FileLogEntry, IngestResult
from anticipate.ingest.validate import (append_reason, create_checked_table, file_name_sql, ident, reject_duplicates,
                                         sql_string)

FLAT_SOURCE_NAME = "flat_order_lines"
#: Sources other sources reference (order lines name an order, events a customer, ...).
PARENT_SOURCES = tuple(sorted({parent for source in SOURCES.values() for parent in source.foreign_keys.values()}))
#: DuckDB's buffer memory, for ingestion as for dbt (profiles.yml reads the same variables): a size such as
#: '8GiB' or a share of physical memory such as '40%'. Past it DuckDB spills to its temp directory (default:
#: `<warehouse>.tmp`); the process peaks somewhat above it (file readers, Python).
MEMORY_LIMIT_ENV = "ANTICIPATE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "40%"
TEMP_DIRECTORY_ENV = "ANTICIPATE_DUCKDB_TEMP_DIRECTORY"


def ingest(landing_dir: Path, warehouse: Path, *, mapping_path: Path | None = None, now: datetime | None = None,
           progress: Callable[[str], None] | None = None) -> IngestResult:
    """Load every new file of the landing folder into `raw` as one batch; see docs/source_contract.md.

    Raises FileError when a file (or a required source, or the mapping) cannot be loaded: then nothing
    of the batch is loaded, and only the failing file's `failed` row is added to `raw.ingestion_log`.
    """
    landing_dir, warehouse = Path(landing_dir), Path(warehouse)
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    now = now.astimezone(timezone.utc)
    if mapping_path is None and (landing_dir / "mapping.yml").is_file():
        mapping_path = landing_dir / "mapping.yml"
    batch_id = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    work = None
    try:
        _configure_session(con)
        configure_for_bulk_load(con)
        create_raw_tables(con)
        batch = _Batch(con, landing_dir, batch_id, now, progress)
        try:
            if not landing_dir.is_dir():
                raise FileError(str(landing_dir), "landing folder not found")
            mapping = load_mapping(Path(mapping_path) if mapping_path is not None else None)
            batch.check_timezones(mapping)
            # A table dropped inside a transaction is kept until it ends (for a rollback): staged and checked
            # tables of every source would pile up until the batch commits. They live on a second connection
            # in autocommit mode instead, so each source's are freed once its rows are copied into the batch.
            # A flat export inserts straight from its checked table and keeps to the batch connection.
            work = con if mapping.flat else _configure_session(con.cursor())
            batch.work = work
            con.begin()
            result = batch.run(mapping)
            con.commit()
            return result
        except FileError as error:
            _rollback(con)
            batch.log_failure(error)
            raise
        except BaseException:
            _rollback(con)
            raise
    finally:
        if work is not None and work is not con:
            work.close()
        con.close()


def _configure_session(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    return con


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:
        pass  # no transaction was open: the error came before the batch began


def configure_for_bulk_load(con: duckdb.DuckDBPyConnection) -> None:
    """Bounded memory, and no order kept where no statement asks for one.

    Every statement whose result order matters says `order by`; the rest (staging, checks, the raw
    inserts) may then run without DuckDB's order-preserving sinks, which cost time and memory.
    """
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT
    try:
        con.execute(f"set memory_limit = {sql_string(limit)}")
    except duckdb.Error as error:
        raise ValueError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB accepts "
                         f"(use e.g. '8GiB' or '40%'): {str(error).splitlines()[0]}") from None
    temp_directory = os.environ.get(TEMP_DIRECTORY_ENV, "").strip()
    if temp_directory:
        con.execute(f"set temp_directory = {sql_string(temp_directory)}")
    con.execute("set preserve_insertion_order = false")


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    for source in SOURCES:
        con.execute(raw_table_ddl(source))
    con.execute(REJECTED_ROWS_DDL)
    con.execute(INGESTION_LOG_DDL)


class _Batch:
    """State of one batch run: the files seen, their log entries, and where a failure happened."""

    def __init__(self, con, landing_dir: Path, batch_id: str, now: datetime, progress):
        self.con = con
        #: Where files are staged and checked: `con` itself, or a connection of its own (see `ingest`).
        self.work = con
        self.landing_dir = landing_dir
        self.batch_id = batch_id
        self.now = now
        self.now_sql = f"timestamptz '{now.isoformat()}'"
        self.progress = progress or (lambda message: None)
        self.entries: list[FileLogEntry] = []
        self.rejects: Counter = Counter()
        self.current_source: str | None = None
        self.current_file: StagedFile | None = None
        self.current_hash: str | None = None
        self.table_count = 0

    # --- planning ----------------------------------------------------------------------------------

    def check_timezones(self, mapping: Mapping) -> None:
        settings = list(mapping.sources.values()) + ([mapping.flat] if mapping.flat else [])
        named = {setting.timezone for setting in settings} - {"UTC"}
        known = {row[0] for row in self.con.execute(
            "select name from pg_timezone_names() where list_contains(?, name)", [sorted(named)]).fetchall()} if named else set()
        for setting in settings:
            if setting.timezone != "UTC" and setting.timezone not in known:
                raise FileError(str(mapping.path), f"{setting.source}: unknown timezone {setting.timezone!r} "
                                "(use an IANA name such as Europe/London)")

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.landing_dir).as_posix()
        except ValueError:
            return str(path)

    def _new_files(self, source: str, paths: list[Path], seen: dict[str, str]) -> list[StagedFile]:
        """Files not loaded before (by content hash); the others get a `skipped` log entry."""
        fresh = []
        for path in paths:
            name = self._relative(path)
            self.current_source, self.current_hash = source, None
            self.current_file = StagedFile(source, path, name, "")
            digest = content_hash(path)
            self.current_hash = digest
            earlier = seen.get(digest) or self._loaded_before(digest)
            if earlier:
                self.entries.append(FileLogEntry(source, name, "skipped", warnings=[f"same content already loaded as {earlier}"],
                                                 content_hash=digest))
                self.progress(f"{name}: skipped, same content already loaded as {earlier}")
                continue
            seen[digest] = f"{name} in this batch"
            self.table_count += 1
            fresh.append(StagedFile(source, path, name, f"_ingest_stage_{self.table_count}", content_hash=digest))
        return fresh

    def _loaded_before(self, digest: str) -> str | None:
        row = self.con.execute(
            "select file, batch_id from raw.ingestion_log where content_hash = ? and status = 'loaded' order by loaded_at limit 1",
            [digest],
        ).fetchone()
        return f"{row[0]} in batch {row[1]}" if row else None

    # --- the batch ---------------------------------------------------------------------------------

    def run(self, mapping: Mapping) -> IngestResult:
        seen: dict[str, str] = {}
        plan: dict[str, list[Path]] = {}
        for source in LOAD_ORDER:
            paths = discover(self.landing_dir, source, mapping.for_source(source))
            if not paths and SOURCES[source].required_source and not (mapping.flat and source in FLAT_SOURCES):
                self.current_source, self.current_file, self.current_hash = source, None, None
                raise FileError(source, f"required source is missing: no {source}.csv, {source}.parquet, {source}.jsonl "
                                f"or {source}/ folder in {self.landing_dir}"
                                + (f" (mapping file pattern {mapping.for_source(source).file!r} matched nothing)"
                                   if mapping.for_source(source).file else ""))
            plan[source] = paths
        flat_paths: list[Path] = []
        if mapping.flat:
            flat_paths = sorted(path for path in self.landing_dir.glob(mapping.flat.file) if path.is_file())
            if not flat_paths:
                self.current_source, self.current_file, self.current_hash = FLAT_SOURCE_NAME, None, None
                raise FileError(FLAT_SOURCE_NAME, f"no file matches {mapping.flat.file!r} in {self.landing_dir}")

        self._create_loaded_keys()
        for source in LOAD_ORDER:
            if source == "orders" and mapping.flat:
                # Flat lines derive customers, products, orders and lines; orders files after may point at them.
                for staged in self._new_files(FLAT_SOURCE_NAME, flat_paths, seen):
                    self._stage(staged, mapping.flat)
                    entry = flat_lines.load_flat_file(self.con, staged, mapping.flat, self.batch_id, self.now_sql, self.rejects)
                    self.entries.append(entry)
                    self.progress(f"{staged.name}: {entry.rows_loaded:,} lines loaded, {entry.rows_rejected:,} rejected")
            self._load_source(source, self._new_files(source, plan[source], seen), mapping)

        self._drop_loaded_keys()
        self._write_log(self.entries)
        loaded = [entry for entry in self.entries if entry.status == "loaded"]
        return IngestResult(
            batch_id=self.batch_id,
            files=self.entries,
            rows_read=sum(entry.rows_read for entry in loaded),
            rows_loaded=sum(entry.rows_loaded for entry in loaded),
            rows_rejected=sum(entry.rows_rejected for entry in loaded),
            rejects_by_reason=dict(self.rejects.most_common()),
        )

    def _stage(self, staged: StagedFile, dialect) -> None:
        self.current_source, self.current_file, self.current_hash = staged.source, staged, staged.content_hash
        stage_file(self.work, staged, dialect, self.progress)

    # --- keys loaded by this batch -------------------------------------------------------------------

    def _separate_work(self) -> bool:
        return self.work is not self.con

    def _create_loaded_keys(self) -> None:
        """The work connection cannot see the batch's uncommitted raw rows: it keeps their parent keys itself."""
        if not self._separate_work():
            return
        for parent in PARENT_SOURCES:
            key = ident(SOURCES[parent].key[0])
            self.work.execute(f"create or replace temp table _ingest_loaded_{parent} as select {key} from raw.{parent} limit 0")

    def _record_loaded_keys(self, source_name: str, checked: str) -> None:
        if self._separate_work() and source_name in PARENT_SOURCES:
            key = ident(SOURCES[source_name].key[0])
            self.work.execute(f"insert into _ingest_loaded_{source_name} select {key} from {checked} where _reason = ''")

    def _drop_loaded_keys(self) -> None:
        if self._separate_work():
            for parent in PARENT_SOURCES:
                self.work.execute(f"drop table _ingest_loaded_{parent}")

    def _known_keys(self, parent: str) -> str:
        """A relation of the parent's keys in raw as the batch sees them: committed rows and the batch's own."""
        if not self._separate_work():
            return f"raw.{parent}"
        key = ident(SOURCES[parent].key[0])
        return f"(select {key} from raw.{parent} union all select {key} from _ingest_loaded_{parent})"

    def _load_source(self, source_name: str, files: list[StagedFile], mapping: Mapping) -> None:
        if not files:
            return
        source = SOURCES[source_name]
        dialect = mapping.for_source(source_name)
        selects, warnings, present = [], {}, set()
        for file_idx, staged in enumerate(files):
            self._stage(staged, dialect)
            select, warnings[file_idx], carried = file_select(staged, file_idx, source.column_names, dialect.columns,
                                                              source.required_columns)
            selects.append(select)
            present |= carried
        self.current_file = None
        con = self.work
        con.execute(f"create or replace temp view _ingest_normalized as {' union all '.join(selects)}")
        checked = "_ingest_checked"
        # Line numbers absent from the file follow row order within the order, across the batch's files.
        outputs = None
        if source_name == "order_items" and ("line_number" not in present or con.execute(
                "select bool_or(nullif(trim(line_number), '') is null) from _ingest_normalized").fetchone()[0]):
            outputs = {"line_number": "coalesce(p_line_number, _line_position)"}
        create_checked_table(con, checked, "_ingest_normalized", source.columns, set(source.required_columns),
                             dialect, self.now_sql, outputs, present)
        if source_name == "order_items":
            append_reason(con, checked, "'order_id: unknown order: ''' || left(order_id, 80) || ''''",
                          f"order_id is not null and not exists (select 1 from {self._known_keys('orders')} as known "
                          f"where known.order_id = {checked}.order_id)")
        file_names = [staged.name for staged in files]
        reject_duplicates(con, checked, source.column_names, None if source.version_column else source.key, file_names)

        columns = ", ".join(map(ident, source.column_names))
        copy_rows(con, self.con, f"select {columns}, _file_idx, _row_number from {checked} where _reason = ''",
                  f"insert into raw.{source_name} ({columns}, _batch_id, _source_file, _row_number, _loaded_at)",
                  f"{columns}, {sql_string(self.batch_id)}, {file_name_sql(file_names)}, _row_number, {self.now_sql}")
        counts = counts_by_file(con, checked)
        self.rejects.update(reason_counts(con, checked))
        references = {column: (self._known_keys(parent), SOURCES[parent].key[0]) for column, parent in source.foreign_keys.items()
                      if not (source_name == "order_items" and column == "order_id")}  # unknown orders are rejected
        for file_idx, staged in enumerate(files):
            insert_rejects(con, checked, staged, file_idx, source_name, self.batch_id, self.now_sql, target=self.con)
            loaded, rejected = counts.get(file_idx, (0, 0))
            file_warnings = warnings[file_idx] + unknown_reference_warnings(con, checked, file_idx, references)
            self.entries.append(FileLogEntry(source_name, staged.name, "loaded", staged.rows_read, loaded, rejected,
                                             file_warnings, staged.content_hash))
            self.progress(f"{staged.name}: {loaded:,} rows loaded, {rejected:,} rejected")
            drop_stage(con, staged)
        self._record_loaded_keys(source_name, checked)
        con.execute("drop view _ingest_normalized")
        con.execute(f"drop table {checked}")

    # --- the log -----------------------------------------------------------------------------------

    def _write_log(self, entries: list[FileLogEntry]) -> None:
        for entry in entries:
            self.con.execute(
                "insert into raw.ingestion_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, " + self.now_sql + ")",
                [self.batch_id, entry.source, entry.file, entry.content_hash, entry.status, entry.rows_read,
                 entry.rows_loaded, entry.rows_rejected, "; ".join(entry.warnings) or None, CONTRACT_VERSION],
            )

    def log_failure(self, error: FileError) -> None:
        """The failing file's `failed` row, in its own transaction after the batch was rolled back."""
        # Before any source is read the failure is the batch's own (mapping, landing folder): log it under that path.
        source = self.current_source or "batch"
        file = self.current_file.name if self.current_file else (None if self.current_source else error.path_or_source)
        entry = FileLogEntry(source, file, "failed", warnings=[error.problem], content_hash=self.current_hash)
        self.con.begin()
        self._write_log([entry])
        self.con.commit()
