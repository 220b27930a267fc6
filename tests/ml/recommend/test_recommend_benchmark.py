"""The real-data benchmark's report, produced from a demo warehouse (the real data may be absent), and the
command line the real-data benchmarks share."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from benchmarks import real_data


def _arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    real_data.add_dataset_arguments(parser, warehouse_help="use this warehouse")
    return parser.parse_args(argv)


def test_each_dataset_gets_its_given_warehouse_or_one_under_the_work_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(real_data, "SHARED_DATA", tmp_path)  # present, whether or not ../shared is beside the clone
    everything = real_data.dataset_warehouses(_arguments(), tmp_path)
    assert everything == [(dataset, tmp_path / dataset / "anticipate.duckdb") for dataset in real_data.DATASETS]
    arguments = _arguments("--datasets", "ta_feng", "online_retail", "--warehouse", "online_retail=/tmp/a=b.duckdb")
    assert not arguments.no_write
    assert real_data.dataset_warehouses(arguments, tmp_path) == [
        ("ta_feng", tmp_path / "ta_feng" / "anticipate.duckdb"), ("online_retail", Path("/tmp/a=b.duckdb"))]


def test_without_the_real_data_only_given_warehouses_can_run(tmp_path, monkeypatch):
    monkeypatch.setattr(real_data, "SHARED_DATA", tmp_path / "absent")
    with pytest.raises(SystemExit, match="real datasets not found at .*absent: they sit beside"):
        real_data.dataset_warehouses(_arguments("--no-write"), tmp_path)
    given = real_data.dataset_warehouses(_arguments("--warehouse", f"ta_feng={tmp_path / 't.duckdb'}"), tmp_path)
    assert given[1] == ("ta_feng", tmp_path / "t.duckdb")


def test_the_benchmark_reports_every_recommender_on_a_built_warehouse(demo_warehouse):
    from benchmarks.bench_recommender import evaluate_dataset

    # a small ranker and one training window: this checks the report, not the model
    lines = evaluate_dataset("online_retail", demo_warehouse, n_jobs=1,
                             two_stage={"n_estimators": 20, "training_windows": 1, "max_customers_per_window": 60})
    body = "\n".join(lines)
    for name in ("two-stage", "global popularity", "P-TopFreq", "GP-TopFreq", "item-kNN", "iALS"):
        assert name in body
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| recommender")]
    assert len(rows) == 6 and all(line.count("|") == 11 for line in rows)
    assert "Best baseline on NDCG@10" in body and "paired bootstrap" in body
