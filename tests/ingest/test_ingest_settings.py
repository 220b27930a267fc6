"""DuckDB settings of ingestion: the memory limit comes from ANTICIPATE_DUCKDB_MEMORY_LIMIT (profiles.yml reads it too)."""

from __future__ import annotations

import duckdb
import pytest

from anticipate.ingest.load import MEMORY_LIMIT_ENV, TEMP_DIRECTORY_ENV, configure_for_bulk_load


def test_the_memory_limit_and_spill_folder_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "3GiB")
    monkeypatch.setenv(TEMP_DIRECTORY_ENV, str(tmp_path / "spill"))
    with duckdb.connect() as con:
        configure_for_bulk_load(con)
        limit, temp_directory, ordered = con.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('preserve_insertion_order')").fetchone()
    assert limit == "3.0 GiB" and temp_directory == str(tmp_path / "spill") and ordered is False


def test_without_the_variable_the_limit_is_a_share_of_the_machine(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    with duckdb.connect() as con:
        default = con.execute("select current_setting('memory_limit')").fetchone()[0]  # DuckDB's own: 80%
        configure_for_bulk_load(con)
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] != default


def test_a_value_duckdb_cannot_read_names_the_variable(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "plenty")
    with duckdb.connect() as con, pytest.raises(ValueError, match=MEMORY_LIMIT_ENV):
        configure_for_bulk_load(con)
