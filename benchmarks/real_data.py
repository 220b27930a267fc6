"""The real public datasets beside the checkout, built into their own warehouses for the benchmarks."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY_ROOT / ".." / "shared" / "data"
DBT = str(Path(sys.executable).with_name("dbt"))
DATASETS = ("online_retail", "ta_feng")


def add_dataset_arguments(parser: argparse.ArgumentParser, *, warehouse_help: str) -> None:
    """The options every real-data benchmark takes: --warehouse DATASET=PATH (repeatable), --datasets, --no-write."""
    parser.add_argument("--warehouse", action="append", default=[], metavar="DATASET=PATH", help=warehouse_help)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")


def dataset_warehouses(args: argparse.Namespace, work: Path) -> list[tuple[str, Path]]:
    """Each dataset of `args.datasets`, in order, with its warehouse: the one given with --warehouse, else
    `work`/<dataset>/anticipate.duckdb. Exits with a message when the real data is missing and no warehouse
    was given, since nothing could be built."""
    given = dict(item.split("=", 1) for item in args.warehouse)
    if not SHARED_DATA.is_dir() and not given:
        sys.exit(f"real datasets not found at {SHARED_DATA.resolve()}: they sit beside the developers' checkout")
    return [(dataset, Path(given.get(dataset, work / dataset / "anticipate.duckdb"))) for dataset in args.datasets]


def build_warehouse(dataset: str, warehouse: Path, selection: tuple[str, ...]) -> None:
    """Ingest the dataset through its mapping (unless the warehouse exists) and `dbt build` the `selection`
    without tests, with dbt's target and logs beside the warehouse (never the project's target/)."""
    from anticipate.ingest import ingest

    if not warehouse.exists():
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        ingest(SHARED_DATA / dataset, warehouse, mapping_path=REPOSITORY_ROOT / "mappings" / f"{dataset}.yml")
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_PROFILES_DIR": str(REPOSITORY_ROOT),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_LOG_PATH": str(warehouse.parent / "logs")}
    command = [DBT, "build", "--project-dir", str(REPOSITORY_ROOT), "--target-path", str(warehouse.parent / "target"),
               "--select", *selection, "--exclude-resource-type", "test", "unit_test"]
    completed = subprocess.run(command, env=env, cwd=REPOSITORY_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"dbt build failed for {dataset}:\n{completed.stdout[-4000:]}")
