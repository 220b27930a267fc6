"""The real public datasets beside the checkout, built into their own warehouses for the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY_ROOT / ".." / "shared" / "data"
DBT = str(Path(sys.executable).with_name("dbt"))
DATASETS = ("online_retail", "ta_feng")


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
