"""The real-data benchmark's report, produced from a demo warehouse (the real data may be absent)."""

from __future__ import annotations


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
