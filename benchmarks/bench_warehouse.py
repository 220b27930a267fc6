"""Warehouse scale benchmark: demo data at 100k and 1M customers, ingestion and `dbt build` with wall time,
CPU time and peak memory, against a hand-written DuckDB query as the floor.

    make bench-warehouse                       # 100k and 1M customers (25-35 minutes on 2 cores)
    python -m benchmarks.bench_warehouse --customers 20000 100000   # other sizes

Each stage runs in its own process so its peak resident memory (ru_maxrss from wait4) and its CPU time
(user + system) are its own. `dbt build` runs once, as `anticipate run` runs it (every model but the
prediction tables, with their tests); where its time goes by layer is read from its run_results.json.
On a shared machine wall time is an upper bound; CPU time varies less with the load (the load average at
the start of each size is recorded). Writes the table into benchmarks/RESULTS.md between the warehouse
markers after each size, so a long run leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.results import RESULTS, write_section

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
WORK = REPOSITORY_ROOT / "benchmarks" / "work"
PYTHON = sys.executable
DBT = str(Path(sys.executable).with_name("dbt"))
#: 1-minute load average when each size started, to read the wall times of a shared machine by.
LOAD_AVERAGES: dict[int, float] = {}

#: The build `anticipate run` (the daily job's warehouse_dbt_models asset) runs: every model but the prediction
#: tables, which need the models' scores first, with their data tests (unit tests run in `make test`).
DBT_BUILD = ("build", "--exclude", "tag:predictions", "--exclude-resource-type", "unit_test")
#: Layers of the build in data-flow order, by model folder; seeds count with staging.
LAYERS = ("staging", "intermediate", "marts", "ml")


@dataclass
class Measurement:
    customers: int
    stage: str
    seconds: float
    peak_mib: float
    cpu_seconds: float = 0.0
    rows: int | None = None
    #: for the dbt build: layer -> (model thread-seconds, test thread-seconds), from run_results.json
    layers: dict[str, tuple[float, float]] | None = None


def run_measured(command: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run a command as a child process; return (wall seconds, peak RSS MiB, CPU seconds of that child, output)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPOSITORY_ROOT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-4000:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, output


def bench_size(customers: int, *, keep: bool) -> list[Measurement]:
    folder = WORK / f"{customers}"
    landing, warehouse = folder / "landing", folder / "anticipate.duckdb"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "ANTICIPATE_LANDING_DIR": str(landing),
           "DBT_PROFILES_DIR": str(REPOSITORY_ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    measurements: list[Measurement] = []
    LOAD_AVERAGES[customers] = os.getloadavg()[0]

    def measure(stage: str, command: list[str]) -> str:
        seconds, peak, cpu_seconds, output = run_measured(command, env=env)
        measurements.append(Measurement(customers, stage, seconds, peak, cpu_seconds))
        print(f"  {customers:>9,} customers  {stage:<36} {seconds:8.1f} s  {cpu_seconds:8.1f} cpu s  {peak:8.0f} MiB",
              flush=True)
        return output

    measure("generate demo data", [PYTHON, "-m", "anticipate.cli", "demo-data", "--customers", str(customers), "--out", str(landing)])
    measurements[-1].rows = _landing_rows(landing)
    measure("ingest", [PYTHON, "-m", "anticipate.cli", "ingest", "--landing-dir", str(landing), "--warehouse", str(warehouse)])
    target = folder / "target"
    measure("dbt build", [DBT, *DBT_BUILD, "--project-dir", str(REPOSITORY_ROOT), "--target-path", str(target)])
    measurements[-1].layers = layer_seconds(json.loads((target / "run_results.json").read_text()),
                                            json.loads((target / "manifest.json").read_text()))
    # The floor's like-for-like: dbt building only what the current features need, raw -> mart, no tests.
    measure("dbt run: raw -> current features", [DBT, "run", "--project-dir", str(REPOSITORY_ROOT), "--target-path", str(target),
                                                 "--select", "+customer_features_current"])
    measure("hand-written SQL: current features", [PYTHON, "-m", "benchmarks.handwritten_features", str(warehouse)])
    if not keep:
        shutil.rmtree(folder)
    return measurements


def layer_seconds(run_results: dict, manifest: dict) -> dict[str, tuple[float, float]]:
    """Seconds of dbt's threads per layer, models (and seeds) apart from tests, from one build's artifacts.

    A model's layer is its folder under models/ (seeds and the raw sources are staging); a test counts with
    the latest layer of what it reads. Two threads run side by side, so a layer's seconds may exceed its
    share of the wall.
    """
    nodes, sources = manifest["nodes"], manifest.get("sources", {})

    def layer_of(unique_id: str) -> int | None:
        if unique_id in sources:
            return 0 if sources[unique_id]["schema"] == "raw" else None
        node = nodes.get(unique_id)
        if node is None:
            return None
        if node["resource_type"] == "seed":
            return 0
        if node["resource_type"] == "model":
            folder = node["fqn"][1]  # [project, folder under models/, ..., name]
            return LAYERS.index(folder) if folder in LAYERS else None
        parents = [layer_of(parent) for parent in node.get("depends_on", {}).get("nodes", [])]
        parents = [layer for layer in parents if layer is not None]
        return max(parents) if parents else None

    seconds = {layer: [0.0, 0.0] for layer in LAYERS}
    for result in run_results["results"]:
        layer = layer_of(result["unique_id"])
        if layer is None:
            continue
        is_test = nodes[result["unique_id"]]["resource_type"] == "test"
        seconds[LAYERS[layer]][1 if is_test else 0] += result["execution_time"]
    return {layer: (models, tests) for layer, (models, tests) in seconds.items()}


def _landing_rows(landing: Path) -> int:
    import duckdb

    total = 0
    with duckdb.connect() as connection:
        for path in landing.iterdir():
            if path.suffix == ".csv":
                total += connection.execute("select count(*) from read_csv(?, header=true, all_varchar=true)", [str(path)]).fetchone()[0]
            elif path.suffix == ".parquet":
                total += connection.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]
            elif path.suffix == ".jsonl":
                total += sum(1 for line in path.open() if line.strip())
    return total


def render(measurements: list[Measurement]) -> str:
    sizes = sorted({m.customers for m in measurements})
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"`python -m benchmarks.bench_warehouse --customers {' '.join(str(size) for size in sizes)}`. "
        "Peak memory and CPU time (user + system, all threads) are each stage's own process. The machine is "
        "shared: wall times are upper bounds (1-minute load average when each size started: "
        + ", ".join(f"{size:,}: {LOAD_AVERAGES[size]:.1f}" for size in sizes if size in LOAD_AVERAGES) + ").",
        "",
        "| customers | stage | seconds | CPU seconds | peak MiB |",
        "|---:|---|---:|---:|---:|",
    ]
    for m in measurements:
        rows = f" ({m.rows:,} landing rows)" if m.rows else ""
        lines.append(f"| {m.customers:,} | {m.stage}{rows} | {m.seconds:.1f} | {m.cpu_seconds:.1f} | {m.peak_mib:,.0f} |")
    lines += ["", "| customers | ingest + dbt build (s) | CPU s | max peak MiB | dbt raw -> current features / hand-written SQL "
                  "(wall; CPU) |",
              "|---:|---:|---:|---:|---:|"]
    totals, cpu_totals = {}, {}
    for size in sizes:
        rows = [m for m in measurements if m.customers == size]
        pipeline = [m for m in rows if m.stage in ("ingest", "dbt build")]
        totals[size] = sum(m.seconds for m in pipeline)
        cpu_totals[size] = sum(m.cpu_seconds for m in pipeline)
        like_for_like = next(m for m in rows if m.stage == "dbt run: raw -> current features")
        floor = next(m for m in rows if m.stage.startswith("hand-written"))
        lines.append(f"| {size:,} | {totals[size]:.1f} | {cpu_totals[size]:.1f} | {max(m.peak_mib for m in pipeline):,.0f} | "
                     f"{like_for_like.seconds / floor.seconds:.2f}x; {like_for_like.cpu_seconds / floor.cpu_seconds:.2f}x |")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        growth = (totals[large] / totals[small]) / (large / small)
        cpu_growth = (cpu_totals[large] / cpu_totals[small]) / (large / small)
        lines += ["", f"Cost growth from {small:,} to {large:,} customers: {totals[large] / totals[small]:.1f}x time for "
                      f"{large / small:.0f}x customers ({growth:.2f} of linear; CPU time {cpu_growth:.2f} of linear)."]
    lines += ["", "Where each dbt build's time went, by layer, from its run_results.json: seconds of dbt's two threads, "
                  "which run side by side, so a layer's seconds can exceed its share of the wall time; dbt's own "
                  "start-up and scheduling are in no layer.", "",
              "| customers | layer | models s | tests s |", "|---:|---|---:|---:|"]
    for m in measurements:
        for layer, (models, tests) in (m.layers or {}).items():
            lines.append(f"| {m.customers:,} | {layer} | {models:.1f} | {tests:.1f} |")
    return "\n".join(lines)


def write_results(table: str) -> None:
    write_section("bench-warehouse", "Warehouse scale (`make bench-warehouse`)", table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep generated files and warehouses under benchmarks/work")
    args = parser.parse_args()
    measurements: list[Measurement] = []
    for customers in args.customers:
        measurements += bench_size(customers, keep=args.keep)
        table = render(measurements)
        write_results(table)  # after each size: a long run that is stopped keeps the sizes it finished
    print(table)
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
