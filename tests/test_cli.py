"""The `anticipate` console script as a shop's operator uses it: exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ANTICIPATE = str(Path(sys.executable).with_name("anticipate"))


def run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([ANTICIPATE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def write_minimal_landing(landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "customers.csv").write_text("customer_id,email\nc1,a@example.com\n")
    (landing / "products.csv").write_text("product_id,name\np1,Mug\n")
    (landing / "orders.csv").write_text("order_id,customer_id,ordered_at\no1,c1,2024-01-05T10:00:00Z\n")
    (landing / "order_items.csv").write_text("order_id,product_id,quantity,unit_price\no1,p1,1,9.5\n")


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo-data", "ingest", "run", "status", "demo"):
        assert command in result.stdout


def test_file_error_prints_one_error_line_without_traceback(tmp_path):
    landing = tmp_path / "landing"
    write_minimal_landing(landing)
    (landing / "orders.csv").write_text("order_id,ordered_at\no1,2024-01-05\n")  # customer_id column missing
    result = run_cli("ingest", "--landing-dir", str(landing), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    assert "orders" in error_lines[0] and "customer_id" in error_lines[0]
    assert "Traceback" not in result.stderr


def test_debug_flag_shows_the_traceback(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    result = run_cli("ingest", "--debug", "--landing-dir", str(landing), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_missing_required_source_names_the_source(tmp_path):
    landing = tmp_path / "landing"
    write_minimal_landing(landing)
    (landing / "products.csv").unlink()
    result = run_cli("ingest", "--landing-dir", str(landing), "--warehouse", str(tmp_path / "w.duckdb"))
    assert result.returncode != 0
    assert any(line.startswith("error: ") and "products" in line for line in result.stderr.splitlines())


def test_ingest_then_status_reports_counts_and_rejects(tmp_path):
    landing = tmp_path / "landing"
    write_minimal_landing(landing)
    with open(landing / "order_items.csv", "a") as handle:
        handle.write("o1,p1,1,not-a-number\n")
    warehouse = tmp_path / "status_never_built.duckdb"
    ingested = run_cli("ingest", "--landing-dir", str(landing), "--warehouse", str(warehouse))
    assert ingested.returncode == 0, ingested.stderr
    status = run_cli("status", "--warehouse", str(warehouse))
    assert status.returncode == 0, status.stderr
    assert "raw" in status.stdout
    assert "order_items" in status.stdout
    assert "unit_price" in status.stdout  # the reject reason names the column
    assert "last ingestion: batch" in status.stdout
    assert "last dbt build: none of status_never_built.duckdb" in status.stdout  # ingested, never built
    assert "last Dagster run:" in status.stdout


def test_environment_variables_configure_the_paths(tmp_path):
    landing = tmp_path / "from_env_landing"
    write_minimal_landing(landing)
    warehouse = tmp_path / "from_env.duckdb"
    result = run_cli("ingest", env_extra={"ANTICIPATE_LANDING_DIR": str(landing), "ANTICIPATE_WAREHOUSE": str(warehouse)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert warehouse.exists()


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_demo_data_rejects_a_bad_customer_count(tmp_path, bad):
    result = run_cli("demo-data", "--customers", bad, "--out", str(tmp_path))
    assert result.returncode == 2
    assert "--customers" in result.stderr


def test_run_with_a_file_error_prints_one_error_line_and_no_traceback(tmp_path):
    """`anticipate run` executes the Dagster job; its failure still reads as one line, tracebacks on --debug."""
    landing = tmp_path / "landing"
    write_minimal_landing(landing)
    (landing / "orders.csv").write_text("order_id,ordered_at\no1,2024-01-05\n")
    env = {"DAGSTER_HOME": str(tmp_path / "dagster_home")}
    args = ("run", "--landing-dir", str(landing), "--warehouse", str(tmp_path / "w.duckdb"))
    result = run_cli(*args, env_extra=env)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: orders.csv: missing required column(s) customer_id (header is: order_id, ordered_at)"]
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr
    debug = run_cli(*args, "--debug", env_extra=env)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr


def test_demo_ignores_the_shops_configured_paths(tmp_path, monkeypatch):
    """`make demo` must never write demo files into a shop's exports or replace its warehouse."""
    from anticipate.cli import DEFAULT_LANDING_DIR, DEFAULT_WAREHOUSE, build_parser, demo_settings

    monkeypatch.setenv("ANTICIPATE_LANDING_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("ANTICIPATE_WAREHOUSE", str(tmp_path / "shop.duckdb"))
    settings = demo_settings(build_parser().parse_args(["demo"]))
    assert settings.landing_dir == Path(DEFAULT_LANDING_DIR).resolve()
    assert settings.warehouse == Path(DEFAULT_WAREHOUSE).resolve()
