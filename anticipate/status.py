"""What is in the warehouse: row counts per schema, the last ingestion batch and run, rejects by reason."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from anticipate.config import PROJECT_ROOT, SCHEMAS
from anticipate.ingest.record import reject_rule_sql

MAX_RULES_SHOWN = 20


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise FileNotFoundError(f"{warehouse}: no warehouse yet; run `anticipate run` (or `make demo`) first")
    return duckdb.connect(str(warehouse), read_only=True)


def table_row_counts(warehouse: Path, schemas: tuple[str, ...] = SCHEMAS) -> list[tuple[str, str, int]]:
    """(schema, table, rows) for every table and view in the given schemas, in data-flow order."""
    with _connect(warehouse) as connection:
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema in (select unnest($schemas)) "
            "order by table_schema, table_name",
            {"schemas": list(schemas)},
        ).fetchall()
        counts = [
            (schema, table, connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0])
            for schema, table in tables
        ]
    order = {schema: position for position, schema in enumerate(schemas)}
    return sorted(counts, key=lambda row: (order[row[0]], row[1]))


def mart_row_counts(warehouse: Path) -> list[tuple[str, int]]:
    return [(f"{schema}.{table}", rows) for schema, table, rows in table_row_counts(warehouse, ("marts", "ml", "predictions"))]


def warehouse_status(warehouse: Path) -> str:
    lines = [f"warehouse: {warehouse}"]
    counts = table_row_counts(warehouse)
    for schema in SCHEMAS:
        in_schema = [(table, rows) for table_schema, table, rows in counts if table_schema == schema]
        total = sum(rows for _, rows in in_schema)
        lines.append(f"{schema:<13} {len(in_schema):>3} tables {total:>14,} rows")
        lines.extend(f"  {table:<43} {rows:>14,}" for table, rows in in_schema)
    with _connect(warehouse) as connection:
        if _exists(connection, "raw", "ingestion_log"):
            last_batch = connection.execute(
                "select batch_id, max(loaded_at), count(*) filter (where status = 'loaded'), "
                "count(*) filter (where status = 'skipped'), count(*) filter (where status = 'failed') "
                "from raw.ingestion_log group by batch_id order by max(loaded_at) desc limit 1"
            ).fetchone()
            if last_batch:
                lines.append(
                    f"last ingestion: batch {last_batch[0]} at {last_batch[1]:%Y-%m-%d %H:%M:%S %Z}: "
                    f"{last_batch[2]} files loaded, {last_batch[3]} skipped, {last_batch[4]} failed"
                )
    rules = rejected_rows_by_rule(warehouse)
    if rules:
        lines.append("rejected rows by rule (a row breaking several rules counts under each):")
        lines.extend(f"  {count:>10,}  {source:<24} {rule}" for source, rule, count in rules[:MAX_RULES_SHOWN])
        if len(rules) > MAX_RULES_SHOWN:
            lines.append(f"  ... {len(rules) - MAX_RULES_SHOWN} more rules: select * from raw.rejected_rows")
    lines.extend(model_champions(warehouse))
    lines.append(last_dbt_build(warehouse))
    lines.append(last_dagster_run())
    return "\n".join(lines)


#: The metric each model is judged by on its holdout, and whether higher is better.
PRIMARY_METRICS = {"churn_model": ("roc_auc", True), "propensity_model": ("roc_auc", True), "clv_model": ("rmse", False),
                   "recommender_ranker": ("ndcg_at_10", True)}


def model_champions(warehouse: Path) -> list[str]:
    """One line per champion model: version, when trained, and its primary holdout metric beside the best
    baseline's, so a reader sees at once whether the model earns its keep."""
    with _connect(warehouse) as connection:
        if not _exists(connection, "ml", "model_registry"):
            return ["models: none trained yet (the churn_model, propensity_model and clv_model assets train them)"]
        champions = connection.execute(
            "select model_name, model_version, trained_at, report_path from ml.model_registry "
            "where status = 'champion' order by model_name"
        ).fetchall()
        lines = ["champion models (holdout metric: model vs best comparator):"]
        for name, version, trained_at, report in champions:
            metric, higher_is_better = PRIMARY_METRICS.get(name, ("roc_auc", True))
            row = connection.execute(
                f"select any_value(value), {'max' if higher_is_better else 'min'}(baseline_value), "
                f"arg_{'max' if higher_is_better else 'min'}(baseline_name, baseline_value) "
                "from ml.model_metrics where model_version = ? and split = 'holdout' and metric = ?",
                [version, metric],
            ).fetchone()
            value, best, best_name = row if row else (None, None, None)
            measured = (f"{metric} {value:.3f} vs {best:.3f} ({best_name})" if value is not None and best is not None
                        else "no holdout metrics")
            lines.append(f"  {name:<18} {version:<33} trained {trained_at:%Y-%m-%d %H:%M} UTC  {measured}")
            if report:
                lines.append(f"  {'':<18} report: {report}")
    return lines


def rejected_rows_by_rule(warehouse: Path) -> list[tuple[str, str, int]]:
    """(source, rule, rows), most frequent first. A reason lists every rule a row broke (`; `-joined) with
    the offending value; counting per `<subject>: <rule>`, as ingestion's own summary does, keeps it short."""
    with _connect(warehouse) as connection:
        if not _exists(connection, "raw", "rejected_rows"):
            return []
        return connection.execute(
            f"""
            select source, {reject_rule_sql('part')} as rule, count(*) as rows
            from (select source, unnest(string_split(reason, '; ')) as part from raw.rejected_rows)
            group by all order by rows desc, source, rule
            """
        ).fetchall()


def _exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()[0])


def last_dbt_build(warehouse: Path) -> str:
    """The newest dbt run_results.json of each dbt step under target/ that built this warehouse, one line per
    step. dagster-dbt writes one folder per invocation, named after the step (`warehouse_dbt_models-...`,
    `prediction_dbt_models-...`). dbt-duckdb names the database after the file, so relation names start with
    its stem (two warehouse files with the same name in different folders are not told apart)."""
    database = f'"{warehouse.stem}".'
    lines, steps_seen = [], set()
    for path in sorted((PROJECT_ROOT / "target").glob("**/run_results.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        step = path.parent.name.split("-", 1)[0] if path.parent.name != "target" else "dbt"
        if step in steps_seen:
            continue
        payload = json.loads(path.read_text())
        if not any((node.get("relation_name") or "").startswith(database) for node in payload.get("results", [])):
            continue
        steps_seen.add(step)
        counts: dict[tuple[str, str], int] = {}
        for node in payload["results"]:
            resource_type = node["unique_id"].split(".", 1)[0].replace("_", " ")  # model, seed, test, unit test
            counts[resource_type, node["status"]] = counts.get((resource_type, node["status"]), 0) + 1
        generated = payload.get("metadata", {}).get("generated_at", "?")
        summary = ", ".join(f"{count} {kind}s {status}" for (kind, status), count in sorted(counts.items()))
        lines.append(f"last dbt build, {step} ({generated}): {summary}")
    if not lines:
        return f"last dbt build: none of {warehouse.name} recorded under target/"
    return "\n".join(reversed(lines))  # in run order: the warehouse step, then the predictions step


def last_dagster_run() -> str:
    """The newest run in DAGSTER_HOME (where `anticipate run` and `make dev` record runs)."""
    import os
    from datetime import datetime, timezone

    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    if not (home / "dagster.yaml").exists():
        return f"last Dagster run: none recorded in {home}"
    import dagster as dg  # deferred: 2 s of import, only for this line

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home.resolve())
    try:
        with dg.DagsterInstance.get() as instance:
            records = instance.get_run_records(limit=1)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous
    if not records:
        return f"last Dagster run: none recorded in {home}"
    record = records[0]
    started = datetime.fromtimestamp(record.start_time, timezone.utc) if record.start_time else None
    took = f" in {record.end_time - record.start_time:.0f} s" if record.start_time and record.end_time else ""
    return (f"last Dagster run: {record.dagster_run.job_name} {record.dagster_run.status.value.lower()}"
            f"{f' at {started:%Y-%m-%d %H:%M:%S} UTC' if started else ''}{took} (run {record.dagster_run.run_id})")
