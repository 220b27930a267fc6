"""A training run of the next-best-product recommender: fit the two-stage model at the holdout cutoff (the
start of the last fully observed window), measure it and the strongest baselines on that window, and judge
it against the champion measured on the same window. The measured model is the one that scores; daily
scoring refreshes its candidate sources on newer interactions (TwoStageRecommender.refresh).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.explain import IMPORTANCE_ROWS, global_importance, importance_sample
from ml.monitoring import promotion_decision
from ml.promotion import Verdict
from ml.recommend.baselines import GPTopFrequency, PopularityRecommender
from ml.recommend.data import RecommendationData, default_cutoff, load_recommendation_data
from ml.recommend.evaluation import METRIC_COLUMNS, evaluate_recommenders, ranking_metrics
from ml.recommend.two_stage import TwoStageRecommender, candidate_features
from ml.registry import MetricRow, ModelRecord

__all__ = ["MODEL_LABEL", "TrainedRecommender", "train_recommender", "judge_recommender", "ranker_importance"]

MODEL_LABEL = "two-stage (candidates + LightGBM LambdaRank)"
K = 10
#: holdout customers whose candidates the ranker's TreeSHAP importance is averaged over (at most
#: ml.explain.IMPORTANCE_ROWS of those candidates)
IMPORTANCE_CUSTOMERS = 2_000


@dataclass
class TrainedRecommender:
    model: TwoStageRecommender
    data: RecommendationData
    table: pd.DataFrame
    recommendations: pd.DataFrame
    seconds: float
    #: mean |SHAP| of the ranker per feature over the holdout customers' candidates (None without a ranker)
    importance: pd.Series | None = None

    @property
    def cutoff(self) -> pd.Timestamp:
        return self.data.cutoff

    def metric_rows(self) -> list[MetricRow]:
        baselines = [name for name in self.table.index if name != MODEL_LABEL]
        rows = []
        for metric in METRIC_COLUMNS:
            value = float(self.table.loc[MODEL_LABEL, metric])
            rows += [MetricRow("holdout", f"{metric}_at_{K}" if metric not in ("coverage",) else metric, value, name,
                               float(self.table.loc[name, metric])) for name in baselines]
        rows.append(MetricRow("holdout", "customers", float(self.table.loc[MODEL_LABEL, "customers"])))
        return rows


def _catalogue_size(data: RecommendationData) -> int:
    return int(data.products["is_active"].fillna(True).astype(bool).sum())


def train_recommender(warehouse: str | Path, *, horizon_days: int = 14, random_state: int = 0,
                      event_weights: dict[str, float] | None = None) -> TrainedRecommender:
    """Fit at the latest cutoff whose `horizon_days` window is observed, and evaluate it there against
    GP-TopFreq (each customer's own most-bought items, filled with popularity) and global popularity."""
    started = time.perf_counter()
    cutoff = default_cutoff(warehouse, horizon_days=horizon_days)
    model = TwoStageRecommender(horizon_days=horizon_days, random_state=random_state, event_weights=event_weights)
    data = load_recommendation_data(warehouse, cutoff, horizon_days=horizon_days, event_weights=event_weights,
                                    snapshot_lookback_days=model.training_windows * horizon_days)
    result = evaluate_recommenders({MODEL_LABEL: model, "baseline: GP-TopFreq": GPTopFrequency(),
                                    "baseline: global popularity": PopularityRecommender()}, data, k=K)
    importance = ranker_importance(model, data.future_purchases["customer_id"].astype(str).unique(),
                                   random_state=random_state)
    return TrainedRecommender(model=model, data=data, table=result.table, recommendations=result.recommendations[MODEL_LABEL],
                              seconds=time.perf_counter() - started, importance=importance)


def ranker_importance(model: TwoStageRecommender, customer_ids, *, max_customers: int = IMPORTANCE_CUSTOMERS,
                      max_rows: int = IMPORTANCE_ROWS, random_state: int = 0) -> pd.Series | None:
    """Mean |SHAP| per ranker feature (LightGBM's TreeSHAP, `pred_contrib`) over the candidates of up to
    `max_customers` of `customer_ids` with history (a seeded sample of `max_rows` of those candidates when
    there are more), largest first; in the ranker's relevance units. None when the model ranks by source ranks
    (no ranker was trained) or no customer has candidates."""
    if getattr(model, "ranker_", None) is None:
        return None
    known = sorted(str(c) for c in customer_ids if str(c) in model.generator_.customer_index_)
    if not known:
        return None
    if len(known) > max_customers:
        known = sorted(np.random.default_rng(random_state).choice(known, size=max_customers, replace=False).tolist())
    candidates = model.generator_.generate(known)
    if candidates.empty:
        return None
    features = candidate_features(candidates, model.interactions_, products=model.products_,
                                  customer_features=model.customer_features_, as_of=model.as_of_)
    features = importance_sample(features, max_rows=max_rows, random_state=random_state)
    contributions = model.ranker_.predict(features[model.feature_columns_].astype(float), pred_contrib=True)
    return global_importance(pd.DataFrame(contributions, columns=[*model.feature_columns_, "expected_value"]))


def judge_recommender(trained: TrainedRecommender, champion: ModelRecord | None, champion_model: TwoStageRecommender | None,
                      *, tolerance: float) -> Verdict:
    """Promote unless NDCG@10 on the holdout window is below the champion's on the same window (its candidate
    sources refreshed to the cutoff) by more than `tolerance`."""
    challenger_metric = float(trained.table.loc[MODEL_LABEL, "ndcg"])
    scores = trained.recommendations["score"]
    champion_metric, note = None, "no champion yet"
    if champion is not None:
        trained_as_of = getattr(champion_model, "trained_as_of_", None)
        if trained_as_of is None or trained_as_of > trained.cutoff:
            note = f"champion {champion.model_version} was trained after the holdout cutoff {trained.cutoff.date()}: not measured on it"
        else:
            data = trained.data
            champion_model.refresh(data.interactions, products=data.products, customers=data.customers,
                                   customer_features=data.customer_features, as_of=data.cutoff)
            customers = data.future_purchases["customer_id"].astype(str).unique()
            past = data.interactions.loc[data.interactions["interaction_type"] == "purchase", ["customer_id", "product_id"]] \
                if "interaction_type" in data.interactions.columns else data.interactions[["customer_id", "product_id"]]
            metrics = ranking_metrics(champion_model.recommend(customers, K), data.future_purchases, past,
                                      catalogue_size=_catalogue_size(data), k=K)
            champion_metric = float(metrics["ndcg"])
            note = f"champion {champion.model_version} measured on the same window from {trained.cutoff.date()}"
    promote, reason = promotion_decision(champion_metric, challenger_metric, higher_is_better=True, tolerance=tolerance,
                                         challenger_scores=scores, probabilities=False)
    return Verdict(promote, f"{reason}; {note}", champion_metric, challenger_metric)
