"""Shared fixtures. Tests run real DuckDB, dbt and Dagster on small generated data."""

from __future__ import annotations

import os
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
