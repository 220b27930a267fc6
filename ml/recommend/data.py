"""Read what the recommenders need from the warehouse, split at a cutoff so nothing after it reaches training.

Interactions come from `intermediate.int_customer_product_interactions_unioned` (one row per view, cart,
purchase or rating). Their weight is recomputed here from `event_weights` (a rating counts rating x weight,
as in dbt), so a caller can change the weights without rebuilding the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import duckdb
import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "INTERACTION_TYPES",
    "RecommendationData",
    "load_recommendation_data",
    "split_at_cutoff",
    "with_weights",
    "default_cutoff",
    "inactive_products",
    "recently_bought",
]

INTERACTION_TYPES = ("view", "cart", "purchase", "rating")
#: The defaults of the dbt var `event_weights` (dbt_project.yml).
DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType({"view": 1.0, "cart": 3.0, "purchase": 5.0, "rating": 1.0})
INTERACTION_COLUMNS = ("customer_id", "product_id", "interaction_type", "interacted_at", "quantity", "rating")


@dataclass(frozen=True)
class RecommendationData:
    """Everything one evaluation (or scoring) run reads, cut at `cutoff`.

    Attributes
    ----------
    interactions : DataFrame
        Interactions strictly before `cutoff`, with a `weight` column.
    future_purchases : DataFrame
        Purchases in [cutoff, cutoff + horizon_days): the evaluation truth. Never given to a recommender.
    products : DataFrame
        marts.dim_products without placeholders (product_id, category, brand, list_price, is_active, ...).
    customers : DataFrame
        marts.dim_customers without PII (customer_id, country_code, age_band, signed_up_at, ...).
    customer_features : DataFrame
        marts.customer_features_snapshot rows with as_of_date <= cutoff (each built from days before its date).
    cutoff : Timestamp
    horizon_days : int
    """

    interactions: pd.DataFrame
    future_purchases: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame
    customer_features: pd.DataFrame
    cutoff: pd.Timestamp
    horizon_days: int


def _checked_weights(event_weights: Mapping[str, float] | None) -> dict[str, float]:
    if event_weights is None:
        return dict(DEFAULT_EVENT_WEIGHTS)
    unknown = set(event_weights) - set(INTERACTION_TYPES)
    if unknown:
        raise ValueError(f"event_weights keys must be among {INTERACTION_TYPES}, got unknown {sorted(unknown)}")
    weights = {**DEFAULT_EVENT_WEIGHTS, **event_weights}
    bad = {key: value for key, value in weights.items() if not np.isfinite(float(value)) or float(value) < 0}
    if bad:
        raise ValueError(f"event_weights must be finite numbers >= 0, got {bad}")
    return {key: float(value) for key, value in weights.items()}


def with_weights(interactions: pd.DataFrame, event_weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """A copy of `interactions` with `weight` = event_weights[interaction_type] (x rating for ratings).

    Missing keys take DEFAULT_EVENT_WEIGHTS; unknown interaction types weigh 0.
    """
    weights = _checked_weights(event_weights)
    missing = [column for column in ("interaction_type",) if column not in interactions.columns]
    if missing:
        raise ValueError(f"interactions must have columns {missing}")
    # one vectorised comparison per type: Series.map on Arrow-backed text calls Python once per row
    kinds = interactions["interaction_type"]
    weight = np.zeros(len(interactions))
    for kind, value in weights.items():
        weight[(kinds == kind).to_numpy(dtype=bool, na_value=False)] = value
    if "rating" in interactions.columns:
        is_rating = (kinds == "rating").to_numpy(dtype=bool, na_value=False)
        weight[is_rating] *= interactions["rating"].astype(float).fillna(0.0).to_numpy()[is_rating]
    return interactions.assign(weight=weight)


def inactive_products(products: pd.DataFrame | None) -> set[str]:
    """Product ids marked is_active = false (a missing flag counts as active)."""
    if products is None or "is_active" not in products.columns:
        return set()
    flags = products["is_active"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    return set(products.loc[~flags, "product_id"].astype(str))


def recently_bought(interactions: pd.DataFrame, *, as_of, within_days: float,
                    products: Iterable[str] | None = None) -> pd.DataFrame:
    """(customer_id, product_id) pairs purchased in the `within_days` before `as_of`: pass them as `exclude` to
    keep non-repeatable products (a sofa, a book) out of the lists of those who just bought them.

    Parameters
    ----------
    products : iterable of str, optional
        Restrict to these (non-repeatable) products; None means every product.
    """
    if isinstance(within_days, bool) or not isinstance(within_days, (int, float)) or not within_days > 0:
        raise ValueError(f"within_days must be a number > 0, got {within_days!r}")
    as_of = _as_timestamp(as_of, "as_of")
    at = interactions["interacted_at"]
    recent = interactions[(interactions["interaction_type"] == "purchase") & (at < as_of)
                          & (at >= as_of - pd.Timedelta(days=within_days))]
    if products is not None:
        recent = recent[recent["product_id"].astype(str).isin({str(p) for p in products})]
    pairs = recent[["customer_id", "product_id"]].astype(str).drop_duplicates()
    return pairs.sort_values(["customer_id", "product_id"]).reset_index(drop=True)


def _as_timestamp(value, name: str) -> pd.Timestamp:
    try:
        timestamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a date or timestamp, got {value!r}") from error
    if pd.isna(timestamp):
        raise ValueError(f"{name} must be a date or timestamp, got {value!r}")
    return timestamp.tz_localize(None) if timestamp.tzinfo is not None else timestamp


def _check_horizon(horizon_days: int) -> None:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, (int, np.integer)) or horizon_days < 1:
        raise ValueError(f"horizon_days must be an int >= 1, got {horizon_days!r}")


def split_at_cutoff(interactions: pd.DataFrame, cutoff, horizon_days: int = 14) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(interactions strictly before cutoff, purchases in [cutoff, cutoff + horizon_days)).

    The in-memory twin of what `load_recommendation_data` asks DuckDB for.
    """
    _check_horizon(horizon_days)
    cutoff = _as_timestamp(cutoff, "cutoff")
    at = interactions["interacted_at"]
    train = interactions[at < cutoff].reset_index(drop=True)
    window = (at >= cutoff) & (at < cutoff + pd.Timedelta(days=horizon_days)) & (interactions["interaction_type"] == "purchase")
    return train, interactions[window].reset_index(drop=True)


def default_cutoff(warehouse: Path | str, horizon_days: int = 14) -> pd.Timestamp:
    """The latest cutoff whose whole evaluation window lies inside the data: the day after the last
    interaction, minus horizon_days."""
    _check_horizon(horizon_days)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        latest = connection.execute(
            "select max(interacted_at) from intermediate.int_customer_product_interactions_unioned"
        ).fetchone()[0]
    if latest is None:
        raise ValueError(f"warehouse {warehouse} holds no interactions")
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=horizon_days)


def load_recommendation_data(
    warehouse: Path | str,
    cutoff,
    *,
    horizon_days: int = 14,
    event_weights: Mapping[str, float] | None = None,
    snapshot_lookback_days: int | None = None,
) -> RecommendationData:
    """Read interactions before `cutoff`, purchases of the following `horizon_days`, products, customers and
    the customer feature snapshots dated on or before `cutoff`, through one read-only connection.

    Parameters
    ----------
    warehouse : path
        A DuckDB warehouse built by dbt (marts and intermediate schemas).
    cutoff : date or timestamp
        Training sees only interactions with interacted_at < cutoff (naive UTC timestamps).
    horizon_days : int, default=14
        Length of the evaluation window.
    event_weights : mapping, optional
        Weight per interaction type; defaults to DEFAULT_EVENT_WEIGHTS.
    snapshot_lookback_days : int, optional
        Keep only the snapshots the recommender can read: those from the latest snapshot date on or before
        `cutoff - snapshot_lookback_days` up to the cutoff (it reads each customer's latest snapshot as of each
        training cutoff, the earliest being training_windows x horizon_days before). A snapshot holds every
        customer active before its date, so nothing it reads is lost; a 1M-customer shop with two years of
        monthly snapshots no longer loads 24M rows. None (default) keeps every snapshot.
    """
    _check_horizon(horizon_days)
    if snapshot_lookback_days is not None and (isinstance(snapshot_lookback_days, bool) or snapshot_lookback_days < 0):
        raise ValueError(f"snapshot_lookback_days must be None or >= 0, got {snapshot_lookback_days!r}")
    cutoff = _as_timestamp(cutoff, "cutoff")
    window_end = cutoff + pd.Timedelta(days=horizon_days)
    columns = ", ".join(INTERACTION_COLUMNS)
    source = "intermediate.int_customer_product_interactions_unioned"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        interactions = connection.execute(
            f"select {columns} from {source} where interacted_at < ? order by interacted_at, customer_id, product_id",
            [cutoff],
        ).df()
        future = connection.execute(
            f"select {columns} from {source} where interaction_type = 'purchase' and interacted_at >= ? "
            "and interacted_at < ? order by interacted_at, customer_id, product_id",
            [cutoff, window_end],
        ).df()
        products = connection.execute(
            "select product_id, product_name, category, subcategory, brand, list_price, category_median_list_price, "
            "is_active, created_at from marts.dim_products where not is_placeholder order by product_id"
        ).df()
        customers = connection.execute(
            "select customer_id, country_code, age_band, is_marketing_opt_in, signed_up_at from marts.dim_customers "
            "order by customer_id"
        ).df()
        earliest = pd.Timestamp.min.date()
        if snapshot_lookback_days is not None:
            floor = connection.execute(
                "select max(as_of_date) from marts.customer_features_snapshot where as_of_date <= ?",
                [(cutoff - pd.Timedelta(days=snapshot_lookback_days)).date()],
            ).fetchall()[0][0]
            earliest = floor if floor is not None else earliest
        customer_features = connection.execute(
            "select * from marts.customer_features_snapshot where as_of_date <= ? and as_of_date >= ? "
            "order by as_of_date, customer_id",
            [cutoff.date(), earliest],
        ).df()
    return RecommendationData(
        interactions=with_weights(interactions, event_weights),
        future_purchases=with_weights(future, event_weights),
        products=products,
        customers=customers,
        customer_features=customer_features,
        cutoff=cutoff,
        horizon_days=int(horizon_days),
    )
