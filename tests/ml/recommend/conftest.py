"""A small demo warehouse built once per session with the real ingestion and dbt, for the loader tests."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

SELECTION = ("+fct_order_items", "+dim_products", "+dim_customers", "+int_customer_product_interactions_unioned",
             "+customer_features_snapshot")

# implicit warns and slows down when OpenBLAS runs its own threads beside pytest-xdist workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory, build_demo_warehouse) -> Path:
    """200 demo customers over a year ending 2026-10-15, built up to the marts the recommenders read."""
    return build_demo_warehouse(tmp_path_factory.mktemp("recommend_demo"), customers=200, seed=11, years=1.0,
                                end_date=date(2026, 10, 15), select=SELECTION)
