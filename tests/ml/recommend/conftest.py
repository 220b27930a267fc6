"""A small demo warehouse built once per session with the real ingestion and dbt, for the loader tests."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
SELECTION = ("+fct_order_items", "+dim_products", "+dim_customers", "+int_customer_product_interactions_unioned",
             "+customer_features_snapshot")

# implicit warns and slows down when OpenBLAS runs its own threads beside pytest-xdist workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 demo customers over a year ending 2026-10-15, built up to the marts the recommenders read."""
    from anticipate.demo_data import generate_demo_data
    from anticipate.ingest import ingest

    folder = tmp_path_factory.mktemp("recommend_demo")
    landing, warehouse = folder / "landing", folder / "anticipate.duckdb"
    generate_demo_data(landing, customers=200, seed=11, years=1.0, end_date=date(2026, 10, 15))
    ingest(landing, warehouse)
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_LOG_PATH": str(folder / "logs")}
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), "build", "--project-dir", str(REPOSITORY_ROOT), "--profiles-dir", str(REPOSITORY_ROOT),
         "--target-path", str(folder / "target"), "--select", *SELECTION, "--exclude-resource-type", "test", "unit_test"],
        env=env, cwd=REPOSITORY_ROOT, capture_output=True, text=True,
    )
    assert completed.returncode == 0, f"dbt build failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}"
    return warehouse
