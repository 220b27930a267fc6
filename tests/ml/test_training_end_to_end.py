"""Labels, training set and models on a real warehouse: demo data ingested and built with the real dbt,
then the label windows checked against fct_orders and the churn and propensity pipelines trained."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from ml.datasets import load_training_set, prepare_features, time_split
from ml.evaluation import evaluate_candidates
from ml.models.baselines import DaysSinceLastPurchaseRanker, RecentFrequencyRate, RFMLogisticRegression
from ml.models.churn import ChurnClassifier
from ml.models.propensity import PropensityClassifier
from ml.training import TrainingSettings, train_propensity

# one thread: LightGBM threads spin-wait badly when pytest-xdist workers share the 2 cores
FAST = {"n_iter": 2, "cv_folds": 2, "time_budget_seconds": 20, "n_jobs": 1, "random_state": 0}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, build_demo_warehouse) -> Path:
    """300 demo customers over 18 months, built up to the training set and the current features. The
    history ends mid-month so the last monthly as-of date falls inside every label horizon."""
    return build_demo_warehouse(tmp_path_factory.mktemp("ml_training"), customers=300, seed=5, years=1.5,
                                end_date=date(2026, 10, 15), select=("+customer_training_set", "+customer_features_current"))


@pytest.mark.parametrize(("label", "horizon"), [("churned_90d", 90), ("purchases_in_30d", 30), ("revenue_in_90d", 90)])
def test_no_label_comes_from_the_last_horizon_days(warehouse, label, horizon):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        latest_order = connection.execute("select latest_order_date from intermediate.int_data_dates_summarized").fetchone()[0]
        labelled_late, unlabelled_late, labelled = connection.execute(
            f"""
            select
                count(*) filter (where {label} is not null and as_of_date + {horizon} > date '{latest_order}'),
                count(*) filter (where {label} is null and as_of_date + {horizon} > date '{latest_order}'),
                count(*) filter (where {label} is not null),
            from ml.customer_labels
            """
        ).fetchone()
    assert labelled_late == 0
    assert unlabelled_late > 0, "the demo spine must reach into the last horizon days for this test to mean anything"
    assert labelled > 0


def test_labels_equal_orders_counted_from_the_as_of_date_for_the_horizon(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        mismatches = connection.execute(
            """
            with recomputed as (
                select
                    labels.customer_id, labels.as_of_date, labels.churned_90d, labels.purchases_in_30d, labels.revenue_in_90d,
                    count(orders.order_id) filter (where orders.is_purchase and orders.ordered_date < labels.as_of_date + 90) as purchases_90,
                    count(orders.order_id) filter (where orders.is_purchase and orders.ordered_date < labels.as_of_date + 30) as purchases_30,
                    coalesce(sum(orders.net_revenue) filter (where orders.ordered_date < labels.as_of_date + 90), 0) as revenue_90,
                from ml.customer_labels as labels
                left join marts.fct_orders as orders
                    on orders.customer_id = labels.customer_id and orders.ordered_date >= labels.as_of_date
                group by all
            )
            select count(*) filter (where churned_90d is not null and churned_90d <> (purchases_90 = 0)),
                   count(*) filter (where purchases_in_30d is not null and purchases_in_30d <> (purchases_30 > 0)),
                   count(*) filter (where revenue_in_90d is not null and abs(revenue_in_90d - revenue_90) > 1e-6),
                   count(*) filter (where churned_90d),
                   count(*) filter (where not churned_90d),
            from recomputed
            """
        ).fetchone()
    assert mismatches[:3] == (0, 0, 0)
    assert min(mismatches[3:]) > 0, "both churn outcomes must occur in the demo data"


def test_training_set_features_use_no_order_on_or_after_the_as_of_date(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        disagreeing, rows = connection.execute(
            """
            select count(*) filter (where training.purchase_orders_lifetime <> coalesce(before.purchase_orders, 0)), count(*)
            from ml.customer_training_set as training
            left join (
                select snapshot.customer_id, snapshot.as_of_date, count(*) as purchase_orders
                from ml.customer_training_set as snapshot
                inner join marts.fct_orders as orders
                    on orders.customer_id = snapshot.customer_id and orders.ordered_date < snapshot.as_of_date
                    and orders.is_purchase
                group by all
            ) as before using (customer_id, as_of_date)
            """
        ).fetchone()
    assert rows > 1000 and disagreeing == 0


def test_pipelines_train_report_metrics_beside_baselines_and_score_every_customer(warehouse):
    churn_frame = load_training_set(warehouse, target="churn")
    churn = evaluate_candidates(
        churn_frame,
        {"lightgbm": ChurnClassifier(**FAST), "random_forest": ChurnClassifier(algorithm="random_forest", **FAST),
         "rfm": RFMLogisticRegression(random_state=0), "recency": DaysSinceLastPurchaseRanker()},
        target_column="churned_90d", horizon_days=90, min_class_rows=5,
    )
    propensity_frame = load_training_set(warehouse, target="propensity")
    propensity = evaluate_candidates(
        propensity_frame,
        {"lightgbm": PropensityClassifier(**FAST), "frequency_rate": RecentFrequencyRate(horizon_days=30)},
        target_column="purchases_in_30d", horizon_days=30, min_class_rows=5,
    )
    for result, names in ((churn, ["lightgbm", "random_forest", "rfm", "recency"]), (propensity, ["lightgbm", "frequency_rate"])):
        assert list(result.table.index) == names
        metrics = result.table[["roc_auc", "pr_auc", "f1", "brier", "log_loss", "lift_top10"]]
        assert np.isfinite(metrics.to_numpy()).all()
        # the holdout date is later than every training date and never among them
        assert result.split.test_as_of_date > max(result.split.train_as_of_dates)
    # on the demo shop recent buyers buy again: the model must beat a coin
    assert propensity.table.loc["lightgbm", "roc_auc"] > 0.6

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        current = connection.execute("select * from marts.customer_features_current").df()
    features = prepare_features(current, list(churn.fitted["lightgbm"].feature_names_in_))
    for model in (churn.fitted["lightgbm"], propensity.fitted["lightgbm"]):
        probabilities = model.predict_proba(features)[:, 1]
        assert probabilities.shape == (len(current),) and len(current) >= 250
        assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_max_train_dates_trains_on_the_latest_dates_only_and_keeps_the_holdout(warehouse):
    frame = load_training_set(warehouse, target="propensity")
    every_date = time_split(frame, target_column="purchases_in_30d", horizon_days=30, min_class_rows=5)
    assert len(every_date.train_as_of_dates) > 3, "the demo history must hold more training dates than the cap"
    trained = train_propensity(frame, settings=TrainingSettings(**FAST, min_class_rows=5, max_train_dates=3))
    assert trained.fit_as_of_dates == every_date.train_as_of_dates[-3:]
    assert trained.split.test_as_of_date == every_date.test_as_of_date
    assert trained.fit_rows == int((frame["as_of_date"].isin(trained.fit_as_of_dates) & frame["purchases_in_30d"].notna()).sum())
