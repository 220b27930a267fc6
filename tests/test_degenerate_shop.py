"""A degenerate shop still completes the daily job: one product, no browsing, marketing or reviews, most
customers with a single order. Models that cannot learn say why and publish nothing; the recommender's
lists are trivial (the one product) and the run log says why."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from anticipate.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("degenerate_shop")]
FAST_TRAINING = {"n_iter": 1, "cv_folds": 2, "n_jobs": 1, "time_budget_seconds": 10}


def write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def degenerate_landing(folder: Path, customers: int = 120) -> None:
    folder.mkdir(parents=True)
    start = datetime(2024, 11, 1, 10, tzinfo=timezone.utc)
    stamp = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    write(folder / "customers.csv",
          ["customer_id", "email", "first_name", "last_name", "phone", "country", "city", "postal_code", "signup_at",
           "birth_date", "gender", "marketing_opt_in", "updated_at"],
          [[f"C{i:04d}", f"c{i}@example.org", "A", "B", "", "DE", "Berlin", "10115", stamp(start), "", "", "false",
            stamp(start)] for i in range(customers)])
    write(folder / "products.csv",
          ["product_id", "name", "category", "subcategory", "brand", "list_price", "currency", "created_at", "is_active"],
          [["P1", "The only product", "Goods", "Goods", "Acme", "10.00", "EUR", stamp(start), "true"]])
    orders, items = [], []
    for i in range(customers):
        # one order each over two years; every tenth customer orders a second time
        moments = [start + timedelta(days=(i * 6) % 700)]
        if i % 10 == 0:
            moments.append(moments[0] + timedelta(days=40))
        for n, moment in enumerate(moments):
            order_id = f"O{i:04d}{n}"
            orders.append([order_id, f"C{i:04d}", stamp(moment), "delivered", "web", "EUR", "0", "0"])
            items.append([order_id, 1, "P1", 1, "10.00", "0"])
    write(folder / "orders.csv", ["order_id", "customer_id", "ordered_at", "status", "channel", "currency",
                                  "shipping_amount", "discount_amount"], orders)
    write(folder / "order_items.csv", ["order_id", "line_number", "product_id", "quantity", "unit_price",
                                       "discount_amount"], items)


def test_a_one_product_shop_without_browsing_completes_the_daily_job(tmp_path, monkeypatch):
    from anticipate.cli import run_daily_job

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "shop.duckdb"
    degenerate_landing(landing)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("ANTICIPATE_WAREHOUSE", str(warehouse))
    result = run_daily_job(Settings(landing_dir=landing, warehouse=warehouse), model_training=FAST_TRAINING)
    assert result.success
    assert [check.check_name for check in result.get_asset_check_evaluations() if not check.passed] == []
    reasons = {name: result.asset_materializations_for_node(name)[0].metadata for name in ("churn_model", "propensity_model")}
    for name, metadata in reasons.items():
        # too few buyers of each class to learn from: said plainly, nothing published as if it were sound
        if metadata["trained"].value is False:
            assert "need at least" in metadata["reason"].value, name
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        lists = connection.execute(
            "select count(distinct customer_id), max(\"rank\"), count(distinct product_id) from predictions.next_best_products"
        ).fetchone()
        champions = {row[0] for row in connection.execute(
            "select model_name from ml.model_registry where status = 'champion'").fetchall()}
        for name, metadata in reasons.items():
            assert (name in champions) == bool(metadata["trained"].value), name
    assert lists == (120, 1, 1)  # the one product, for every customer
    assert (warehouse.parent / "published" / "shop.duckdb").is_file()
