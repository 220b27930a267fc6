"""Next-best-product recommendations (issue 4): data loading cut at a cutoff, ranking metrics, baselines,
the time-based evaluation protocol, cold start, and the two-stage candidates + LightGBM LambdaRank model.

Every recommender has `fit(interactions, *, products=None, customers=None, customer_features=None, as_of=None)`
and `recommend(customer_ids, k=10, *, exclude=None)` returning customer_id, rank, product_id, score (and
reason for the two-stage model). Plain Python: no Dagster here.
"""

from ml.recommend.baselines import (
    CategoryAffinityPopularity,
    GPTopFrequency,
    ImplicitALS,
    ItemKNN,
    PersonalTopFrequency,
    PopularityRecommender,
)
from ml.recommend.cold_start import NewProductRecommender, SegmentPopularity
from ml.recommend.data import (
    DEFAULT_EVENT_WEIGHTS,
    RecommendationData,
    default_cutoff,
    load_recommendation_data,
    recently_bought,
    split_at_cutoff,
    with_weights,
)
from ml.recommend.evaluation import EvaluationResult, evaluate_recommenders, paired_ndcg_difference, ranking_metrics
from ml.recommend.two_stage import CandidateGenerator, TwoStageRecommender, candidate_features, merge_candidates

__all__ = [
    "CategoryAffinityPopularity",
    "GPTopFrequency",
    "ImplicitALS",
    "ItemKNN",
    "PersonalTopFrequency",
    "PopularityRecommender",
    "NewProductRecommender",
    "SegmentPopularity",
    "DEFAULT_EVENT_WEIGHTS",
    "RecommendationData",
    "default_cutoff",
    "load_recommendation_data",
    "recently_bought",
    "split_at_cutoff",
    "with_weights",
    "EvaluationResult",
    "evaluate_recommenders",
    "paired_ndcg_difference",
    "ranking_metrics",
    "CandidateGenerator",
    "TwoStageRecommender",
    "candidate_features",
    "merge_candidates",
]
