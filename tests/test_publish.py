"""Publishing: a consistent read-only copy swapped in atomically, which readers in other processes query
without ever being blocked or seeing a half-published state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from anticipate import publish
from anticipate.publish import PUBLISHED_PATH_VAR, default_published_path, publish_snapshot
from anticipate.status import table_row_counts


def prediction_rows(version: int) -> int:
    return 20_000 * version


def mart_rows(version: int) -> int:
    return 1_000 * version + 7


def write_version(warehouse: Path, version: int) -> None:
    """What a pipeline run writes: every published table carries its run's version in each row."""
    with duckdb.connect(str(warehouse)) as connection:
        for schema in ("raw", "marts", "ml", "predictions"):
            connection.execute(f"create schema if not exists {schema}")
        connection.execute(f"create or replace table raw.orders as select range as id from range({version})")
        connection.execute(
            f"create or replace table predictions.t as select {version} as version, 'c' || range as customer_id, "
            f"random() as probability, now() as scored_at, '{{\"v\": {version}}}'::json as top_drivers "
            f"from range({prediction_rows(version)})"
        )
        connection.execute(f"create or replace table marts.m as select {version} as version, range as id "
                           f"from range({mart_rows(version)})")
        connection.execute("create or replace view marts.recent as select * from marts.m where id < 5")
        connection.execute(f"create or replace table ml.model_registry as "
                           f"select 'churn_model-{version}' as model_version")


def columns(path: Path, schemas: tuple[str, ...]) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema in (select unnest(?)) order by all", [list(schemas)]).fetchall()


def test_the_published_copy_has_the_same_tables_rows_and_types(tmp_path):
    warehouse = tmp_path / "anticipate.duckdb"
    write_version(warehouse, 1)
    published = default_published_path(warehouse)
    result = publish_snapshot(warehouse, published)

    assert published == tmp_path / "published" / "anticipate.duckdb" and result.path == published
    schemas = ("marts", "ml", "predictions")
    expected = table_row_counts(warehouse, schemas)
    assert table_row_counts(published, schemas) == expected
    assert result.row_counts == {f"{schema}.{table}": rows for schema, table, rows in expected}
    assert result.row_counts["marts.recent"] == 5  # the view became a table
    assert columns(published, schemas) == columns(warehouse, schemas)  # json and timestamptz kept
    assert table_row_counts(published, ("raw",)) == []  # only the published schemas
    with duckdb.connect(str(published), read_only=True) as connection:
        manifest = connection.execute(
            "select table_schema || '.' || table_name, row_count, source_type, source_warehouse, published_at "
            "from _published.manifest order by 1").fetchall()
    assert {name: rows for name, rows, *_ in manifest} == result.row_counts
    assert {kind for _, _, kind, _, _ in manifest} == {"BASE TABLE", "VIEW"}
    assert {(source, at) for *_, source, at in manifest} == {(str(warehouse.resolve()), result.published_at)}
    assert sorted(os.listdir(published.parent)) == ["anticipate.duckdb"]


def test_the_published_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(PUBLISHED_PATH_VAR, raising=False)
    assert default_published_path(tmp_path / "shop.duckdb") == tmp_path / "published" / "shop.duckdb"
    monkeypatch.setenv(PUBLISHED_PATH_VAR, str(tmp_path / "bi" / "current.duckdb"))
    assert default_published_path(tmp_path / "shop.duckdb") == tmp_path / "bi" / "current.duckdb"


def fail(*args, **kwargs):
    raise RuntimeError("disk full")


@pytest.mark.parametrize("step", ["_copy_table", "_write_manifest", "_fsync"])
def test_a_failed_publication_leaves_the_previous_copy_and_no_temporary_file(tmp_path, monkeypatch, step):
    warehouse, published = tmp_path / "anticipate.duckdb", tmp_path / "published" / "anticipate.duckdb"
    write_version(warehouse, 1)
    publish_snapshot(warehouse, published)
    before = published.read_bytes()
    write_version(warehouse, 2)
    if step == "_copy_table":  # fail midway: after the first table is copied
        copy = publish._copy_table
        calls = []

        def copy_once_then_fail(*args):
            calls.append(args)
            return copy(*args) if len(calls) == 1 else fail()

        monkeypatch.setattr(publish, step, copy_once_then_fail)
    else:
        monkeypatch.setattr(publish, step, fail)
    with pytest.raises(RuntimeError, match="disk full"):
        publish_snapshot(warehouse, published)
    assert published.read_bytes() == before
    assert sorted(os.listdir(published.parent)) == ["anticipate.duckdb"]
    with duckdb.connect(str(published), read_only=True) as connection:
        kept = connection.execute("select count(*), max(version) from predictions.t").fetchone()
        assert kept == (prediction_rows(1), 1)
    monkeypatch.undo()
    publish_snapshot(warehouse, published)  # the next run publishes normally
    with duckdb.connect(str(published), read_only=True) as connection:
        assert connection.execute("select max(version) from predictions.t").fetchone() == (2,)


def test_publishing_refuses_to_pair_a_stray_write_ahead_log_with_the_new_copy(tmp_path):
    warehouse, published = tmp_path / "anticipate.duckdb", tmp_path / "anticipate_published.duckdb"
    write_version(warehouse, 1)
    publish_snapshot(warehouse, published)
    (tmp_path / "anticipate_published.duckdb.wal").write_bytes(b"")
    with pytest.raises(RuntimeError, match="opened read-write"):
        publish_snapshot(warehouse, published)
    with pytest.raises(FileNotFoundError, match="nothing to publish"):
        publish_snapshot(tmp_path / "missing.duckdb", published)


READER = """
import json, os, sys, duckdb
published, results, stop = sys.argv[1:4]
with open(results, "w") as out:
    while not os.path.exists(stop):
        try:
            # a new read-only connection per query, as a BI tool or the API opens them
            with duckdb.connect(published, read_only=True) as connection:
                predictions = connection.execute(
                    "select count(*), min(version), max(version) from predictions.t").fetchone()
                marts = connection.execute("select count(*), min(version), max(version) from marts.m").fetchone()
                manifest = connection.execute(
                    "select row_count from _published.manifest where table_name = 't'").fetchone()[0]
            out.write(json.dumps({"predictions": predictions, "marts": marts, "manifest": manifest}) + "\\n")
        except Exception as error:
            out.write(json.dumps({"error": repr(error)}) + "\\n")
        out.flush()
"""


def reads(results: Path) -> list[dict]:
    return [json.loads(line) for line in results.read_text().splitlines() if line.endswith("}")]


def wait_for_version(results: Path, version: int, reader: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results.exists() and any(read.get("predictions", [0, 0])[1] == version for read in reads(results)):
            return
        assert reader.poll() is None, "the reader process died"
        time.sleep(0.02)
    raise AssertionError(f"the reader never saw version {version}")


def test_a_reader_process_querying_continuously_sees_whole_versions_and_never_fails(tmp_path):
    warehouse, published = tmp_path / "anticipate.duckdb", tmp_path / "published" / "anticipate.duckdb"
    results, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    write_version(warehouse, 1)
    publish_snapshot(warehouse, published)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(published), str(results), str(stop)])
    versions = range(1, 7)
    try:
        wait_for_version(results, 1, reader)
        for version in versions[1:]:
            write_version(warehouse, version)  # the pipeline writes its warehouse: readers are not affected
            publish_snapshot(warehouse, published)
            wait_for_version(results, version, reader)
    finally:
        stop.touch()
        reader.wait(timeout=10)

    observed = reads(results)
    assert [read for read in observed if "error" in read] == []
    for read in observed:
        count, low, high = read["predictions"]
        assert low == high and count == prediction_rows(low) == read["manifest"], read
        assert read["marts"] == [mart_rows(low), low, low], read  # the marts of the same publication
    seen = [read["predictions"][1] for read in observed]
    assert seen == sorted(seen)  # once a reader saw a version, it never sees an older one again
    assert set(seen) == set(versions) and len(observed) > 2 * len(versions)
