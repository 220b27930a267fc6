"""Scoring the current customers with a champion: rows shaped exactly like the prediction tables
(ml.prediction_tables.PREDICTION_TABLES), ready for the atomic swap.

Who is scored, per table:
- churn_scores: customers who bought in the 365 days before the scoring date, the population churn is
  defined on and the model was trained on.
- purchase_propensity: every known customer (not a placeholder created for an unknown id).
- customer_lifetime_value: every known customer with at least one purchase before the scoring date;
  BG/NBD says nothing about someone who never bought.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd

from ml.clv import CustomerLifetimeValue
from ml.datasets import prepare_features
from ml.explain import shap_contributions, top_drivers
from ml.training import purchase_summary

__all__ = ["churn_population", "score_churn", "score_propensity", "score_lifetime_value", "risk_bands", "driver_json"]

RISK_BANDS = ("low", "medium", "high")


def _known(features: pd.DataFrame) -> pd.DataFrame:
    required = ("customer_id", "is_placeholder")
    missing = [name for name in required if name not in features.columns]
    if missing:
        raise ValueError(f"features must be marts.customer_features_current rows; missing columns {missing}")
    return features[~features["is_placeholder"].astype(bool)]


def churn_population(features: pd.DataFrame) -> pd.DataFrame:
    """Known customers with a purchase in the prior 365 days."""
    known = _known(features)
    return known[known["purchase_orders_365d"].fillna(0) > 0]


def risk_bands(probability: np.ndarray, *, threshold: float, base_rate: float) -> np.ndarray:
    """"high" at or above the model's operating threshold (it predicts churn), "medium" at or above the
    training churn rate (riskier than the average customer), "low" below both."""
    if not 0.0 <= base_rate <= 1.0 or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold and base_rate must be in [0, 1], got {threshold} and {base_rate}")
    probability = np.asarray(probability, dtype=float)
    medium_from = min(base_rate, threshold)
    return np.where(probability >= threshold, "high", np.where(probability >= medium_from, "medium", "low"))


def _feature_name(preprocessed: str) -> str:
    # "numeric__days_since_last_purchase" -> "days_since_last_purchase"; indicators and one-hot keep their detail
    return preprocessed.split("__", 1)[-1]


def driver_json(drivers: pd.DataFrame, raw: pd.DataFrame, *, n: int) -> list[str]:
    """One JSON list per row: [{"feature", "value", "shap", "effect"}], strongest first. `value` is the
    customer's raw feature value where the driver is a raw column, else null."""
    documents = []
    for index, row in drivers.iterrows():
        items = []
        for rank in range(1, n + 1):
            name = _feature_name(row[f"driver_{rank}"])
            shap = float(row[f"driver_{rank}_shap"])
            value = raw.at[index, name] if name in raw.columns else None
            if value is not None and (pd.isna(value) or isinstance(value, (np.floating, float))):
                value = None if pd.isna(value) else round(float(value), 4)
            elif isinstance(value, np.integer):
                value = int(value)
            items.append({"feature": name, "value": value if value is None or isinstance(value, (int, float)) else str(value),
                          "shap": round(shap, 4), "effect": "raises risk" if shap > 0 else "lowers risk"})
        documents.append(json.dumps(items))
    return documents


def score_churn(model, features: pd.DataFrame, *, feature_list: list[str], model_version: str, scored_at: datetime,
                threshold: float, base_rate: float, n_drivers: int = 3) -> pd.DataFrame:
    """Rows of predictions.churn_scores for the churn population of `features` (customer_features_current)."""
    population = churn_population(features)
    X = prepare_features(population, feature_list)
    probability = model.predict_proba(X)[:, 1] if len(X) else np.empty(0)
    drivers = top_drivers(shap_contributions(model, X), n=n_drivers) if len(X) else pd.DataFrame()
    return pd.DataFrame({
        "customer_id": population["customer_id"].astype(str).to_numpy(),
        "scored_at": scored_at,
        "model_version": model_version,
        "churn_probability": probability,
        "risk_band": risk_bands(probability, threshold=threshold, base_rate=base_rate),
        "top_drivers": driver_json(drivers, population, n=min(n_drivers, len(feature_list))) if len(X) else [],
    })


def score_propensity(model, features: pd.DataFrame, *, feature_list: list[str], horizon_days: int, model_version: str,
                     scored_at: datetime) -> pd.DataFrame:
    """Rows of predictions.purchase_propensity for every known customer of `features`."""
    population = _known(features)
    X = prepare_features(population, feature_list)
    probability = model.predict_proba(X)[:, 1] if len(X) else np.empty(0)
    return pd.DataFrame({
        "customer_id": population["customer_id"].astype(str).to_numpy(),
        "horizon_days": horizon_days,
        "probability": probability,
        "scored_at": scored_at,
        "model_version": model_version,
    })


def score_lifetime_value(model: CustomerLifetimeValue, orders: pd.DataFrame, features: pd.DataFrame, *, scoring_date,
                         horizon_days: int, model_version: str, scored_at: datetime) -> pd.DataFrame:
    """Rows of predictions.customer_lifetime_value: every known customer of `features` with a purchase in
    `orders` (marts.fct_orders) before `scoring_date`."""
    ordered_at = pd.to_datetime(orders["ordered_at"])
    end = pd.Timestamp(scoring_date)
    if ordered_at.dt.tz is not None and end.tz is None:
        end = end.tz_localize(ordered_at.dt.tz)
    summary = purchase_summary(orders.assign(ordered_at=ordered_at), end)
    known = pd.Index(_known(features)["customer_id"].astype(str))
    summary.index = summary.index.astype(str)
    summary = summary[summary.index.isin(known)]
    predicted = model.predict(summary, horizon_days)
    return pd.DataFrame({
        "customer_id": summary.index.to_numpy(),
        "horizon_days": horizon_days,
        "expected_purchases": predicted["expected_purchases"].to_numpy(),
        "expected_revenue": predicted["expected_revenue"].to_numpy(),
        "p_alive": predicted["p_alive"].to_numpy(),
        "scored_at": scored_at,
        "model_version": model_version,
    })
