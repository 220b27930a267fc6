"""Champion / challenger: measure the current champion on the challenger's own time-based holdout, then let
ml.monitoring.promotion_decision say whether the challenger replaces it.

Each model is judged by one primary metric: ROC-AUC for the classifiers, RMSE for lifetime value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.clv import rmse
from ml.datasets import prepare_features
from ml.metrics import roc_auc
from ml.monitoring import promotion_decision
from ml.registry import ModelRecord
from ml.training import MODEL_LABEL, TrainedClassifier, TrainedLifetimeValue

__all__ = ["PRIMARY_METRICS", "Verdict", "judge_classifier", "judge_lifetime_value"]

#: model name -> (primary metric, higher is better)
PRIMARY_METRICS = {"churn_model": ("roc_auc", True), "propensity_model": ("roc_auc", True), "clv_model": ("rmse", False)}


@dataclass(frozen=True)
class Verdict:
    """Whether the challenger replaces the champion, why, and the primary metric of both on the same holdout
    (champion_metric None when there is no champion or it could not be measured fairly)."""

    promote: bool
    reason: str
    champion_metric: float | None
    challenger_metric: float


def judge_classifier(challenger: TrainedClassifier, frame: pd.DataFrame, champion: ModelRecord | None,
                     champion_model, *, tolerance: float) -> Verdict:
    """Promote unless the challenger's holdout ROC-AUC is below the champion's on the same rows by more than
    `tolerance`, or its scores fail the sanity checks."""
    challenger_metric = float(challenger.evaluation.table.loc[MODEL_LABEL, "roc_auc"])
    scores = challenger.evaluation.test_scores[MODEL_LABEL]
    champion_metric, note = None, "no champion yet"
    if champion is not None:
        holdout = frame.iloc[challenger.split.test_index]
        missing = [name for name in champion.feature_list if name not in frame.columns]
        holdout_date = challenger.split.test_as_of_date
        seen = [d for d in champion.train_as_of_dates
                if pd.Timestamp(d) + pd.Timedelta(days=champion.horizon_days) > holdout_date]
        if seen:
            # its training labels reach into the holdout period: measuring it there would flatter it
            note = (f"champion {champion.model_version} trained on labels that reach past the holdout date "
                    f"{holdout_date.date()} (as-of dates from {seen[0]}): not measured on it")
        elif missing:
            note = f"champion {champion.model_version} needs features the training set no longer has: {missing}"
        else:
            y = holdout[challenger.target_column].astype(float).astype(int).to_numpy()
            champion_scores = champion_model.predict_proba(prepare_features(holdout, champion.feature_list))[:, 1]
            champion_metric = roc_auc(y, champion_scores)
            note = f"champion {champion.model_version} measured on the same holdout ({challenger.split.test_as_of_date.date()})"
    promote, reason = promotion_decision(champion_metric, challenger_metric, higher_is_better=True, tolerance=tolerance,
                                         challenger_scores=scores)
    return Verdict(promote, f"{reason}; {note}", champion_metric, challenger_metric)


def judge_lifetime_value(challenger: TrainedLifetimeValue, champion: ModelRecord | None, champion_model, *,
                         relative_tolerance: float) -> Verdict:
    """Promote unless the challenger's holdout RMSE exceeds the champion's on the same holdout by more than
    `relative_tolerance` x the champion's RMSE.

    A champion fit on purchases after the holdout date has seen the holdout window; measuring it there would
    flatter it, so it is then not measured and a sane challenger is promoted (the reason says so).
    """
    model_name = TrainedLifetimeValue.MODEL
    challenger_metric = float(challenger.holdout.loc[model_name, "rmse"])
    scores = challenger.predictions[model_name]
    champion_metric, note = None, "no champion yet"
    if champion is not None:
        fit_end = pd.Timestamp(champion.params.get("fit_end", "2262-01-01"))
        holdout_date = challenger.split.test_as_of_date
        if fit_end > holdout_date:
            note = (f"champion {champion.model_version} was fit on purchases up to {fit_end.date()}, after the holdout "
                    f"date {holdout_date.date()}: not measured on it")
        else:
            forecast = champion_model.predict(challenger.holdout_summary, challenger.horizon_days)["expected_revenue"]
            predicted = forecast.reindex(challenger.holdout_customers, fill_value=0.0).to_numpy(dtype=float)
            champion_metric = rmse(challenger.actual, predicted)
            note = f"champion {champion.model_version} measured on the same holdout ({holdout_date.date()})"
    tolerance = relative_tolerance * champion_metric if champion_metric is not None else 0.0
    promote, reason = promotion_decision(champion_metric, challenger_metric, higher_is_better=False,
                                         tolerance=float(np.nan_to_num(tolerance)), challenger_scores=scores,
                                         probabilities=False)
    return Verdict(promote, f"{reason}; {note}", champion_metric, challenger_metric)
