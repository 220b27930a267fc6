"""dbt's DuckDB settings: memory limit and spill folder from the environment, set once per database."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import REPO_ROOT, run_dbt


def test_dbt_takes_the_memory_limit_and_spill_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTICIPATE_DUCKDB_MEMORY_LIMIT", "3GiB")
    monkeypatch.setenv("ANTICIPATE_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    run = run_dbt(tmp_path / "anticipate.duckdb", tmp_path / "target", "show", "--output", "json", "--inline",
                  "select current_setting('memory_limit') as memory_limit, "
                  "current_setting('temp_directory') as temp_directory, "
                  "current_setting('preserve_insertion_order') as ordered, current_setting('TimeZone') as zone")
    assert run.returncode == 0, run.output[-4000:]
    assert '"memory_limit": "3.0 GiB"' in run.output
    assert f'"temp_directory": "{tmp_path / "spill"}"' in run.output
    assert '"ordered": false' in run.output and '"zone": "UTC"' in run.output


def test_database_wide_options_are_set_once_not_on_every_cursor():
    """dbt runs `settings` on every cursor it opens, and DuckDB refuses to change temp_directory once it has
    spilled there: a build big enough to spill (1M customers) then failed at its next cursor. Database-wide
    options are config_options, which dbt-duckdb passes once to duckdb.connect."""
    output = yaml.safe_load(Path(REPO_ROOT, "profiles.yml").read_text())["anticipate"]["outputs"]["dev"]
    assert {"memory_limit", "temp_directory", "preserve_insertion_order"} <= set(output["config_options"])
    assert not {"memory_limit", "temp_directory", "preserve_insertion_order"} & set(output.get("settings") or {})
