"""Helpers for ingestion tests: write a small landing folder into tmp_path, read the real warehouse back."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

#: A fixed load time, so "more than one day in the future" does not depend on the clock.
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)

MINIMAL = {
    "customers.csv": "customer_id,email,first_name\nc1,ann@example.com,Ann\nc2,bob@example.com,Bob\n",
    "products.csv": "product_id,name,list_price\np1,Mug,9.5\np2,Plate,12\n",
    "orders.csv": "order_id,customer_id,ordered_at,status\no1,c1,2024-05-01T10:00:00Z,placed\no2,c2,2024-05-02 09:30:00,shipped\n",
    "order_items.csv": "order_id,line_number,product_id,quantity,unit_price\no1,1,p1,2,9.5\no1,2,p2,1,12\no2,1,p1,1,9.5\n",
}


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return folder


def rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder holding the four required sources, valid."""
    return write_files(tmp_path / "landing", MINIMAL)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "anticipate.duckdb"


def shared_data_dir() -> Path:
    # tests/ingest/conftest.py -> repository root is parents[2]; the shared data sits beside the checkout.
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def write():
    """write(folder, {name: text or bytes}) -> folder."""
    return write_files


@pytest.fixture
def query():
    """query(warehouse, sql, params=None) -> list of tuples, read-only."""
    return rows


@pytest.fixture
def minimal_files() -> dict[str, str]:
    return dict(MINIMAL)


@pytest.fixture
def shared_data() -> Path:
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"real datasets not found at {folder.resolve()} (a clone without ../shared/data)")
    return folder
