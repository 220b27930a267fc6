"""Where a built warehouse's dbt time goes, model by model: each table model's compiled SQL run alone, once
as a plain select (every column computed, the rows thrown away) and once as the `create table` dbt runs.

    python -m benchmarks.model_costs WAREHOUSE [--select '+customer_features_current']

WAREHOUSE must hold a finished `dbt build` (e.g. `python -m benchmarks.bench_warehouse --customers 1000000
--keep` leaves one under benchmarks/work). The models are compiled against it with dbt, then run one after
the other in a single DuckDB connection with the profile's settings (two threads, the same memory limit, no
insertion order), so each figure is that model's alone, without a neighbour on the other core. The copies go
to a scratch schema that is dropped at the end; the warehouse's own tables are only read. Writes its table
into benchmarks/RESULTS.md (section model-costs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from anticipate.ingest.load import configure_for_bulk_load
from benchmarks.bench_warehouse import DBT, REPOSITORY_ROOT
from benchmarks.results import write_section

SCRATCH_SCHEMA = "benchmark_model_costs"
DEFAULT_SELECT = "+customer_features_current"


@dataclass
class ModelCost:
    model: str
    rows: int
    select_seconds: float
    select_cpu_seconds: float
    create_seconds: float
    create_cpu_seconds: float


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compiled_table_models(warehouse: Path, select: str, target: Path) -> list[tuple[str, str]]:
    """(name, compiled SQL) of the selected table models, in the order dbt runs them."""
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_PROFILES_DIR": str(REPOSITORY_ROOT),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [DBT, "compile", "--project-dir", str(REPOSITORY_ROOT), "--target-path", str(target), "--select", select,
         "--threads", "1"],
        env=env, cwd=REPOSITORY_ROOT, capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt compile failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}")
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    order = [result["unique_id"] for result in json.loads((target / "run_results.json").read_text())["results"]]
    return [(nodes[unique_id]["name"], nodes[unique_id]["compiled_code"]) for unique_id in order
            if nodes[unique_id]["resource_type"] == "model" and nodes[unique_id]["config"]["materialized"] == "table"]


def _configure(connection: duckdb.DuckDBPyConnection) -> None:
    # the profile's settings: ingestion applies the same memory limit, temp directory and insertion order
    configure_for_bulk_load(connection)
    connection.execute("set threads = 2")
    connection.execute("set TimeZone = 'UTC'")


def measure(warehouse: Path, models: list[tuple[str, str]], *, echo: bool = True) -> list[ModelCost]:
    costs = []
    with duckdb.connect(str(warehouse)) as connection:
        _configure(connection)
        connection.execute(f"create schema if not exists {SCRATCH_SCHEMA}")
        try:
            for name, sql in models:
                started, cpu = time.perf_counter(), _cpu_seconds()
                connection.execute(f"select sum(hash(columns(*))) from ({sql})").fetchall()
                select_seconds, select_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
                copy = f"{SCRATCH_SCHEMA}.{name}"
                started, cpu = time.perf_counter(), _cpu_seconds()
                connection.execute(f"create or replace table {copy} as {sql}")
                connection.execute("checkpoint")  # the write to the file is part of what dbt pays
                create_seconds, create_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
                rows = connection.execute(f"select count(*) from {copy}").fetchone()[0]
                connection.execute(f"drop table {copy}")
                connection.execute("checkpoint")
                costs.append(ModelCost(name, rows, select_seconds, select_cpu, create_seconds, create_cpu))
                if echo:
                    print(f"  {name:<50} {rows:>12,} rows  select {select_seconds:7.1f} s {select_cpu:7.1f} cpu s  "
                          f"create table {create_seconds:7.1f} s {create_cpu:7.1f} cpu s", flush=True)
        finally:
            connection.execute(f"drop schema if exists {SCRATCH_SCHEMA} cascade")
            connection.execute("checkpoint")
    return costs


def render(costs: list[ModelCost], *, warehouse: Path, select: str) -> str:
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"`python -m benchmarks.model_costs {warehouse.name} --select '{select}'`: each table model alone, "
        "slowest first. \"select\" computes every column and throws the rows away; \"create table\" is what dbt "
        "runs, including the write to the file.",
        "",
        "| model | rows | select: s / CPU s | create table: s / CPU s |",
        "|---|---:|---:|---:|",
    ]
    for cost in sorted(costs, key=lambda cost: cost.create_seconds, reverse=True):
        lines.append(f"| {cost.model} | {cost.rows:,} | {cost.select_seconds:.1f} / {cost.select_cpu_seconds:.1f} | "
                     f"{cost.create_seconds:.1f} / {cost.create_cpu_seconds:.1f} |")
    total = (sum(c.select_seconds for c in costs), sum(c.select_cpu_seconds for c in costs),
             sum(c.create_seconds for c in costs), sum(c.create_cpu_seconds for c in costs))
    lines.append(f"| **all {len(costs)}** | | {total[0]:.1f} / {total[1]:.1f} | {total[2]:.1f} / {total[3]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="a DuckDB file holding a finished dbt build")
    parser.add_argument("--select", default=DEFAULT_SELECT, help=f"dbt selector of the models (default {DEFAULT_SELECT})")
    parser.add_argument("--no-write", action="store_true", help="print the table without writing RESULTS.md")
    args = parser.parse_args(argv)
    warehouse = args.warehouse.resolve()
    if not warehouse.is_file():
        parser.error(f"{warehouse} is not a file; build a warehouse first (see the module's help)")
    with tempfile.TemporaryDirectory(prefix="model_costs_") as folder:
        models = compiled_table_models(warehouse, args.select, Path(folder))
    table = render(measure(warehouse, models), warehouse=warehouse, select=args.select)
    print(table)
    if not args.no_write:
        write_section("model-costs", "dbt models one by one (`python -m benchmarks.model_costs`)", table)


if __name__ == "__main__":
    main()
