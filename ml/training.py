"""Training runs of the customer models: fit on earlier as-of dates, measure against baselines on the latest
labelled one (the time-based holdout); the measured model is the one that scores. Plain Python; the Dagster
assets call these.

Every function raises ml.datasets.InsufficientHistoryError when the history cannot support the horizon,
before anything is fitted, so the caller can keep the previous champion.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.clv import CustomerLifetimeValue, HistoricalAverageCLV, ZeroCLV, clv_metrics, rfm_summary
from ml.datasets import TimeSplit, feature_columns, prepare_features, target_column, time_split
from ml.evaluation import EvaluationResult, evaluate_candidates
from ml.registry import MetricRow

__all__ = [
    "TrainingSettings",
    "TrainedClassifier",
    "TrainedLifetimeValue",
    "MODEL_LABEL",
    "train_churn",
    "train_propensity",
    "train_lifetime_value",
    "purchase_orders",
    "purchase_summary",
]

#: The candidate name of the trained model in evaluation tables; every other candidate is a baseline.
MODEL_LABEL = "LightGBM (tuned, calibrated)"
CLASSIFIER_METRICS = ("roc_auc", "pr_auc", "f1", "brier", "log_loss", "lift_top10")
REVENUE_METRICS = ("aggregate_error", "rmse", "mae", "spearman")


@dataclass(frozen=True)
class TrainingSettings:
    """How hard to search. The defaults fit a 2-core machine: a few minutes per model on ~100k rows.

    Parameters
    ----------
    n_iter : int
        Hyper-parameter settings tried by the randomized search.
    cv_folds : int
        Folds grouped by customer inside the training window.
    time_budget_seconds : float
        The search stops sampling new settings after this long.
    n_jobs : int
        Fits side by side on threads, each LightGBM fit on one (see ml.models.tuned.TunedCalibratedClassifier).
    random_state : int
    min_train_dates : int
        Labelled as-of dates the training window needs, besides the holdout date.
    max_train_dates : int or None
        Train on at most the latest this many as-of dates (None: every one that closes its label window).
    min_class_rows : int
        Rows of each class the training and holdout rows need.
    """

    n_iter: int = 6
    cv_folds: int = 3
    time_budget_seconds: float = 120.0
    n_jobs: int = 1
    random_state: int = 0
    min_train_dates: int = 3
    min_class_rows: int = 20
    max_train_dates: int | None = None

    def tuning(self) -> dict:
        return {"n_iter": self.n_iter, "cv_folds": self.cv_folds, "time_budget_seconds": self.time_budget_seconds,
                "n_jobs": self.n_jobs, "random_state": self.random_state}


@dataclass
class TrainedClassifier:
    """A tuned classifier and the holdout evaluation that measured it against its baselines.

    Attributes
    ----------
    model : TunedCalibratedClassifier
        The artifact to score with, fit on the training as-of dates (fit_as_of_dates) and measured on the
        holdout date it never saw.
    evaluation : ml.evaluation.EvaluationResult
        The model and every baseline fit on the training dates and measured on the holdout date.
    importance : pandas.Series
        Mean |SHAP| (log-odds) of the model over the holdout rows, per preprocessed feature.
    """

    target: str
    target_column: str
    horizon_days: int
    model: object
    evaluation: EvaluationResult
    features: list[str]
    fit_as_of_dates: tuple[pd.Timestamp, ...]
    fit_rows: int
    importance: pd.Series
    training_positive_rate: float
    seconds: float

    @property
    def split(self) -> TimeSplit:
        return self.evaluation.split

    def metric_rows(self) -> list[MetricRow]:
        """The holdout metrics of the model, each beside every baseline's value of the same metric."""
        table = self.evaluation.table
        rows = []
        baselines = [name for name in table.index if name != MODEL_LABEL]
        for metric in CLASSIFIER_METRICS:
            value = float(table.loc[MODEL_LABEL, metric])
            rows += [MetricRow("holdout", metric, value, name, float(table.loc[name, metric])) for name in baselines]
        rows += [MetricRow("holdout", name, float(table.loc[MODEL_LABEL, name])) for name in ("samples", "positive_rate", "threshold")]
        best = max(self.model.cv_results_, key=lambda result: result["roc_auc"])
        rows.append(MetricRow("cross_validation", "roc_auc", best["roc_auc"]))
        return rows

    def params(self) -> dict:
        return {"estimator": {name: getattr(value, "item", lambda: value)() for name, value in self.model.best_params_.items()},
                "calibration": self.model.calibration_method_, "threshold": float(self.model.threshold_),
                "training_positive_rate": self.training_positive_rate, "target_column": self.target_column}


def _classifier_candidates(target: str, horizon_days: int, settings: TrainingSettings) -> dict[str, object]:
    from ml.models.baselines import DaysSinceLastPurchaseRanker, RecentFrequencyRate, RFMLogisticRegression
    from ml.models.churn import ChurnClassifier
    from ml.models.propensity import PropensityClassifier

    if target == "churn":
        return {
            MODEL_LABEL: ChurnClassifier(**settings.tuning()),
            "baseline: RFM logistic regression": RFMLogisticRegression(random_state=settings.random_state),
            "baseline: days since last purchase": DaysSinceLastPurchaseRanker(),
        }
    return {
        MODEL_LABEL: PropensityClassifier(**settings.tuning()),
        "baseline: recent frequency rate (90 d)": RecentFrequencyRate(window_days=90, horizon_days=horizon_days),
    }


def _train_classifier(frame: pd.DataFrame, target: str, horizon_days: int, settings: TrainingSettings) -> TrainedClassifier:
    from ml.explain import global_importance, importance_sample, shap_contributions

    started = time.perf_counter()
    column = target_column(target, horizon_days)
    if column not in frame.columns:
        raise ValueError(f"the training set has no column {column!r}; it has {[c for c in frame.columns if c.endswith('d')]}")
    evaluation = evaluate_candidates(
        frame, _classifier_candidates(target, horizon_days, settings), target_column=column, horizon_days=horizon_days,
        min_train_dates=settings.min_train_dates, min_class_rows=settings.min_class_rows,
        max_train_dates=settings.max_train_dates,
    )
    # The artifact is the evaluated model itself, fit on the training dates only: the holdout metrics are
    # then those of exactly what scores, and champion/challenger comparisons (same holdout) stay fair. A
    # refit on the later dates would add one horizon of recency at twice the training time.
    features = feature_columns(frame)
    model = evaluation.fitted[MODEL_LABEL]
    split = evaluation.split
    y_train = frame[column].to_numpy()[split.train_index].astype(float)
    holdout = frame.iloc[split.test_index]
    importance = global_importance(shap_contributions(
        model, prepare_features(importance_sample(holdout, random_state=settings.random_state), features)))
    return TrainedClassifier(
        target=target, target_column=column, horizon_days=horizon_days, model=model, evaluation=evaluation,
        features=features, fit_as_of_dates=split.train_as_of_dates, fit_rows=len(split.train_index),
        importance=importance, training_positive_rate=float(y_train.mean()), seconds=time.perf_counter() - started,
    )


def train_churn(frame: pd.DataFrame, *, horizon_days: int = 90, settings: TrainingSettings = TrainingSettings()) -> TrainedClassifier:
    """Churn over `horizon_days` (customers active in the prior year), against the RFM logistic regression and
    the days-since-last-purchase ranking."""
    return _train_classifier(frame, "churn", horizon_days, settings)


def train_propensity(frame: pd.DataFrame, *, horizon_days: int = 30,
                     settings: TrainingSettings = TrainingSettings()) -> TrainedClassifier:
    """At least one purchase order in `horizon_days`, against the recent-frequency-rate baseline."""
    return _train_classifier(frame, "propensity", horizon_days, settings)


# --------------------------------------------------------------------------------------------------
# Lifetime value


def purchase_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """Purchase occasions for the RFM models: orders flagged `is_purchase` with their net revenue.

    Cancellations and returns carry their refunds in net_revenue already; counting them as purchase
    occasions would inflate frequency.
    """
    required = ("customer_id", "ordered_at", "net_revenue", "is_purchase")
    missing = [name for name in required if name not in orders.columns]
    if missing:
        raise ValueError(f"orders must have columns {list(required)}; missing {missing}")
    return orders.loc[orders["is_purchase"].astype(bool), ["customer_id", "ordered_at", "net_revenue"]]


def purchase_summary(orders: pd.DataFrame, end) -> pd.DataFrame:
    """rfm_summary of the purchase orders strictly before `end` (ml.clv.rfm_summary)."""
    return rfm_summary(purchase_orders(orders), customer_col="customer_id", datetime_col="ordered_at",
                       monetary_col="net_revenue", observation_end=end)


@dataclass
class TrainedLifetimeValue:
    """BG/NBD + Gamma-Gamma fit on every purchase before the scoring date, with the holdout comparison.

    Attributes
    ----------
    model : ml.clv.CustomerLifetimeValue
        The artifact to score with.
    holdout : pandas.DataFrame
        One row per candidate (BG/NBD + Gamma-Gamma, LightGBM regressor, baselines) with aggregate_error,
        rmse, mae, spearman, predicted_total and fit_seconds on the holdout customers' actual revenue.
    actual, predictions
        The holdout's actual revenue and each candidate's prediction, aligned (for reports).
    holdout_model, holdout_forecast
        BG/NBD + Gamma-Gamma as fit on the purchases before the holdout date, and its full forecast
        (expected_purchases, p_alive, expected_average_value, expected_revenue) for the holdout customers who
        had bought before it (no_history_customers had not, and are predicted 0).
    holdout_customers, holdout_summary
        The holdout customers in the order of `actual`, and the rfm_summary rows of those with history: what
        another lifetime-value model needs to be measured on the same holdout.
    importance : pandas.Series
        Mean |SHAP| of the LightGBM regressor on the holdout rows (the RFM model has no features to rank).
    """

    horizon_days: int
    model: CustomerLifetimeValue
    split: TimeSplit
    holdout: pd.DataFrame
    actual: np.ndarray
    predictions: dict[str, np.ndarray]
    holdout_model: CustomerLifetimeValue
    holdout_customers: pd.Index
    holdout_summary: pd.DataFrame
    holdout_forecast: pd.DataFrame
    no_history_customers: int
    fit_end: pd.Timestamp
    fit_customers: int
    importance: pd.Series
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def metric_rows(self) -> list[MetricRow]:
        rows = []
        model, others = self.MODEL, [name for name in self.holdout.index if name != self.MODEL]
        for metric in (*REVENUE_METRICS, "predicted_total"):
            value = float(self.holdout.loc[model, metric])
            rows += [MetricRow("holdout", metric, value, name, float(self.holdout.loc[name, metric])) for name in others]
        rows.append(MetricRow("holdout", "actual_total", float(self.actual.sum())))
        rows.append(MetricRow("holdout", "samples", float(self.actual.size)))
        return rows

    def params(self) -> dict:
        return {**self.model.purchases_model_.params_, **self.model.spend_model_.params_,
                "fit_end": str(self.fit_end.date())}

    MODEL = "BG/NBD + Gamma-Gamma"


def train_lifetime_value(frame: pd.DataFrame, orders: pd.DataFrame, *, scoring_date, horizon_days: int = 90,
                         settings: TrainingSettings = TrainingSettings()) -> TrainedLifetimeValue:
    """Expected revenue over `horizon_days`: BG/NBD + Gamma-Gamma against the LightGBM regressor, the
    historical average and predict-zero, on the latest as-of date whose window is observed.

    The RFM models and baselines summarise every purchase strictly before the holdout date; the LightGBM
    regressor trains on as-of dates whose window closes by then. The scored artifact is then refit on every
    purchase before `scoring_date`.

    Parameters
    ----------
    frame : pandas.DataFrame
        A training set holding `revenue_in_<horizon_days>d` (ml.datasets.load_training_set).
    orders : pandas.DataFrame
        marts.fct_orders rows with customer_id, ordered_at, net_revenue, is_purchase.
    scoring_date : date-like
        The day predictions are made for (the day after the latest data date); exclusive bound of the fit.
    """
    from ml.explain import importance_sample, regressor_importance
    from ml.models.clv_regressor import RevenueRegressor

    started = time.perf_counter()
    column = target_column("revenue", horizon_days)
    # revenue has no classes: min_class_rows=0 keeps only the date rules of the split
    split = time_split(frame, target_column=column, horizon_days=horizon_days,
                       min_train_dates=settings.min_train_dates, min_class_rows=0,
                       max_train_dates=settings.max_train_dates)
    holdout_rows = frame.iloc[split.test_index]
    actual = holdout_rows[column].to_numpy(dtype=float)
    ordered_at = pd.to_datetime(orders["ordered_at"])
    tz = ordered_at.dt.tz
    orders = orders.assign(ordered_at=ordered_at)

    def bound(value) -> pd.Timestamp:
        timestamp = pd.Timestamp(value)
        return timestamp.tz_localize(tz) if tz is not None and timestamp.tz is None else timestamp

    summary = purchase_summary(orders, bound(split.test_as_of_date))
    if len(summary) < settings.min_class_rows:
        from ml.datasets import InsufficientHistoryError

        raise InsufficientHistoryError(f"{column}: {len(summary)} customers purchased before the holdout date "
                                       f"{split.test_as_of_date.date()}, need at least {settings.min_class_rows}")
    repeat_spenders = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    if repeat_spenders < settings.min_class_rows:
        from ml.datasets import InsufficientHistoryError

        raise InsufficientHistoryError(f"{column}: {repeat_spenders} customers bought again (with positive spend) "
                                       f"before the holdout date {split.test_as_of_date.date()}; the spend model needs "
                                       f"at least {settings.min_class_rows}")
    scored = summary.reindex(pd.Index(holdout_rows["customer_id"], name="customer_id"))
    known = scored.dropna()
    predictions, fit_seconds, caught_messages = {}, {}, []
    for name, candidate in ((TrainedLifetimeValue.MODEL, CustomerLifetimeValue()),
                            ("baseline: historical average x horizon", HistoricalAverageCLV()),
                            ("baseline: predict zero", ZeroCLV())):
        fit_started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            candidate.fit(summary)
        caught_messages += [f"{name}: {warning.message}" for warning in caught]
        fit_seconds[name] = time.perf_counter() - fit_started
        predicted = candidate.predict(known, horizon_days)
        if isinstance(predicted, pd.DataFrame):
            holdout_model, holdout_forecast = candidate, predicted
            predicted = predicted["expected_revenue"]
        # a holdout customer with no purchase before the date is outside the RFM models' population: 0
        predictions[name] = predicted.reindex(scored.index, fill_value=0.0).to_numpy(dtype=float)

    if not np.all(np.isfinite(predictions[TrainedLifetimeValue.MODEL])):
        from ml.datasets import InsufficientHistoryError

        raise InsufficientHistoryError(f"{column}: BG/NBD + Gamma-Gamma gave non-finite forecasts; the purchase history "
                                       "does not identify its parameters")
    regressor_name = "alternative: LightGBM regressor (tuned)"
    fit_started = time.perf_counter()
    features = prepare_features(frame)
    regressor = RevenueRegressor(n_iter=settings.n_iter, cv_folds=settings.cv_folds,
                                 time_budget_seconds=settings.time_budget_seconds, n_jobs=settings.n_jobs,
                                 random_state=settings.random_state)
    regressor.fit(features.iloc[split.train_index], frame[column].to_numpy(dtype=float)[split.train_index],
                  groups=frame["customer_id"].to_numpy()[split.train_index])
    fit_seconds[regressor_name] = time.perf_counter() - fit_started
    holdout_features = features.iloc[split.test_index]
    predictions[regressor_name] = regressor.predict(holdout_features)
    importance = regressor_importance(regressor, importance_sample(holdout_features, random_state=settings.random_state))

    table = pd.DataFrame(
        [{"candidate": name, **clv_metrics(actual, predicted), "predicted_total": float(predicted.sum()),
          "fit_seconds": fit_seconds[name]} for name, predicted in predictions.items()]
    ).set_index("candidate")
    order = [TrainedLifetimeValue.MODEL, regressor_name, "baseline: historical average x horizon", "baseline: predict zero"]
    table = table.loc[order]

    fit_end = bound(scoring_date)
    final_summary = purchase_summary(orders, fit_end)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        final = CustomerLifetimeValue().fit(final_summary)
    caught_messages += [f"final fit: {warning.message}" for warning in caught]
    return TrainedLifetimeValue(
        horizon_days=horizon_days, model=final, split=split, holdout=table, actual=actual,
        predictions={name: predictions[name] for name in order}, holdout_model=holdout_model,
        holdout_customers=scored.index, holdout_summary=known,
        holdout_forecast=holdout_forecast, no_history_customers=int(len(scored) - len(known)),
        fit_end=pd.Timestamp(scoring_date),
        fit_customers=len(final_summary), importance=importance, warnings=caught_messages,
        seconds=time.perf_counter() - started,
    )
