"""The time split: train only on as-of dates whose label window closes by the holdout date, and refuse
plainly when the history is too short for the horizon."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.datasets import InsufficientHistoryError, feature_columns, prepare_features, target_column, time_split


def _frame(as_of_dates: list[str], customers: int = 60) -> pd.DataFrame:
    rows = [
        {"customer_id": f"c{c}", "as_of_date": pd.Timestamp(day), "purchase_orders_90d": c % 3,
         "top_category": "shoes" if c % 2 else None, "churned_30d": c % 2 == 0, "label_data_end_date": pd.Timestamp("2024-12-31")}
        for day in as_of_dates for c in range(customers)
    ]
    return pd.DataFrame(rows)


MONTHS = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"]


def test_training_dates_close_their_label_window_by_the_holdout_date():
    split = time_split(_frame(MONTHS), target_column="churned_30d", horizon_days=60, min_train_dates=2)
    assert split.test_as_of_date == pd.Timestamp("2024-06-01")
    # 2024-04-01 + 60 days = 2024-05-31 closes in time; 2024-05-01 + 60 would look past the holdout date
    assert [d.date().isoformat() for d in split.train_as_of_dates] == MONTHS[:4]
    assert len(split.test_index) == 60 and len(split.train_index) == 4 * 60


def test_max_train_dates_keeps_the_latest_training_dates_and_the_same_holdout():
    split = time_split(_frame(MONTHS), target_column="churned_30d", horizon_days=60, min_train_dates=2, max_train_dates=2)
    assert [d.date().isoformat() for d in split.train_as_of_dates] == MONTHS[2:4]
    assert split.test_as_of_date == pd.Timestamp("2024-06-01") and len(split.train_index) == 2 * 60
    with pytest.raises(ValueError, match=r"max_train_dates must be None or an int >= min_train_dates \(3\), got 2"):
        time_split(_frame(MONTHS), target_column="churned_30d", horizon_days=30, max_train_dates=2)


def test_too_few_training_dates_for_the_horizon_is_refused_with_the_reason():
    with pytest.raises(InsufficientHistoryError, match=r"1 as-of date\(s\) close their 140-day label window .* need at least 3"):
        time_split(_frame(MONTHS), target_column="churned_30d", horizon_days=140)


def test_too_few_examples_of_a_class_is_refused_rather_than_trained_on():
    with pytest.raises(InsufficientHistoryError, match="hold 5 positive and 5 negative examples, need at least 20"):
        time_split(_frame(MONTHS, customers=10), target_column="churned_30d", horizon_days=30)


def test_no_labelled_date_means_the_history_is_shorter_than_the_horizon():
    frame = _frame(MONTHS)
    frame["churned_30d"] = None
    with pytest.raises(InsufficientHistoryError, match="no labelled as-of date"):
        time_split(frame, target_column="churned_30d", horizon_days=30)


def test_features_exclude_keys_labels_and_get_a_stable_dtype():
    frame = _frame(MONTHS[:1])
    assert feature_columns(frame) == ["purchase_orders_90d", "top_category"]
    prepared = prepare_features(frame)
    assert prepared["purchase_orders_90d"].dtype == "float64" and prepared["top_category"].dtype == "category"


def test_target_column_names_the_horizon_and_refuses_unknown_targets():
    assert target_column("churn") == "churned_90d" and target_column("propensity", 14) == "purchases_in_14d"
    with pytest.raises(ValueError, match="target must be one of churn, propensity, revenue, got 'upsell'"):
        target_column("upsell")
