"""Check and cast a source's text values in one vectorised DuckDB statement per rule family.

Every rule a row breaks is added to its `_reason` (parts joined with '; '); a row loads when `_reason` is ''.
Reason parts read `<subject>: <rule>` optionally followed by `: <value or detail>`, so the first two parts
name the rule (`rejects_by_reason` counts by that).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from anticipate.contract import Column
from anticipate.ingest.mapping import SourceMapping

ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
ISO_OFFSET = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"
#: ISO_TIMESTAMP with the offset present: a value matching it is exactly one matching both patterns above,
#: and one regular expression on the common case costs half of two.
ISO_TIMESTAMP_WITH_OFFSET = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)"
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
INTEGER = r"[+-]?\d+"
BOOLEAN_TRUE = ("true", "t", "yes", "y", "1")
BOOLEAN_FALSE = ("false", "f", "no", "n", "0")
NOT_FINITE = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _decimal_pattern(separator: str) -> str:
    sep = r"\." if separator == "." else ","
    return rf"[+-]?(\d+({sep}\d*)?|{sep}\d+)([eE][+-]?\d+)?"


def _shown(text_sql: str) -> str:
    """The offending value as shown in a reason: quoted, cut to 80 characters."""
    return f"'''' || left({text_sql}, 80) || ''''"


def trimmed_or_null(text_sql: str) -> str:
    """`nullif(trim(text), '')`, cheaper: most values start and end with a printable ASCII character,
    which trim would keep, so only the others are trimmed."""
    # '' has no first character (ascii 0): it takes the trim branch, which makes it NULL.
    return (f"case when ascii({text_sql}) between 33 and 126 and ascii(right({text_sql}, 1)) between 33 and 126 "
            f"then {text_sql} else nullif(trim({text_sql}), '') end")


def unless_blank(text_sql: str) -> str:
    """`case when nullif(trim(text), '') is null then null else text end`, cheaper: a value starting with a
    printable ASCII character is not blank, and only the others are trimmed (into a throw-away string).
    One condition, whose `and` trims only rows the first test leaves open: the cheapest form measured."""
    return f"case when ascii({text_sql}) not between 33 and 126 and trim({text_sql}) = '' then null else {text_sql} end"


#: Kinds whose value is stored as written: only whether it is blank matters, never its trimmed text.
VERBATIM_KINDS = ("id", "string")


def _naive_to_utc(timestamp_sql: str, timezone: str) -> str:
    # The session runs in UTC, so a plain cast is the UTC case; timezone() reads local wall-clock time.
    if timezone.upper() == "UTC":
        return f"cast({timestamp_sql} as timestamptz)"
    return f"timezone({sql_string(timezone)}, {timestamp_sql})"


def parse_sql(column: Column, text: str, dialect: SourceMapping, value: str | None = None) -> str:
    """SQL turning the text expression into the column's DuckDB type; NULL when it does not parse.

    `value` is the text trimmed, NULL when empty (computed from `text` when not given).
    """
    value = value or f"nullif(trim({text}), '')"
    kind = column.kind
    if kind in VERBATIM_KINDS:
        return f"case when {value} is null then null else {text} end"
    if kind == "code":
        return f"lower({value})"
    if kind == "timestamp":
        iso = (f"case when regexp_full_match({value}, {sql_string(ISO_TIMESTAMP_WITH_OFFSET)}) then try_cast({value} as timestamptz) "
               f"when regexp_full_match({value}, {sql_string(ISO_TIMESTAMP)}) then "
               f"{_naive_to_utc(f'try_cast({value} as timestamp)', dialect.timezone)} end")
        if dialect.date_format:
            if "%z" in dialect.date_format or "%Z" in dialect.date_format:
                formatted = f"try_strptime({value}, {sql_string(dialect.date_format)})"
            else:
                formatted = _naive_to_utc(f"try_strptime({value}, {sql_string(dialect.date_format)})", dialect.timezone)
            return f"coalesce({iso}, {formatted})"
        return iso
    if kind == "date":
        iso = f"case when regexp_full_match({value}, {sql_string(ISO_DATE)}) then try_cast({value} as date) end"
        if dialect.date_format:
            return f"coalesce({iso}, cast(try_strptime({value}, {sql_string(dialect.date_format)}) as date))"
        return iso
    if kind == "decimal":
        number = value if dialect.decimal_separator == "." else f"replace({value}, ',', '.')"
        # A plain decimal too large for a double (1e400) would become infinity: NULL, so it is rejected.
        return (f"case when regexp_full_match({value}, {sql_string(_decimal_pattern(dialect.decimal_separator))}) "
                f"and isfinite(try_cast({number} as double)) then try_cast({number} as double) end")
    if kind == "integer":
        return f"case when regexp_full_match({value}, {sql_string(INTEGER)}) then try_cast({value} as bigint) end"
    if kind == "boolean":
        return (f"case when lower({value}) in ({', '.join(map(sql_string, BOOLEAN_TRUE))}) then true "
                f"when lower({value}) in ({', '.join(map(sql_string, BOOLEAN_FALSE))}) then false end")
    raise ValueError(f"column kind must be one of id, string, code, timestamp, date, decimal, integer, boolean; got {kind!r}")


def reason_sqls(column: Column, text: str, parsed: str, dialect: SourceMapping, now_sql: str, required: bool,
                value: str | None = None) -> list[str]:
    """SQL expressions, each NULL or one reason part, for every rule the column's value can break."""
    name = column.name
    value = value or f"nullif(trim({text}), '')"
    reasons = []
    if required:
        reasons.append(f"case when {value} is null then {sql_string(name + ': required value is empty')} end")
    bad = f"{value} is not null and {parsed} is null"
    kind = column.kind
    if kind == "code" and column.codes:
        allowed = ", ".join(map(sql_string, column.codes))
        reasons.append(f"case when {value} is not null and {parsed} not in ({allowed}) then "
                       f"{sql_string(name + ': not an allowed code: ')} || {_shown(text)} "
                       f"|| {sql_string(' (allowed: ' + ', '.join(column.codes) + ')')} end")
    elif kind in ("timestamp", "date"):
        what = "an ISO 8601 timestamp" if kind == "timestamp" else "an ISO 8601 date"
        if dialect.date_format:
            what += f" or {dialect.date_format}"
        reasons.append(f"case when {bad} then {sql_string(f'{name}: not {what}: ')} || {_shown(text)} end")
        limit = f"({now_sql} + interval 1 day)"
        compared = parsed if kind == "timestamp" else f"cast({parsed} as timestamptz)"
        reasons.append(f"case when {compared} > {limit} then "
                       f"{sql_string(name + ': more than one day after the load time: ')} || {_shown(text)} end")
    elif kind in ("decimal", "integer"):
        not_finite = ", ".join(map(sql_string, NOT_FINITE))
        noun = "a decimal number" if kind == "decimal" else "an integer"
        overflow = (f" or regexp_full_match({value}, {sql_string(_decimal_pattern(dialect.decimal_separator))})"
                    if kind == "decimal" else "")
        reasons.append(f"case when {bad} then case when lower({value}) in ({not_finite}){overflow} "
                       f"then {sql_string(name + ': NaN or infinite: ')} || {_shown(text)} "
                       f"else {sql_string(f'{name}: not {noun}: ')} || {_shown(text)} end end")
        bounds = []
        if column.min_value is not None:
            bounds.append(f"{parsed} < {column.min_value!r}")
        if column.max_value is not None:
            bounds.append(f"{parsed} > {column.max_value!r}")
        if bounds:
            shown_bounds = f"[{_bound(column.min_value, '-inf')}, {_bound(column.max_value, 'inf')}]"
            reasons.append(f"case when {' or '.join(bounds)} then "
                           f"{sql_string(f'{name}: out of bounds {shown_bounds}: ')} || {_shown(text)} end")
    elif kind == "boolean":
        reasons.append(f"case when {bad} then {sql_string(name + ': not a boolean (true/false/1/0/yes/no/t/f/y/n): ')} "
                       f"|| {_shown(text)} end")
    return reasons


def _bound(value: float | None, unbounded: str) -> str:
    if value is None:
        return unbounded
    return f"{value:g}"


def value_map_sql(text: str, values: dict[str, str]) -> str:
    """Apply the mapping's value map; keys were trimmed and lower-cased when the mapping was read."""
    if not values:
        return text
    cases = " ".join(f"when {sql_string(key)} then {sql_string(value)}" for key, value in values.items())
    return f"case lower(trim({text})) {cases} else {text} end"


def create_checked_table(con: duckdb.DuckDBPyConnection, table: str, normalized: str, columns: Sequence[Column],
                         required: set[str], dialect: SourceMapping, now_sql: str,
                         outputs: dict[str, str] | None = None, present: set[str] | None = None) -> None:
    """`table` := typed columns, `_reason`, `_file_idx`, `_row_number` for every row of `normalized`.

    `normalized` has one text column per Column (named after it) plus `_file`, `_file_idx`, `_row_number`,
    `_problem`. `outputs` replaces a column's stored value by an expression over the parsed values
    (`p_<name>`) and `_line_position`, the row's position within its order_id (file order, then row order).
    Columns not in `present` (absent from every file) are null without being checked, which saves the work.
    """
    outputs = outputs or {}
    # Three layers, so each value is mapped and trimmed once: texts (t_, v_), parsed values (p_), then reasons.
    texts, trimmed, inner, outer, reasons = [], [], [], [], []
    for column in columns:
        text, value, parsed = f"t_{column.name}", f"v_{column.name}", f"p_{column.name}"
        if present is not None and column.name not in present:
            inner.append(f"null::{column.duckdb_type} as {parsed}")
            if column.name in required:  # cannot happen for a file that passed file_select; kept for safety
                reasons.append(sql_string(f"{column.name}: required value is empty"))
            outer.append(f"{outputs.get(column.name, parsed)} as {ident(column.name)}")
            continue
        texts.append(f"{value_map_sql(ident(column.name), dialect.values.get(column.name, {}))} as {text}")
        if column.kind in VERBATIM_KINDS:
            # Stored as written: the value need only say whether the text is blank, so it is the text (NULL
            # when blank), which is also the parsed value; no trimmed copy of every value is made.
            inner += [text, f"{value} as {parsed}"]
            trimmed.append(f"{unless_blank(text)} as {value}")
            reasons += reason_sqls(column, text, parsed, dialect, now_sql, column.name in required, parsed)
        else:
            inner += [text, value, f"{parse_sql(column, text, dialect, value)} as {parsed}"]
            trimmed.append(f"{trimmed_or_null(text)} as {value}")
            reasons += reason_sqls(column, text, parsed, dialect, now_sql, column.name in required, value)
        outer.append(f"{outputs.get(column.name, parsed)} as {ident(column.name)}")
    source = normalized
    if any("_line_position" in expression for expression in outputs.values()):
        # A narrow table: a window over the wide rows would carry every column through the sort.
        con.execute(f"""
            create or replace temp table _ingest_positions as
            select _file_idx, _row_number,
                row_number() over (partition by order_id order by _file_idx, _row_number) as _line_position
            from {normalized}
        """)
        source = f"{normalized} join _ingest_positions using (_file_idx, _row_number)"
        inner.append("_line_position")
        texts.append("_line_position")
    reason = f"concat_ws('; ', _problem, {', '.join(reasons)})" if reasons else "coalesce(_problem, '')"
    # A JSON line that is no object has no values to check: its one reason is that.
    reason = f"case when starts_with(_problem, 'line: ') then _problem else {reason} end"
    # No per-row file name: `_file_idx` indexes the batch's file names (file_name_sql), which saves a text per row.
    meta = "_problem, _file_idx, _row_number"
    con.execute(
        f"create or replace temp table {table} as select {', '.join(outer)}, {reason} as _reason, "
        f"_file_idx, _row_number from (select {', '.join(inner)}, {meta} "
        f"from (select *, {', '.join(trimmed) or 'null as _none'} from (select {', '.join(texts) or 'null as _nothing'}, "
        f"{meta} from {source})))"
    )
    if source != normalized:
        con.execute("drop table _ingest_positions")


def append_reason(con: duckdb.DuckDBPyConnection, table: str, reason_sql: str, where_sql: str) -> None:
    """Add a reason part to the rows matching `where_sql` (an SQL condition over `table`)."""
    con.execute(f"update {table} set _reason = concat_ws('; ', nullif(_reason, ''), {reason_sql}) where {where_sql}")


def file_name_sql(file_names: Sequence[str], file_idx_sql: str = "_file_idx") -> str:
    """SQL giving the name of the file at index `file_idx_sql` among `file_names`; a constant for one file."""
    if len(file_names) == 1:
        return sql_string(file_names[0])
    cases = " ".join(f"when {index} then {sql_string(name)}" for index, name in enumerate(file_names))
    return f"(case {file_idx_sql} {cases} end)"


def reject_duplicates(con: duckdb.DuckDBPyConnection, table: str, content: Sequence[str], key: Sequence[str] | None,
                      file_names: Sequence[str]) -> None:
    """Among rows otherwise valid: an exact repeat is rejected; with `key`, so is a later row with the same key.

    `key=None` keeps same-key rows with different content (versioned sources: staging takes the latest).
    `file_names` are the batch's files in `_file_idx` order, named in the reasons.
    A hash finds the few candidate groups first; the window then compares real values, so a hash
    collision cannot reject a row.
    """
    order = "order by _file_idx, _row_number"
    content_sql = ", ".join(map(ident, content))
    candidates = table
    if key and set(key) <= set(content):
        # Rows equal in content are equal in key: both kinds of duplicate lie among the rows whose key
        # repeats, a small table found by hashing the key alone instead of every column of every row.
        key_sql = ", ".join(map(ident, key))
        candidates = "_ingest_duplicate_candidates"
        con.execute(f"""
            create or replace temp table {candidates} as
            select * from {table}
            where _reason = '' and hash({key_sql}) in (
                select hash({key_sql}) from {table} where _reason = '' group by 1 having count(*) > 1)
        """)
    con.execute(f"""
        create or replace temp table _ingest_duplicates as
        select _file_idx, _row_number,
            'duplicate: exact repeat of an earlier row: ' || {file_name_sql(file_names, 'first_file_idx')} || ' row ' || first_row as reason
        from (
            select _file_idx, _row_number,
                row_number() over content_window as exact_rank,
                first_value(_file_idx) over content_window as first_file_idx,
                first_value(_row_number) over content_window as first_row
            from {candidates}
            where _reason = '' and hash({content_sql}) in (
                select hash({content_sql}) from {candidates} where _reason = '' group by 1 having count(*) > 1)
            window content_window as (partition by {content_sql} {order})
        ) where exact_rank > 1
    """)
    if key:
        key_sql = ", ".join(map(ident, key))
        shown_key = " || ', ' || ".join(f"{sql_string(column + ' ')} || coalesce({_shown(f'cast({ident(column)} as varchar)')}, 'null')"
                                       for column in key)
        con.execute(f"""
            insert into _ingest_duplicates
            select _file_idx, _row_number,
                'duplicate: same key with different content: ' || shown_key || ' first in ' || {file_name_sql(file_names, 'first_file_idx')} || ' row ' || first_row
            from (
                select _file_idx, _row_number, {shown_key} as shown_key,
                    row_number() over key_window as key_rank,
                    first_value(_file_idx) over key_window as first_file_idx,
                    first_value(_row_number) over key_window as first_row
                from {candidates} as candidate
                where _reason = '' and hash({key_sql}) in (
                        select hash({key_sql}) from {candidates} where _reason = '' group by 1 having count(*) > 1)
                    and not exists (select 1 from _ingest_duplicates as repeat
                                    where repeat._file_idx = candidate._file_idx and repeat._row_number = candidate._row_number)
                window key_window as (partition by {key_sql} {order})
            ) where key_rank > 1
        """)
    if candidates != table:
        con.execute(f"drop table {candidates}")
    con.execute(f"""
        update {table} set _reason = _ingest_duplicates.reason from _ingest_duplicates
        where {table}._file_idx = _ingest_duplicates._file_idx and {table}._row_number = _ingest_duplicates._row_number
    """)
    con.execute("drop table _ingest_duplicates")
