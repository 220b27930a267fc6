"""RevenueRegressor is a scikit-learn regressor on the prepare_features frame, learns future revenue from a
generated dataset with an obvious signal better than predicting zero, and refuses bad input clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from ml.clv import clv_metrics
from ml.datasets import prepare_features
from ml.models.clv_regressor import RevenueRegressor

FAST = {"n_iter": 2, "cv_folds": 2, "time_budget_seconds": 30, "n_jobs": 1, "random_state": 0}


def _customers(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows of 4 as-of dates per customer; next-90-day revenue follows recent orders times order value,
    most customers buy nothing. Dtypes as DuckDB hands them over, with nulls and a text column."""
    rng = np.random.default_rng(seed)
    orders_90d = rng.poisson(0.8, rows)
    average_order_value = rng.gamma(3.0, 40.0, rows)
    days_since = np.where(orders_90d > 0, rng.integers(1, 90, rows), rng.integers(90, 400, rows)).astype(float)
    days_since[rng.random(rows) < 0.1] = np.nan  # never bought
    frame = pd.DataFrame({
        "customer_id": [f"c{seed}-{i // 4}" for i in range(rows)],
        "days_since_last_purchase": pd.array(np.where(np.isnan(days_since), None, days_since), dtype="Int64"),
        "purchase_orders_90d": orders_90d,
        "average_order_value": average_order_value,
        "tenure_days": rng.integers(100, 800, rows),
        "top_category": pd.array(rng.choice(["shoes", "books", None], rows), dtype="str"),
    })
    future_orders = rng.poisson(0.9 * orders_90d + 0.05)
    revenue = future_orders * average_order_value * rng.lognormal(0.0, 0.3, rows)
    return prepare_features(frame.drop(columns="customer_id")), revenue, frame["customer_id"].to_numpy()


@pytest.fixture(scope="module")
def train_and_test():
    return _customers(1200, seed=1), _customers(600, seed=2)


@pytest.fixture(scope="module")
def fitted(train_and_test):
    (X, y, customers), _ = train_and_test
    return RevenueRegressor(**FAST).fit(X, y, groups=customers)


def test_fit_stores_parameters_unchanged_and_returns_itself(train_and_test):
    (X, y, customers), _ = train_and_test
    estimator = RevenueRegressor(**FAST)
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.fit(X, y, groups=customers) is estimator
    assert estimator.n_features_in_ == X.shape[1] and list(estimator.feature_names_in_) == list(X.columns)


def test_search_tries_n_iter_settings_and_keeps_the_lowest_out_of_fold_rmse(fitted):
    assert len(fitted.cv_results_) == FAST["n_iter"]
    best = min(fitted.cv_results_, key=lambda result: result["rmse"])
    assert fitted.best_params_ == best["params"]
    assert fitted.search_seconds_ >= 0


def test_beats_predicting_zero_on_unseen_customers(fitted, train_and_test):
    _, (X_test, y_test, _) = train_and_test
    predicted = fitted.predict(X_test)
    assert predicted.shape == (len(X_test),) and np.all(np.isfinite(predicted))
    model, zero = clv_metrics(y_test, predicted), clv_metrics(y_test, np.zeros(len(y_test)))
    assert model["rmse"] < 0.8 * zero["rmse"]
    assert model["mae"] < zero["mae"]
    assert model["spearman"] > 0.5
    # squared error on revenue itself keeps the total close; predicting zero misses it by 100%
    assert abs(model["aggregate_error"]) < 0.15


def test_predicts_with_unseen_category_and_reordered_columns(fitted, train_and_test):
    _, (X_test, _, _) = train_and_test
    shuffled = X_test[list(reversed(X_test.columns))].copy()
    shuffled["top_category"] = pd.Categorical(["garden"] * len(shuffled))
    assert np.all(np.isfinite(fitted.predict(shuffled)))


def test_same_random_state_gives_the_same_predictions(fitted, train_and_test):
    (X, y, customers), (X_test, _, _) = train_and_test
    again = RevenueRegressor(**FAST).fit(X, y, groups=customers)
    np.testing.assert_allclose(again.predict(X_test), fitted.predict(X_test))


def test_fits_on_two_threads_give_the_same_search_and_model_as_on_one(fitted, train_and_test):
    (X, y, customers), (X_test, _, _) = train_and_test
    parallel = RevenueRegressor(**{**FAST, "n_jobs": 2}).fit(X, y, groups=customers)
    assert parallel.cv_results_ == fitted.cv_results_
    np.testing.assert_array_equal(parallel.predict(X_test), fitted.predict(X_test))


@pytest.mark.parametrize("parameter, value, message", [
    ("n_iter", 0, "n_iter must be an int >= 1, got 0"),
    ("cv_folds", 1, "cv_folds must be an int >= 2, got 1"),
    ("time_budget_seconds", 0, "time_budget_seconds must be a number > 0, got 0"),
])
def test_invalid_parameters_name_themselves(parameter, value, message, train_and_test):
    (X, y, _), _ = train_and_test
    with pytest.raises(ValueError, match=message):
        RevenueRegressor(**{**FAST, parameter: value}).fit(X, y)


def test_unobserved_revenue_is_an_error_not_a_zero(train_and_test):
    (X, y, customers), _ = train_and_test
    y = y.copy()
    y[:3] = np.nan
    with pytest.raises(ValueError, match="y must be finite revenue, got 3 NaN"):
        RevenueRegressor(**FAST).fit(X, y, groups=customers)


def test_more_folds_than_customers_is_refused_with_the_customer_count(train_and_test):
    (X, y, customers), _ = train_and_test
    three = np.array(["a", "b", "c"], dtype=object)[np.arange(len(y)) % 3]
    with pytest.raises(ValueError, match=r"cv_folds \(4\) must not exceed the number of customers \(3\)"):
        RevenueRegressor(**{**FAST, "cv_folds": 4}).fit(X, y, groups=three)
    assert RevenueRegressor(**{**FAST, "cv_folds": 3}).fit(X, y, groups=three).n_features_in_ == X.shape[1]


def test_raw_text_columns_and_missing_features_are_refused(fitted, train_and_test):
    (X, y, _), (X_test, _, _) = train_and_test
    raw = X.assign(top_category=X["top_category"].astype("object").astype("str"))
    with pytest.raises(TypeError, match=r"numeric or category.*top_category"):
        RevenueRegressor(**FAST).fit(raw, y)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        RevenueRegressor(**FAST).fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match="lacks the fitted feature columns \\['tenure_days'\\]"):
        fitted.predict(X_test.drop(columns="tenure_days"))
