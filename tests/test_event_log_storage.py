"""The CLI's Dagster home keeps run events in the pooled SQLite event log: the same files Dagster's own storage
reads, so `dagster dev` shows the CLI's runs, and a forked process opens connections of its own."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from anticipate.cli import _prepare_dagster_home
from orchestration.event_log_storage import PooledSqliteEventLogStorage


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset_check(asset=second)
def second_is_two(second: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=second == 2)


def _home(tmp_path: Path, monkeypatch) -> Path:
    """A Dagster home as the CLI prepares it (the project's dagster.yaml copied in)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return _prepare_dagster_home()


def _run(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(assets=[first, second], asset_checks=[second_is_two]).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance)


def test_the_cli_home_records_runs_that_dagsters_own_storage_reads(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = _run(instance)
        assert result.success
        written = [(event.dagster_event_type, event.step_key) for event in instance.all_logs(result.run_id)]
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("second"), "second_is_two"), limit=10)
        assert [check.status.value for check in checks] == ["SUCCEEDED"]

    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        read = [(event.dagster_event_type, event.step_key) for event in stock.get_logs_for_run(result.run_id)]
        assert read == written
        assert stock.get_latest_materialization_events([dg.AssetKey("second")])[dg.AssetKey("second")] is not None
    finally:
        stock.dispose()


def test_without_base_dir_or_dagster_home_the_storage_says_what_it_needs(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(ValueError, match="base_dir in its config or DAGSTER_HOME"):
        PooledSqliteEventLogStorage.from_config_value(None, {})


def _count_events_in_child(storage: PooledSqliteEventLogStorage, run_id: str, queue) -> None:
    events = len(storage.get_logs_for_run(run_id))
    # the engines inherited from the parent were set aside for ones opened in this process
    queue.put((events, storage._engines_pid == os.getpid()))


def test_a_forked_process_reads_through_connections_of_its_own(tmp_path, monkeypatch):
    _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        result = _run(instance)
        storage = instance.event_log_storage
        parent_engines = dict(storage._engines)
        expected = len(storage.get_logs_for_run(result.run_id))
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_count_events_in_child, args=(storage, result.run_id, queue))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert queue.get(timeout=5) == (expected, True)
        # the parent's engines are untouched and still serve it
        assert storage._engines.keys() >= parent_engines.keys()
        assert len(storage.get_logs_for_run(result.run_id)) == expected


def test_wiping_the_event_log_disposes_the_connections_first(tmp_path, monkeypatch):
    _home(tmp_path, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        result = _run(instance)
        instance.event_log_storage.wipe()
        assert instance.event_log_storage.get_logs_for_run(result.run_id) == []
        again = _run(instance)
        assert len(instance.all_logs(again.run_id)) > 0
