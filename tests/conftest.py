"""Shared fixtures. Tests run real DuckDB, dbt and Dagster on small generated data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPOSITORY_ROOT.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DBT_PROFILES_DIR", str(REPOSITORY_ROOT))


@pytest.fixture
def shared_data() -> Path:
    """The real public datasets beside the checkout; a user's fresh clone has none, so skip clearly."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (only present beside the developers' checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def build_demo_warehouse() -> Callable[..., Path]:
    """Builds a small demo warehouse in a folder with the real generator, ingestion and dbt: returns a
    function (folder, *, customers, seed, select, **generator options, before_build=None) -> warehouse path.

    `select` are dbt selectors of the models to build (without their tests); `before_build(warehouse)` runs
    between ingestion and dbt, e.g. to add rows to `raw` that the generator does not make.
    """
    from anticipate.demo_data import generate_demo_data
    from anticipate.ingest import ingest

    dbt = Path(sys.executable).with_name("dbt")

    def build(folder: Path, *, customers: int, seed: int, select: tuple[str, ...],
              before_build: Callable[[Path], None] | None = None, **generator_options) -> Path:
        landing, warehouse = folder / "landing", folder / "anticipate.duckdb"
        generate_demo_data(landing, customers=customers, seed=seed, **generator_options)
        ingest(landing, warehouse)
        if before_build is not None:
            before_build(warehouse)
        env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(warehouse), "DBT_LOG_PATH": str(folder / "logs")}
        completed = subprocess.run(
            [str(dbt), "build", "--project-dir", str(REPOSITORY_ROOT), "--profiles-dir", str(REPOSITORY_ROOT),
             "--target-path", str(folder / "target"), "--select", *select, "--exclude-resource-type", "test", "unit_test"],
            env=env, cwd=REPOSITORY_ROOT, capture_output=True, text=True,
        )
        assert completed.returncode == 0, f"dbt build failed:\n{completed.stdout[-4000:]}\n{completed.stderr[-2000:]}"
        return warehouse

    return build
