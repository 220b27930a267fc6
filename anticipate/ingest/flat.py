"""A flat order-lines export (one row per line, order, customer and product side by side) -> the four raw sources.

Each line becomes one `raw.order_items` row or one rejected row. Orders and products come from loaded lines;
customers from every line whose values are valid, even one rejected as a fee code or a duplicate,
because such a line still proves the customer exists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import duckdb

from anticipate.contract import MAX_AMOUNT, SOURCES, Column
from anticipate.ingest.mapping import FLAT_COLUMNS, FLAT_REQUIRED, FlatMapping
from anticipate.ingest.normalize import file_select
from anticipate.ingest.readers import StagedFile, drop_stage
from anticipate.ingest.record import counts_by_file, insert_rejects, reason_counts
from anticipate.ingest.result import FileLogEntry
from anticipate.ingest.validate import append_reason, create_checked_table, ident, reject_duplicates, sql_string

SOURCE_NAME = "flat_order_lines"
CHECKED = "_ingest_flat_checked"
LATEST = "(ordered_at, _row_number)"  # a line's recency: its time, then its position in the file


def flat_columns(flat: FlatMapping) -> list[Column]:
    """The flat columns as contract Columns (kind, codes, bounds of the column each one feeds)."""
    columns = []
    for name, (source, contract_name) in FLAT_COLUMNS.items():
        if name == "line_amount":
            column = Column(name, "decimal", min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)
        else:
            column = replace(SOURCES[source].column(contract_name), name=name, required=False)
        columns.append(column)
    return columns


def required_columns(flat: FlatMapping) -> tuple[str, ...]:
    if flat.missing_customer_id is not None:
        return tuple(column for column in FLAT_REQUIRED if column != "customer_id")
    return FLAT_REQUIRED


def _exclusion_condition(codes: tuple[str, ...]) -> str | None:
    exact = [code for code in codes if not any(char in code for char in "*?[")]
    patterns = [code for code in codes if code not in exact]
    conditions = []
    if exact:
        conditions.append(f"trim(product_id) in ({', '.join(map(sql_string, exact))})")
    conditions += [f"trim(product_id) glob {sql_string(pattern)}" for pattern in patterns]
    return " or ".join(conditions) or None


def load_flat_file(con: duckdb.DuckDBPyConnection, staged: StagedFile, flat: FlatMapping, batch_id: str,
                   now_sql: str, rejects: Counter) -> FileLogEntry:
    """Check the staged export's lines, then insert derived customers, products, orders and order_items."""
    columns = flat_columns(flat)
    names = [column.name for column in columns]
    fill = {"customer_id": flat.missing_customer_id} if flat.missing_customer_id is not None else None
    select, warnings, present = file_select(staged, 0, names, flat.columns, required_columns(flat), fill)
    con.execute(f"create or replace temp view _ingest_flat_normalized as {select}")
    outputs = {"line_number": "coalesce(p_line_number, _line_position)",
               "unit_price": "coalesce(p_unit_price, p_line_amount / nullif(p_quantity, 0))"}
    create_checked_table(con, CHECKED, "_ingest_flat_normalized", columns, set(required_columns(flat)), flat, now_sql,
                         outputs, present)
    # Before fee codes and duplicates are rejected: those lines still name a real customer.
    customer_columns = [name for name, (source, _) in FLAT_COLUMNS.items() if source == "customers"]
    con.execute(f"""
        create or replace temp table _ingest_flat_customer_lines as
        select customer_id, ordered_at, _row_number, {', '.join(map(ident, customer_columns))}
        from {CHECKED} where _reason = ''
    """)
    exclusion = _exclusion_condition(flat.exclude_products)
    if exclusion:
        append_reason(con, CHECKED, "'excluded by mapping: non-product code ' || trim(product_id)",
                      f"product_id is not null and ({exclusion})")
    mapped = [name for name in names if name in flat.columns or (name == "customer_id" and fill)]
    key = ("order_id", "line_number") if "line_number" in flat.columns else None
    reject_duplicates(con, CHECKED, mapped + ["line_number"] if key else mapped, key, [staged.name])

    _insert_customers(con, staged.name, batch_id, now_sql)
    _insert_products(con, flat, staged.name, batch_id, now_sql)
    _insert_orders(con, flat, staged.name, batch_id, now_sql)
    _insert_order_items(con, staged.name, batch_id, now_sql)

    loaded, rejected = counts_by_file(con, CHECKED).get(0, (0, 0))
    rejects.update(reason_counts(con, CHECKED))
    insert_rejects(con, CHECKED, staged, 0, SOURCE_NAME, batch_id, now_sql)
    derived = {
        source: con.execute(f"select count(*) from raw.{source} where _batch_id = ? and _source_file = ?",
                            [batch_id, staged.name]).fetchone()[0]
        for source in ("customers", "products", "orders")
    }
    warnings.append(f"derived {derived['customers']:,} customers, {derived['products']:,} products, "
                    f"{derived['orders']:,} orders")
    for table in (CHECKED, "_ingest_flat_customer_lines"):
        con.execute(f"drop table {table}")
    drop_stage(con, staged)
    con.execute("drop view _ingest_flat_normalized")
    return FileLogEntry(SOURCE_NAME, staged.name, "loaded", staged.rows_read, loaded, rejected, warnings,
                        staged.content_hash)


def _metadata(file_name: str, batch_id: str, now_sql: str, row: str) -> str:
    return f"{sql_string(batch_id)}, {sql_string(file_name)}, {row}, {now_sql}"


def _insert(con, source: str, expressions: dict[str, str], from_sql: str) -> None:
    columns = SOURCES[source].column_names
    values = ", ".join(f"{expressions.get(column, 'null')} as {ident(column)}" for column in columns)
    con.execute(f"insert into raw.{source} ({', '.join(map(ident, columns))}, _batch_id, _source_file, _row_number, "
                f"_loaded_at) {from_sql.format(values=values)}")


def _insert_customers(con, file_name: str, batch_id: str, now_sql: str) -> None:
    expressions = {"customer_id": "customer_id", "updated_at": "max(ordered_at)"}
    for name, (source, contract_name) in FLAT_COLUMNS.items():
        if source == "customers":
            expressions[contract_name] = f"arg_max({ident(name)}, {LATEST})"
    _insert(con, "customers", expressions,
            f"select {{values}}, {_metadata(file_name, batch_id, now_sql, f'arg_max(_row_number, {LATEST})')} "
            "from _ingest_flat_customer_lines group by customer_id order by customer_id")


def _insert_products(con, flat: FlatMapping, file_name: str, batch_id: str, now_sql: str) -> None:
    expressions = {
        "product_id": "product_id",
        "list_price": "median(unit_price) filter (where unit_price >= 0)",
        "updated_at": "max(ordered_at)",
        "currency": sql_string(flat.currency) if flat.currency else f"arg_max(currency, {LATEST})",
    }
    for name, (source, contract_name) in FLAT_COLUMNS.items():
        if source == "products":
            expressions[contract_name] = f"arg_max({ident(name)}, {LATEST})"
    _insert(con, "products", expressions,
            f"select {{values}}, {_metadata(file_name, batch_id, now_sql, f'arg_max(_row_number, {LATEST})')} "
            f"from {CHECKED} where _reason = '' group by product_id order by product_id")


def _insert_orders(con, flat: FlatMapping, file_name: str, batch_id: str, now_sql: str) -> None:
    status = "arg_min(order_status, _row_number)"
    if flat.cancellation_prefix:
        status = f"case when starts_with(order_id, {sql_string(flat.cancellation_prefix)}) then 'cancelled' else {status} end"
    expressions = {
        "order_id": "order_id",
        "customer_id": "arg_min(customer_id, _row_number)",
        "ordered_at": "min(ordered_at)",
        "status": status,
        "channel": "arg_min(channel, _row_number)",
        "currency": sql_string(flat.currency) if flat.currency else "arg_min(currency, _row_number)",
    }
    _insert(con, "orders", expressions,
            f"select {{values}}, {_metadata(file_name, batch_id, now_sql, 'min(_row_number)')} "
            f"from {CHECKED} where _reason = '' group by order_id order by min(_row_number)")


def _insert_order_items(con, file_name: str, batch_id: str, now_sql: str) -> None:
    expressions = {
        "order_id": "order_id",
        "line_number": "line_number",
        "product_id": "product_id",
        "quantity": "quantity",
        "unit_price": "unit_price",
        "discount_amount": "line_discount_amount",
    }
    columns = SOURCES["order_items"].column_names
    values = ", ".join(f"{expressions[column]}" for column in columns)
    con.execute(f"insert into raw.order_items ({', '.join(columns)}, _batch_id, _source_file, _row_number, _loaded_at) "
                f"select {values}, {sql_string(batch_id)}, {sql_string(file_name)}, _row_number, {now_sql} "
                f"from {CHECKED} where _reason = '' order by _row_number")
