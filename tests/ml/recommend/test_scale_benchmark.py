"""The scale benchmark on a tiny shop: every stage runs in its own process and the lists are complete."""

from __future__ import annotations

import pandas as pd

from benchmarks.bench_recommender_scale import STAGES, bench, fit_sample, generate_shop, render


def test_the_generated_shop_is_heavy_tailed_with_repeat_purchases_and_every_interaction_type():
    interactions, products, customers, features = generate_shop(3_000, 300, seed=1)
    per_customer = interactions.groupby("customer_id").size()
    per_product = interactions.groupby("product_id").size()
    assert per_customer.max() > 8 * per_customer.median() and per_product.max() > 20 * per_product.median()
    assert set(interactions["interaction_type"]) == {"view", "cart", "purchase", "rating"}
    purchases = interactions[interactions["interaction_type"] == "purchase"]
    assert purchases.duplicated(["customer_id", "product_id"]).mean() > 0.1
    assert len(customers) == 3_000 and interactions["customer_id"].nunique() < 3_000  # some never interacted
    assert {"category", "brand", "list_price", "is_active", "created_at"} <= set(products.columns)
    assert not products["is_active"].all() and customers["country_code"].notna().all()
    span = interactions["interacted_at"].max() - interactions["interacted_at"].min()
    assert span > pd.Timedelta(days=300) and features["as_of_date"].nunique() == 4


def test_every_stage_is_measured_and_every_customer_gets_ten_products(tmp_path):
    measurements = bench(1_000, 200, n_estimators=10, folder=tmp_path, echo=False)
    assert [m.stage for m in measurements] == list(STAGES)
    assert all(m.seconds > 0 and m.peak_mib > 0 for m in measurements)
    lists = pd.read_parquet(tmp_path / "next_best_products.parquet")
    assert lists.groupby("customer_id").size().eq(10).all() and lists["customer_id"].nunique() == 1_000
    assert pd.read_parquet(tmp_path / "similar_products.parquet").groupby("product_id").size().le(10).all()
    table = render(measurements, customers=1_000, products=200, seed=0, n_jobs=1)
    for stage in ("generate", "fit", "refresh", "recommend", "similar_products", "write"):
        assert f"| {stage}" in table
    assert "Scoring path" in table and "10,000 rows" in table
    assert all(m.cpu_seconds > 0 for m in measurements)
    # the forked workers' memory is sampled over the whole process tree
    assert all(m.peak_total_mib > 0 for m in measurements if m.seconds > 2)


def test_a_run_resumes_from_a_stage_with_the_earlier_stages_files_and_measurements(tmp_path):
    """A 1M-customer shop takes many minutes to generate and fit: scoring can be re-measured on the same files."""
    import json

    from benchmarks.bench_recommender_scale import Measurement

    first = bench(800, 150, n_estimators=5, folder=tmp_path, echo=False)
    recorded = [Measurement(**m) for m in json.loads((tmp_path / "measurements.json").read_text())]
    assert recorded == first
    earlier = [m for m in recorded if m.stage in ("generate", "fit")]
    (tmp_path / "next_best_products.parquet").unlink()
    resumed = bench(800, 150, n_estimators=5, folder=tmp_path, echo=False, resume_from="refresh", previous=earlier,
                    n_jobs=2)
    assert [m.stage for m in resumed] == list(STAGES) and resumed[:2] == earlier
    lists = pd.read_parquet(tmp_path / "next_best_products.parquet")
    assert lists.groupby("customer_id").size().eq(10).all() and lists["customer_id"].nunique() == 800


def test_the_ranker_trains_on_a_fixed_sample_of_customers_only_when_there_are_more():
    ids = pd.Series([f"C{n:04d}" for n in range(1_000)])
    sample = fit_sample(ids, 100, seed=0)
    assert len(sample) == 100 and sample <= set(ids) and sample == fit_sample(ids, 100, seed=0)
    assert fit_sample(ids, 1_000, seed=0) is None and fit_sample(ids, 5_000, seed=0) is None
