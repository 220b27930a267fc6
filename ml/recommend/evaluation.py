"""Time-based evaluation of recommenders: fit on interactions before a cutoff, score the purchases of the
following H days, every recommender on the same split in the same run.

The customers evaluated are those with at least one purchase in the window (whether or not they have history:
a recommender that cannot serve a newcomer is charged for it). Relevant items are the distinct products each
bought in the window; repeat items are those the customer had bought before the cutoff.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.recommend.data import RecommendationData, inactive_products
from ml.recommend.metrics import (
    catalogue_coverage,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    ndcg_by_customer,
    recall_at_k,
    recall_by_novelty,
)

__all__ = ["EvaluationResult", "ranking_metrics", "evaluate_recommenders", "paired_ndcg_difference", "METRIC_COLUMNS"]

METRIC_COLUMNS = ("recall", "ndcg", "map", "hit_rate", "coverage", "recall_repeat", "recall_new")


@dataclass(frozen=True)
class EvaluationResult:
    """`table`: one row per recommender (metrics at k, customers, fit and recommend seconds);
    `recommendations`: each recommender's top-k lists for the evaluated customers."""

    table: pd.DataFrame
    recommendations: dict[str, pd.DataFrame]
    customers: int
    customers_without_history: int


def _lists(recommendations: pd.DataFrame, customer_ids: list[str]) -> list[list[str]]:
    ordered = recommendations.sort_values(["customer_id", "rank"])
    grouped = ordered.groupby("customer_id", sort=False)["product_id"].apply(list)
    grouped.index = grouped.index.astype(str)
    return [grouped.get(customer, []) for customer in customer_ids]


def ranking_metrics(
    recommendations: pd.DataFrame,
    future_purchases: pd.DataFrame,
    past_purchases: pd.DataFrame,
    *,
    catalogue_size: int,
    k: int = 10,
) -> dict[str, float]:
    """Every metric of the protocol for one recommender's lists.

    Parameters
    ----------
    recommendations : DataFrame
        customer_id, rank, product_id (as `recommend` returns them).
    future_purchases : DataFrame
        customer_id, product_id of the evaluation window; its customers are the ones evaluated.
    past_purchases : DataFrame
        customer_id, product_id bought before the cutoff (splits recall into repeat and new items).
    catalogue_size : int
        Number of recommendable products, the denominator of coverage.
    k : int, default=10
    """
    if future_purchases.empty:
        raise ValueError("future_purchases must hold at least one purchase to evaluate against")
    truth = future_purchases.assign(customer_id=future_purchases["customer_id"].astype(str)).groupby("customer_id")["product_id"].apply(set)
    customer_ids = list(truth.index)
    relevant = list(truth)
    bought = past_purchases.assign(customer_id=past_purchases["customer_id"].astype(str)).groupby("customer_id")["product_id"].apply(set)
    previously = [bought.get(customer, set()) for customer in customer_ids]
    lists = _lists(recommendations, customer_ids)
    novelty = recall_by_novelty(lists, relevant, previously, k)
    return {
        "recall": recall_at_k(lists, relevant, k),
        "ndcg": ndcg_at_k(lists, relevant, k),
        "map": map_at_k(lists, relevant, k),
        "hit_rate": hit_rate_at_k(lists, relevant, k),
        "coverage": catalogue_coverage(lists, catalogue_size, k),
        "recall_repeat": novelty["repeat"],
        "recall_new": novelty["new"],
    }


def evaluate_recommenders(recommenders: Mapping[str, object], data: RecommendationData, *, k: int = 10) -> EvaluationResult:
    """Fit each recommender on `data.interactions` (as of `data.cutoff`) and score its top-k lists against
    `data.future_purchases`.

    Parameters
    ----------
    recommenders : mapping of name to unfitted recommender
        Objects with `fit(interactions, products=, customers=, customer_features=, as_of=)` and
        `recommend(customer_ids, k)`.
    data : RecommendationData
        From `load_recommendation_data`; the recommenders never see `future_purchases`.
    k : int, default=10
    """
    if not recommenders:
        raise ValueError("recommenders must hold at least one recommender")
    if data.future_purchases.empty:
        raise ValueError(f"no purchase in the {data.horizon_days} days from the cutoff {data.cutoff}: nothing to evaluate")
    if (data.interactions["interacted_at"] >= data.cutoff).any():
        raise ValueError(f"data.interactions must all be before the cutoff {data.cutoff}")
    customer_ids = sorted(data.future_purchases["customer_id"].astype(str).unique())
    past = data.interactions[data.interactions["interaction_type"] == "purchase"][["customer_id", "product_id"]]
    known = set(data.interactions["customer_id"].astype(str))
    # the recommendable catalogue: every product known from dim_products or interactions, less the inactive
    catalogue = (set(data.products["product_id"].astype(str)) | set(data.interactions["product_id"].astype(str))) \
        - inactive_products(data.products)
    rows, recommendations = [], {}
    for name, recommender in recommenders.items():
        started = time.perf_counter()
        recommender.fit(data.interactions, products=data.products, customers=data.customers,
                        customer_features=data.customer_features, as_of=data.cutoff)
        fitted = time.perf_counter()
        lists = recommender.recommend(customer_ids, k)
        recommended = time.perf_counter()
        recommendations[name] = lists
        metrics = ranking_metrics(lists, data.future_purchases, past, catalogue_size=max(len(catalogue), 1), k=k)
        rows.append({"recommender": name, **metrics, "customers": len(customer_ids),
                     "fit_seconds": fitted - started, "recommend_seconds": recommended - fitted})
    table = pd.DataFrame(rows).set_index("recommender")
    return EvaluationResult(
        table=table,
        recommendations=recommendations,
        customers=len(customer_ids),
        customers_without_history=int(np.sum([customer not in known for customer in customer_ids])),
    )


def paired_ndcg_difference(
    recommendations: pd.DataFrame,
    reference: pd.DataFrame,
    future_purchases: pd.DataFrame,
    *,
    k: int = 10,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, float]:
    """Mean per-customer NDCG@k of `recommendations` minus that of `reference`, with a paired bootstrap
    confidence interval over the evaluated customers (both lists scored on the same customers).

    Returns ``{"difference": ..., "low": ..., "high": ...}``.
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an int >= 1, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if future_purchases.empty:
        raise ValueError("future_purchases must hold at least one purchase to evaluate against")
    truth = future_purchases.assign(customer_id=future_purchases["customer_id"].astype(str)).groupby("customer_id")["product_id"].apply(set)
    customer_ids, relevant = list(truth.index), list(truth)
    differences = (ndcg_by_customer(_lists(recommendations, customer_ids), relevant, k)
                   - ndcg_by_customer(_lists(reference, customer_ids), relevant, k))
    rng = np.random.default_rng(random_state)
    means = differences[rng.integers(0, len(differences), size=(n_resamples, len(differences)))].mean(axis=1)
    tail = (1 - confidence) / 2
    return {"difference": float(differences.mean()), "low": float(np.quantile(means, tail)),
            "high": float(np.quantile(means, 1 - tail))}
