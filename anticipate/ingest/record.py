"""Write a checked source's outcome: loaded rows into raw, rejected rows (with original text) into quarantine."""

from __future__ import annotations

from collections import Counter

import duckdb

from anticipate.ingest.readers import StagedFile
from anticipate.ingest.validate import ident, sql_string


#: Rows per Arrow batch when rows move from one connection to another.
COPY_BATCH_ROWS = 1 << 20


def copy_rows(source: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection, select_sql: str, insert_sql: str,
              select_list: str) -> None:
    """`{insert_sql} select {select_list} from (rows of select_sql on source)`, executed on `target`.

    The two may be different connections to one database (neither sees the other's temp tables nor its
    uncommitted rows): the rows then stream across as Arrow batches, never held whole.
    """
    if source is target:
        target.execute(f"{insert_sql} select {select_list} from ({select_sql})")
        return
    rows = source.sql(select_sql).to_arrow_reader(COPY_BATCH_ROWS)
    target.register("_ingest_copied_rows", rows)
    try:
        target.execute(f"{insert_sql} select {select_list} from _ingest_copied_rows")
    finally:
        target.unregister("_ingest_copied_rows")
        rows.close()


def insert_rejects(con: duckdb.DuckDBPyConnection, checked: str, staged: StagedFile, file_idx: int, source: str,
                   batch_id: str, now_sql: str, target: duckdb.DuckDBPyConnection | None = None) -> None:
    """One `raw.rejected_rows` row per rejected record, raw_values = header name -> original text.

    `con` holds the staged and checked tables; the rows go into `target`'s raw.rejected_rows (default: `con`).
    """
    pairs = ", ".join(f"{sql_string(name)}, stage.c{index}" for index, name in enumerate(staged.header))
    values = f"json_object({pairs})" if pairs else "json_object()"
    copy_rows(con, target or con, f"""
        select stage._row_number,
            (case when stage._extra is null then {values}
                  when starts_with(stage._problem, 'line: ') then json(stage._extra)
                  else json_merge_patch({values}, stage._extra) end)::varchar as raw_values,
            checked._reason
        from {checked} as checked join {staged.table} as stage using (_row_number)
        where checked._file_idx = {file_idx} and checked._reason <> ''
        order by stage._row_number
    """, "insert into raw.rejected_rows",
        f"{sql_string(batch_id)}, {sql_string(source)}, {sql_string(staged.name)}, _row_number, raw_values::json, "
        f"_reason, {now_sql}")


def counts_by_file(con: duckdb.DuckDBPyConnection, checked: str) -> dict[int, tuple[int, int]]:
    """file index -> (rows loaded, rows rejected)."""
    rows = con.execute(f"""
        select _file_idx, count(*) filter (where _reason = ''), count(*) filter (where _reason <> '')
        from {checked} group by _file_idx
    """).fetchall()
    return {file_idx: (loaded, rejected) for file_idx, loaded, rejected in rows}


def reject_rule_sql(reason_part: str) -> str:
    """SQL for the rule of one `; `-separated reason part: `<subject>: <rule>`, without the offending value.

    Shared with `anticipate status`, so the CLI and the ingestion result count rejects the same way."""
    return f"regexp_extract({reason_part}, '^([^:]*: [^:]*)', 1)"


def reason_counts(con: duckdb.DuckDBPyConnection, checked: str) -> Counter:
    """Rejected rows per rule; the rule is a reason part up to its value (`<subject>: <rule>`)."""
    rows = con.execute(f"""
        select {reject_rule_sql('part')} as rule, count(*)
        from (select unnest(string_split(_reason, '; ')) as part from {checked} where _reason <> '')
        group by rule
    """).fetchall()
    return Counter({rule: count for rule, count in rows})


def unknown_reference_warnings(con: duckdb.DuckDBPyConnection, checked: str, file_idx: int,
                               references: dict[str, tuple[str, str]]) -> list[str]:
    """`3 rows reference unknown customer_id` for loaded rows whose parent is in neither this batch nor raw.

    `references`: column -> (relation of the parent's keys, e.g. `raw.customers`, key column).
    """
    if not references:
        return []
    # An uncorrelated `not in` per column: DuckDB runs each as one hash anti-join on the parent keys, where a
    # correlated `not exists` in a FILTER clause cost twice the CPU (web events at 1M customers: 9.5 CPU s
    # against 23-25). The keys' `is not null` keeps `not in` from turning NULL on a NULL key.
    counts = ", ".join(
        f"(select count(*) from {checked} as child where child._file_idx = {file_idx} and child._reason = '' "
        f"and child.{ident(column)} is not null and child.{ident(column)} not in ("
        f"select parent.{ident(parent_column)} from {parent} as parent where parent.{ident(parent_column)} is not null))"
        for column, (parent, parent_column) in references.items())
    row = con.execute(f"select {counts}").fetchone()
    warnings = []
    for column, count in zip(references, row):
        if count:
            warnings.append(f"{count:,} row{'s' if count != 1 else ''} reference{'s' if count == 1 else ''} "
                            f"unknown {column}")
    return warnings
