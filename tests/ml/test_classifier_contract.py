"""Every classifier, models and baselines alike, is a scikit-learn estimator with fit/predict_proba on the
feature frame ml.datasets.prepare_features builds, and learns an obvious signal from a tiny fixture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ml.datasets import prepare_features
from ml.explain import global_importance, importance_sample, shap_contributions, top_drivers
from ml.metrics import roc_auc
from ml.models.baselines import DaysSinceLastPurchaseRanker, RecentFrequencyRate, RFMLogisticRegression
from ml.models.churn import ChurnClassifier
from ml.models.propensity import PropensityClassifier

FAST = {"n_iter": 2, "cv_folds": 2, "time_budget_seconds": 30, "n_jobs": 1, "random_state": 0}

CLASSIFIERS = {
    "churn_lightgbm": ChurnClassifier(**FAST),
    "churn_random_forest": ChurnClassifier(algorithm="random_forest", **FAST),
    "churn_random_forest_knn_imputation": ChurnClassifier(algorithm="random_forest", imputation="knn", **FAST),
    "churn_lightgbm_iterative_imputation": ChurnClassifier(imputation="iterative", **FAST),
    "propensity_lightgbm": PropensityClassifier(**FAST),
    "rfm_logistic_regression": RFMLogisticRegression(random_state=0),
    "days_since_last_purchase": DaysSinceLastPurchaseRanker(),
    "recent_frequency_rate": RecentFrequencyRate(window_days=90, horizon_days=30),
}


@pytest.fixture(scope="module")
def tiny_customers() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """400 rows of 100 customers; a customer buys again when they bought recently and often. Text and
    integer dtypes as DuckDB hands them over, with nulls, and a high-cardinality text column."""
    rng = np.random.default_rng(7)
    rows = 400
    orders_90d = rng.poisson(1.5, rows)
    days_since = np.where(orders_90d > 0, rng.integers(1, 90, rows), rng.integers(90, 400, rows)).astype(float)
    days_since[rng.random(rows) < 0.1] = np.nan  # never bought
    frame = pd.DataFrame({
        "customer_id": [f"c{i % 100}" for i in range(rows)],
        "days_since_last_purchase": pd.array(np.where(np.isnan(days_since), None, days_since), dtype="Int64"),
        "tenure_days": rng.integers(100, 800, rows),
        "purchase_orders_30d": np.minimum(orders_90d, rng.poisson(0.5, rows)),
        "purchase_orders_90d": orders_90d,
        "purchase_orders_365d": orders_90d + rng.poisson(2, rows),
        "net_revenue_365d": rng.gamma(2, 50, rows),
        "top_category": pd.array(rng.choice(["shoes", "books", None], rows), dtype="str"),
        "country": pd.array([f"country-{i}" for i in rng.integers(0, 40, rows)], dtype="str"),
    })
    will_buy = (orders_90d > 0) & (rng.random(rows) < 0.85) | (rng.random(rows) < 0.1)
    return prepare_features(frame.drop(columns="customer_id")), will_buy.astype(int), frame["customer_id"].to_numpy()


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_fits_returns_itself_and_predicts_probabilities(name, tiny_customers):
    X, will_buy, customers = tiny_customers
    # churn is the opposite outcome; every classifier gets the orientation its signal predicts
    y = 1 - will_buy if name.startswith(("churn", "rfm", "days_since")) else will_buy
    estimator = clone(CLASSIFIERS[name])
    assert estimator.get_params() == CLASSIFIERS[name].get_params()  # __init__ stores parameters unchanged

    fitted = estimator.fit(X, y, groups=customers) if name.startswith(("churn", "propensity")) else estimator.fit(X, y)

    assert fitted is estimator
    assert list(estimator.classes_) == [0, 1]
    probabilities = estimator.predict_proba(X)
    assert probabilities.shape == (len(X), 2)
    assert np.all((probabilities >= 0) & (probabilities <= 1)) and np.allclose(probabilities.sum(axis=1), 1)
    assert set(np.unique(estimator.predict(X))) <= {0, 1}
    assert roc_auc(y, probabilities[:, 1]) > 0.7, "the fixture's signal is obvious; a classifier must find it"


def test_tuned_classifier_records_search_calibration_and_threshold(tiny_customers):
    X, will_buy, customers = tiny_customers
    model = clone(CLASSIFIERS["propensity_lightgbm"]).fit(X, will_buy, groups=customers)
    assert len(model.cv_results_) == 2 and model.best_params_ in [r["params"] for r in model.cv_results_]
    assert model.calibration_method_ == "sigmoid"  # 400 rows: too few for isotonic steps
    assert 0 < model.threshold_ < 1
    # a high-cardinality text column is target encoded, a low one one-hot encoded
    preprocess = model.pipeline_.named_steps["preprocess"]
    assert preprocess.target_encoded_columns_ == ["country"] and preprocess.onehot_columns_ == ["top_category"]


@pytest.mark.parametrize("algorithm", ["lightgbm", "random_forest"])
def test_fits_on_two_threads_give_the_same_search_calibration_and_probabilities_as_on_one(algorithm, tiny_customers):
    X, will_buy, customers = tiny_customers
    settings = {**FAST, "n_iter": 3, "algorithm": algorithm}  # an odd count: the last batch has one setting
    sequential = ChurnClassifier(**settings).fit(X, 1 - will_buy, groups=customers)
    parallel = ChurnClassifier(**{**settings, "n_jobs": 2}).fit(X, 1 - will_buy, groups=customers)
    assert parallel.cv_results_ == sequential.cv_results_
    assert parallel.best_params_ == sequential.best_params_
    assert parallel.threshold_ == sequential.threshold_
    np.testing.assert_array_equal(parallel.predict_proba(X), sequential.predict_proba(X))


def test_treeshap_rows_sum_to_the_raw_score_and_rank_drivers(tiny_customers):
    X, will_buy, customers = tiny_customers
    model = clone(CLASSIFIERS["propensity_lightgbm"]).fit(X, will_buy, groups=customers)
    contributions = shap_contributions(model, X)
    raw = model.pipeline_.predict_proba(X, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1).to_numpy(), raw, rtol=1e-6, atol=1e-6)
    importance = global_importance(contributions)
    assert importance.index[0].startswith("numeric__purchase_orders_90d") or importance.index[0].startswith("numeric__days_since")
    drivers = top_drivers(contributions, n=2)
    assert list(drivers.columns) == ["driver_1", "driver_1_shap", "driver_2", "driver_2_shap"]
    assert (drivers["driver_1_shap"].abs() >= drivers["driver_2_shap"].abs()).all()


def test_global_importance_from_a_seeded_row_sample_keeps_the_leading_features(tiny_customers):
    X, will_buy, customers = tiny_customers
    model = clone(CLASSIFIERS["propensity_lightgbm"]).fit(X, will_buy, groups=customers)
    everything = global_importance(shap_contributions(model, X))
    sample = importance_sample(X, max_rows=len(X) // 2, random_state=0)
    assert len(sample) == len(X) // 2 and sample.index.isin(X.index).all()
    assert sample.equals(importance_sample(X, max_rows=len(X) // 2, random_state=0))
    assert importance_sample(X, max_rows=len(X)) is X
    from_sample = global_importance(shap_contributions(model, sample))
    assert list(from_sample.index[:2]) == list(everything.index[:2])
    with pytest.raises(ValueError, match="max_rows"):
        importance_sample(X, max_rows=0)


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        (ChurnClassifier(algorithm="xgboost"), "algorithm must be 'lightgbm' or 'random_forest', got 'xgboost'"),
        (ChurnClassifier(cv_folds=1), "cv_folds must be an int >= 2, got 1"),
        (ChurnClassifier(imputation="mean"), "imputation must be one of median, knn, iterative, got 'mean'"),
        (PropensityClassifier(calibration="platt"), "calibration must be one of auto, sigmoid, isotonic; got 'platt'"),
        (RFMLogisticRegression(C=0), "C must be a number > 0, got 0"),
        (RecentFrequencyRate(window_days=60), "window_days must be one of 30, 90, 365, got 60"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(estimator, message, tiny_customers):
    X, will_buy, _ = tiny_customers
    with pytest.raises(ValueError, match=message):
        estimator.fit(X, will_buy)


def test_baseline_names_the_columns_it_lacks(tiny_customers):
    X, will_buy, _ = tiny_customers
    with pytest.raises(ValueError, match=r"lacks \['net_revenue_365d'\]"):
        RFMLogisticRegression().fit(X.drop(columns="net_revenue_365d"), will_buy)
