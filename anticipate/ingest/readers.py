"""Find a source's files in the landing folder and stage each into a DuckDB temp table of text columns.

A staged table (a view, for Parquet) holds the file exactly as written: `c0 .. cN` VARCHAR in header order, `_row_number`
(1-based data record, header and blank lines excluded), `_problem` (a structural fault of the record, e.g.
a wrong number of fields) and `_extra` (a JSON object of fields beyond the header, keyed by 1-based position).
Values are checked later, in SQL, by `validate`.
"""

from __future__ import annotations

import codecs
import csv
import gc
import gzip
import hashlib
import io
import itertools
import json
import queue
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from anticipate.ingest.errors import FileError
from anticipate.ingest.mapping import SourceMapping
from anticipate.ingest.validate import sql_string

EXTENSIONS = (".csv", ".csv.gz", ".csv.zip", ".parquet", ".jsonl", ".ndjson")
CHUNK_RECORDS = 200_000
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long description must not end the file


@dataclass
class StagedFile:
    source: str
    path: Path
    name: str  # path relative to the landing folder, as logged and stored in _source_file
    table: str
    content_hash: str | None = None
    header: list[str] = field(default_factory=list)  # names as written in the file
    rows_read: int = 0
    is_view: bool = False  # the stage reads the file in place (Parquet)


def file_kind(path: Path) -> str | None:
    name = path.name.lower()
    for extension in EXTENSIONS:
        if name.endswith(extension):
            return extension
    return None


def discover(landing_dir: Path, source: str, mapping: SourceMapping) -> list[Path]:
    """The files of a source: the mapping's name or glob, else `<source>.<ext>` and `<source>/*.<ext>`."""
    if mapping.file:
        matches = sorted(path for path in landing_dir.glob(mapping.file) if path.is_file())
        return [path for path in matches if file_kind(path)] or matches
    candidates = [landing_dir / f"{source}{extension}" for extension in EXTENSIONS]
    found = [path for path in candidates if path.is_file()]
    folder = landing_dir / source
    if folder.is_dir():
        found += sorted(path for path in folder.iterdir() if path.is_file() and file_kind(path))
    return found


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_file(con: duckdb.DuckDBPyConnection, staged: StagedFile, mapping: SourceMapping,
               progress: Callable[[str], None] | None) -> None:
    """Read one file into `staged.table`; a file that cannot be read as a whole raises FileError."""
    if staged.path.stat().st_size == 0:
        raise FileError(staged.name, "file is empty (0 bytes); a source with no rows still needs its header row")
    kind = file_kind(staged.path)
    if kind == ".parquet":
        _stage_parquet(con, staged)
    elif kind in (".jsonl", ".ndjson"):
        _stage_json_lines(con, staged, mapping)
    elif kind in (".csv", ".csv.gz", ".csv.zip"):
        _stage_csv(con, staged, mapping, progress)
    else:
        raise FileError(staged.name, f"unsupported file type; use one of {', '.join(EXTENSIONS)}")
    if progress:
        progress(f"{staged.name}: {staged.rows_read:,} rows read")


def _create_stage(con: duckdb.DuckDBPyConnection, table: str, width: int) -> None:
    columns = [f"c{index} VARCHAR" for index in range(width)]
    columns += ["_row_number BIGINT", "_problem VARCHAR", "_extra VARCHAR"]
    con.execute(f"create or replace temp table {table} ({', '.join(columns)})")


def _append(con: duckdb.DuckDBPyConnection, table: str, columns: list, first_row: int, count: int,
            problems: list | None = None, extras: list | None = None) -> None:
    arrays = {f"c{index}": column if isinstance(column, pa.ChunkedArray | pa.Array) else pa.array(column, type=pa.large_string())
              for index, column in enumerate(columns)}
    arrays["_row_number"] = pa.array(range(first_row, first_row + count), type=pa.int64())
    arrays["_problem"] = pa.array(problems, type=pa.string()) if problems else pa.nulls(count, pa.string())
    arrays["_extra"] = pa.array(extras, type=pa.string()) if extras else pa.nulls(count, pa.string())
    chunk = pa.table(arrays)
    con.register("_ingest_chunk", chunk)
    try:
        con.execute(f"insert into {table} select * from _ingest_chunk")
    finally:
        con.unregister("_ingest_chunk")


# --- CSV -------------------------------------------------------------------------------------------


def _open_binary(staged: StagedFile):
    kind = file_kind(staged.path)
    if kind == ".csv.gz":
        return gzip.open(staged.path, "rb")
    if kind == ".csv.zip":
        try:
            archive = zipfile.ZipFile(staged.path)
        except zipfile.BadZipFile:
            raise FileError(staged.name, "not a readable zip archive") from None
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            raise FileError(staged.name, f"a .csv.zip must hold exactly one CSV file, found {len(members)}")
        return archive.open(members[0])
    return staged.path.open("rb")


def _text_encoding(mapping: SourceMapping) -> str:
    encoding = mapping.encoding or "utf-8"
    # utf-8-sig drops a leading byte-order mark and is otherwise plain strict UTF-8.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _stage_csv(con, staged: StagedFile, mapping: SourceMapping, progress) -> None:
    encoding = _text_encoding(mapping)
    # Lenient readers let a quote that is never closed swallow every later record into one field;
    # an odd number of quote bytes gives it away, and the strict reader then names the line.
    unbalanced = _ascii_compatible(encoding) and _odd_quote_count(staged)
    if not unbalanced and encoding == "utf-8-sig" and _stage_csv_arrow(con, staged, mapping, progress):
        return
    _stage_csv_python(con, staged, mapping, progress, encoding, strict=unbalanced)
    if unbalanced:
        raise FileError(staged.name, "a quoted field is never closed (the file holds an odd number of double quotes)")


def _ascii_compatible(encoding: str) -> bool:
    return codecs.lookup(encoding).name not in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")


def _odd_quote_count(staged: StagedFile) -> bool:
    quotes = 0
    with _open_binary(staged) as binary:
        for block in iter(lambda: binary.read(16 << 20), b""):
            quotes += block.count(b'"')
    return quotes % 2 == 1


class _NeedsExactReader(Exception):
    """The fast reader met a record it cannot place exactly (wrong field count): reread with the csv module."""


def _stage_csv_arrow(con, staged: StagedFile, mapping: SourceMapping, progress) -> bool:
    """Fast path for well-formed UTF-8 files: Arrow's C++ reader, same records and text as the csv module.

    Returns False (nothing staged) when the file holds anything the exact reader must handle and report:
    a record with the wrong number of fields, bytes that are not UTF-8, or no header.
    """
    binary = _open_binary(staged)
    try:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
        try:
            header = next(filter(None, csv.reader(text, delimiter=mapping.delimiter, quotechar='"')), None)
        except (UnicodeDecodeError, csv.Error):
            return False
    finally:
        binary.close()
    if header is None:
        return False
    width = len(header)

    def refuse(row) -> str:
        return "error"  # stop: Arrow raises ArrowInvalid and the exact reader takes over

    names = [f"c{index}" for index in range(width)]
    kind = file_kind(staged.path)
    source = (str(staged.path) if kind == ".csv"
              else pa.input_stream(str(staged.path), compression="gzip") if kind == ".csv.gz"
              else _open_binary(staged))
    _create_stage(con, staged.table, width)
    row_number = 0
    header_seen = False  # the header is the first record Arrow returns
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=mapping.delimiter, quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=True, ignore_empty_lines=True,
                                             invalid_row_handler=refuse),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.large_string() for name in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 null_values=[]),
        )
        for batch in reader:
            if batch.num_rows == 0:
                continue
            if row_number == 0 and not header_seen:
                header_seen = True
                if [batch.column(index)[0].as_py() for index in range(width)] != header:
                    raise _NeedsExactReader()
                batch = batch.slice(1)
            count = batch.num_rows
            _append(con, staged.table, [batch.column(index) for index in range(width)], row_number + 1, count)
            row_number += count
    except (_NeedsExactReader, pa.ArrowInvalid):
        con.execute(f"drop table {staged.table}")
        return False
    finally:
        if hasattr(source, "close"):
            source.close()
    staged.header = header
    staged.rows_read = row_number
    return True


def _stage_csv_python(con, staged: StagedFile, mapping: SourceMapping, progress, encoding: str, strict: bool) -> None:
    binary = _open_binary(staged)
    try:
        text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")
        # Lenient like the Arrow reader (text after a closing quote joins the field) unless a quote is left
        # open, where strict mode stops at the line instead of swallowing the rest of the file.
        reader = csv.reader(text, delimiter=mapping.delimiter, quotechar='"', doublequote=True, strict=strict)
        try:
            _read_csv_records(con, staged, reader, progress)
        except UnicodeDecodeError as error:
            line, offset = _locate_decode_error(staged, encoding)
            hint = "" if mapping.encoding else "; set `encoding` for this source in mapping.yml"
            raise FileError(staged.name, f"not valid {mapping.encoding or 'UTF-8'} at line {line} (byte offset {offset}): "
                            f"{error.reason}{hint}") from None
        except csv.Error as error:
            raise FileError(staged.name, f"malformed CSV at line {reader.line_num}: {error}") from None
    finally:
        binary.close()


def _read_csv_records(con, staged: StagedFile, reader, progress) -> None:
    # Millions of short-lived lists make the cyclic garbage collector dominate; none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _read_csv_chunks(con, staged, reader, progress)
    finally:
        if collecting:
            gc.enable()


def _read_csv_chunks(con, staged: StagedFile, reader, progress) -> None:
    records = filter(None, reader)  # a blank line is no record
    header = next(records, None)
    if header is None:
        raise FileError(staged.name, "no header row (the file holds only blank lines)")
    staged.header = header
    width = len(header)
    _create_stage(con, staged.table, width)
    row_number = 1
    while True:
        chunk = list(itertools.islice(records, CHUNK_RECORDS))
        if not chunk:
            break
        count = len(chunk)
        problems = extras = None
        lengths = set(map(len, chunk))
        if lengths != {width}:
            problems, extras = [None] * count, [None] * count
            for index, record in enumerate(chunk):
                if len(record) != width:
                    problems[index] = f"row: wrong number of fields: expected {width}, found {len(record)}"
                    if len(record) > width:
                        extras[index] = json.dumps({str(position + 1): record[position]
                                                    for position in range(width, len(record))}, ensure_ascii=False)
                        chunk[index] = record[:width]
                    else:
                        chunk[index] = record + [None] * (width - len(record))
        columns = list(zip(*chunk))
        _append(con, staged.table, columns, row_number, count, problems, extras)
        row_number += count
        if progress and count == CHUNK_RECORDS:
            progress(f"{staged.name}: {row_number - 1:,} rows read")
    staged.rows_read = row_number - 1


def _locate_decode_error(staged: StagedFile, encoding: str) -> tuple[int, int]:
    """Line (1-based) and byte offset of the first byte that does not decode; run only on the error path."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, line = 0, 1
    with _open_binary(staged) as binary:
        for block in iter(lambda: binary.read(1 << 16), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                bad = max(error.start, 0)
                return line + block[:bad].count(b"\n"), offset + bad
            offset += len(block)
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return line, offset


# --- Parquet ---------------------------------------------------------------------------------------


def _stage_parquet(con, staged: StagedFile) -> None:
    path = str(staged.path)
    try:
        described = con.execute("describe select * from read_parquet(?)", [path]).fetchall()
    except duckdb.Error as error:
        raise FileError(staged.name, f"not a readable Parquet file: {str(error).splitlines()[0]}") from None
    staged.header = [row[0] for row in described]
    casts = ", ".join(f'cast("{name.replace(chr(34), chr(34) * 2)}" as varchar) as c{index}'
                      for index, name in enumerate(staged.header))
    # A view, not a copy: Parquet is already columnar and numbered, and a text copy of tens of millions
    # of rows would cost a write and most of the memory limit.
    staged.is_view = True
    con.execute(
        f"create or replace temp view {staged.table} as select {casts}, file_row_number + 1 as _row_number, "
        f"null::varchar as _problem, null::varchar as _extra "
        f"from read_parquet({sql_string(path)}, file_row_number = true)"
    )
    staged.rows_read = con.execute(f"select count(*) from {staged.table}").fetchone()[0]


def drop_stage(con: duckdb.DuckDBPyConnection, staged: StagedFile) -> None:
    con.execute(f"drop {'view' if staged.is_view else 'table'} {staged.table}")


# --- JSON Lines ------------------------------------------------------------------------------------


def _stage_json_lines(con, staged: StagedFile, mapping: SourceMapping) -> None:
    """Lines are read in Python (strict decoding, blank lines skipped); parsing is vectorised in DuckDB.

    Each block of lines is parsed and appended to the stage at once, so the file's text is never held whole:
    a key first seen in a later block becomes a new column (NULL on the earlier rows, as for a line without it).
    """
    encoding = _text_encoding(mapping)
    con.execute(f"create or replace temp table {staged.table} (_row_number BIGINT, _problem VARCHAR, _extra VARCHAR)")
    keys: list[str] = []  # every key seen so far, by first appearance; key i is column c<i>
    row_number = 0
    try:
        for records in _read_ahead(_json_line_blocks(staged.path, encoding)):
            chunk = _parallel_batches(pa.table({
                "line": records,
                "_row_number": pa.array(range(row_number + 1, row_number + 1 + len(records)), pa.int64()),
            }))
            con.register("_ingest_chunk", chunk)
            try:
                _append_json_block(con, staged.table, keys)
            finally:
                con.unregister("_ingest_chunk")
            row_number += len(records)
    except UnicodeDecodeError as error:
        line, offset = _locate_decode_error(staged, encoding)
        raise FileError(staged.name, f"not valid {mapping.encoding or 'UTF-8'} at line {line} (byte offset {offset}): "
                        f"{error.reason}") from None
    staged.header = keys
    staged.rows_read = row_number


#: Rows per Arrow record batch handed to DuckDB: it scans a registered table one batch per thread at a
#: time, so a block of one batch parsed its JSON on one core while the other idled.
JSON_BATCH_ROWS = 1 << 15


def _parallel_batches(table: pa.Table) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=JSON_BATCH_ROWS), table.schema)


def _append_json_block(con, table: str, keys: list[str]) -> None:
    """Parse the registered `_ingest_chunk` (line, _row_number) into `table`, adding columns for new keys."""
    block = "_ingest_json_block"
    # json_kind: the line's JSON type, NULL when it is not valid JSON (json_type's error, caught by try: one
    # parse of each line, where json_valid first made two: 1.2 -> 0.6 CPU s per 3M lines).
    # An Arrow table, not a DuckDB one: a table dropped inside a transaction is kept until it ends, and the
    # stage is filled in one transaction (every block's text would stay).
    block_rows = con.sql("select line, _row_number, try(json_type(line)) as json_kind "
                         "from _ingest_chunk").to_arrow_table(JSON_BATCH_ROWS)
    con.register(block, block_rows)
    try:
        _insert_json_block(con, table, keys, block)
    finally:
        con.unregister(block)


def _insert_json_block(con, table: str, keys: list[str], block: str) -> None:
    """Insert the registered `block` (line, _row_number, json_kind) into `table`, adding columns for new keys."""
    # Most lines share one key list: group the lists first, then order keys by first appearance.
    # Keys new to this block all appear after every known key, so appending them keeps the file's order.
    block_keys = [row[0] for row in con.execute(f"""
        select key from (
            select unnest(keys) as key, generate_subscripts(keys, 1) as position, first_row
            from (select json_keys(line) as keys, min(_row_number) as first_row
                  from {block} where json_kind = 'OBJECT' group by keys))
        group by key order by min(first_row), arg_min(position, first_row)
    """).fetchall()]
    known = set(keys)
    for key in block_keys:
        if key not in known:
            con.execute(f"alter table {table} add column c{len(keys)} VARCHAR")
            keys.append(key)
            known.add(key)
    # A key with a quote or backslash cannot be named in a JSON path; no contract column has one, so it
    # is only ever an ignored column (listed in the warnings) and its values are not extracted.
    nameable = [key for key in keys if not ('"' in key or "\\" in key)]
    values = ", ".join(f"extracted[{nameable.index(key) + 1}]" if key in nameable else "null::varchar" for key in keys)
    columns = "".join(f"c{index}, " for index in range(len(keys)))
    # One parse per line: a list of paths extracts every key at once.
    paths = f"[{', '.join(_json_path(key) for key in nameable)}]" if nameable else "[]::varchar[]"
    con.execute(f"""
        insert into {table} ({columns}_row_number, _problem, _extra)
        select {values}{', ' if values else ''} _row_number, _problem, _extra
        from (
            select _row_number,
                case when json_kind = 'OBJECT' then json_extract_string(line, {paths}) end as extracted,
                case when json_kind is null then 'line: not valid JSON'
                     when json_kind <> 'OBJECT' then 'line: not a JSON object' end as _problem,
                case when json_kind is distinct from 'OBJECT' then json_object('_line', line)::varchar end as _extra
            from {block}
        )
    """)


class _ReaderFailed:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def _read_ahead(blocks: Iterator) -> Iterator:
    """`blocks`, the next one made in a thread while the caller works on the current one.

    Reading and splitting lines is Python, on one core; parsing them is DuckDB, which releases the GIL:
    overlapped, the two take the longer one's time instead of their sum. An error of the reader (a byte
    that does not decode) is raised here, where the caller would have met it.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put(block):
                    return
            put(_END)
        except BaseException as error:  # handed to the caller's thread, raised there
            put(_ReaderFailed(error))

    reader = threading.Thread(target=produce, name="anticipate-json-lines", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _ReaderFailed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join()


def _json_line_blocks(path: Path, encoding: str, block_chars: int = 64 << 20):
    """Non-blank lines, without their line break, as Arrow string arrays of about `block_chars` characters.

    Universal newlines (\\n, \\r\\n, \\r) end a line, as when iterating a text file (the text reader turns
    each into \\n); a block is split in Arrow, so no Python string is made per line.
    """
    with path.open("r", encoding=encoding, errors="strict", newline=None) as handle:
        carry = ""
        while True:
            block = handle.read(block_chars)
            if not block:
                break
            text = carry + block
            last_break = text.rfind("\n")
            if last_break < 0:
                carry = text
                continue
            carry = text[last_break + 1:]
            lines = _non_blank_lines(text[:last_break])
            if len(lines):
                yield lines
        if carry.strip():
            yield pa.array([carry], pa.large_string())


def _non_blank_lines(text: str) -> pa.Array:
    """The lines of `text` (split at \\n) that hold more than whitespace, as Python's str.strip sees it."""
    lines = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
    # A line starting with a printable ASCII character other than space is not blank (nearly every JSON
    # line starts with '{'); only the others are checked in Python, whose idea of whitespace is the rule.
    first = pc.utf8_slice_codeunits(lines, 0, 1)
    keep = pc.and_(pc.greater_equal(first, "!"), pc.less_equal(first, "~")).to_numpy(zero_copy_only=False).copy()
    for index in np.flatnonzero(~keep):
        keep[index] = bool(lines[int(index)].as_py().strip())
    return lines if keep.all() else lines.filter(pa.array(keep))


def _json_path(key: str) -> str:
    return "'$.\"" + key.replace("'", "''") + "\"'"
