"""Customer models on real data: churn, purchase propensity and 90-day CLV against their baselines, time-based holdout.

    make bench-models                 # builds both real-data warehouses under benchmarks/work/models (~5 min)
    python -m benchmarks.bench_models --warehouse online_retail=/tmp/or.duckdb   # reuse a built warehouse

Each dataset goes through the foundation's mapping (ingest, then `dbt build` up to ml.customer_training_set).
Per target the latest labelled as-of date is the holdout; training uses only as-of dates whose label window
closes by then (ml.datasets.time_split). A horizon the history cannot support is reported, not trained.
Writes the tables into benchmarks/RESULTS.md between the bench-models markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import real_data
from benchmarks.real_data import REPOSITORY_ROOT
from benchmarks.results import RESULTS, write_section

# 2 cores: BLAS threads on top of LightGBM's would oversubscribe them; set before numpy loads
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

WORK = REPOSITORY_ROOT / "benchmarks" / "work" / "models"
#: A churn ROC-AUC above this on real data is more likely a leak than skill (issue 3).
LEAK_SUSPICION_ROC_AUC = 0.9
METRICS = ("roc_auc", "pr_auc", "f1", "brier", "log_loss", "lift_top10")


def build_warehouse(dataset: str, warehouse: Path) -> None:
    real_data.build_warehouse(dataset, warehouse, ("+customer_training_set",))


def candidates(target: str, *, horizon_days: int) -> dict[str, object]:
    from ml.models.baselines import DaysSinceLastPurchaseRanker, RecentFrequencyRate, RFMLogisticRegression
    from ml.models.churn import ChurnClassifier
    from ml.models.propensity import PropensityClassifier

    tuning = {"n_iter": 6, "cv_folds": 3, "time_budget_seconds": 90, "n_jobs": 1, "random_state": 0}
    if target == "churn":
        return {
            "LightGBM (tuned, calibrated)": ChurnClassifier(**tuning),
            "random forest (tuned, calibrated)": ChurnClassifier(algorithm="random_forest", **tuning),
            # does a model-based imputation earn its cost? (issue 3 asks for it "where it helps")
            "LightGBM, iterative imputation": ChurnClassifier(imputation="iterative", **tuning),
            "random forest, KNN imputation": ChurnClassifier(algorithm="random_forest", imputation="knn", **tuning),
            "baseline: RFM logistic regression": RFMLogisticRegression(random_state=0),
            "baseline: days since last purchase": DaysSinceLastPurchaseRanker(),
        }
    return {
        "LightGBM (tuned, calibrated)": PropensityClassifier(**tuning),
        "baseline: recent frequency rate (90 d)": RecentFrequencyRate(window_days=90, horizon_days=horizon_days),
    }


def evaluate_dataset(dataset: str, warehouse: Path) -> list[str]:
    """Markdown lines: per target a table of candidates x metrics, or the reason it could not be trained."""
    from ml.datasets import InsufficientHistoryError, TARGETS, load_training_set, prepare_features
    from ml.evaluation import evaluate_candidates
    from ml.explain import global_importance, shap_contributions

    lines = [f"### {dataset}", ""]
    for target in ("churn", "propensity"):
        horizon = TARGETS[target][1]
        frame = load_training_set(warehouse, target=target, horizon_days=horizon)
        column = frame.columns[frame.columns.str.startswith(TARGETS[target][0])][0]
        lines.append(f"**{target}** (`{column}`)")
        lines.append("")
        try:
            started = time.perf_counter()
            result = evaluate_candidates(frame, candidates(target, horizon_days=horizon), target_column=column,
                                         horizon_days=horizon)
        except InsufficientHistoryError as error:
            lines += [f"Not trained: {error}.", ""]
            print(f"{dataset} {target}: not trained: {error}", flush=True)
            continue
        split, table = result.split, result.table
        lines.append(
            f"Train: {len(split.train_as_of_dates)} as-of dates {split.train_as_of_dates[0].date()}..{split.train_as_of_dates[-1].date()}, "
            f"{len(split.train_index):,} rows; holdout: as of {split.test_as_of_date.date()}, {table['samples'].iloc[0]:,} customers, "
            f"positive rate {table['positive_rate'].iloc[0]:.3f}; {time.perf_counter() - started:.0f} s."
        )
        lines.append("")
        lines.append("| candidate | " + " | ".join(METRICS) + " | threshold | fit s |")
        lines.append("|---|" + "---:|" * (len(METRICS) + 2))
        for name, row in table.iterrows():
            lines.append(f"| {name} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS)
                         + f" | {row['threshold']:.3f} | {row['fit_seconds']:.1f} |")
        lines.append("")
        suspicious = table.index[table["roc_auc"] > LEAK_SUSPICION_ROC_AUC].tolist()
        if target == "churn" and suspicious:
            lines += [f"**Probable leak**: ROC-AUC above {LEAK_SUSPICION_ROC_AUC} for {', '.join(suspicious)}; "
                      "check that no feature is dated on or after as_of_date.", ""]
        model = result.fitted["LightGBM (tuned, calibrated)"]
        test_rows = frame.iloc[split.test_index]
        importance = global_importance(shap_contributions(model, prepare_features(test_rows)))
        top = ", ".join(f"{name.split('__', 1)[-1]} {value:.2f}" for name, value in importance.head(5).items())
        lines += [f"LightGBM global mean \\|SHAP\\| (log-odds, holdout): {top}.", ""]
        calibration = result.calibration["LightGBM (tuned, calibrated)"]
        bins = "; ".join(f"{r.bin_lower:.1f}-{r.bin_upper:.1f}: {r.mean_predicted:.2f} vs {r.observed_rate:.2f} (n={r.samples})"
                         for r in calibration.itertuples())
        lines += [f"LightGBM calibration on the holdout (predicted vs observed): {bins}.", ""]
        print("\n".join(lines[-12:]), flush=True)
    lines += evaluate_clv(dataset, warehouse)
    return lines




def order_history(warehouse: Path):
    """marts.fct_orders as ml.training.train_lifetime_value reads them (it keeps the `is_purchase` ones)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select customer_id, ordered_at, net_revenue, is_purchase from marts.fct_orders"
        ).df()


def evaluate_clv(dataset: str, warehouse: Path) -> list[str]:
    """Markdown lines: 90-day revenue of the holdout customers, BG/NBD + Gamma-Gamma and LightGBM against baselines
    (ml.training.train_lifetime_value: the protocol of the clv_model asset).

    Same protocol as the classifiers: the holdout is the latest as-of date whose 90-day window is observed;
    LightGBM trains on as-of dates whose window closes by then; the RFM models and baselines summarise every
    purchase strictly before the holdout date. All are scored against `revenue_in_90d` of the holdout rows.
    """
    import pandas as pd

    from ml.datasets import InsufficientHistoryError, load_training_set, target_column
    from ml.training import REVENUE_METRICS, TrainedLifetimeValue, TrainingSettings, train_lifetime_value

    horizon = 90
    column = target_column("revenue", horizon)
    lines = [f"**clv** (`{column}`)", ""]
    frame = load_training_set(warehouse, target="revenue", horizon_days=horizon)
    orders = order_history(warehouse)
    scoring_date = pd.Timestamp(orders["ordered_at"].max()).normalize() + pd.Timedelta(days=1)
    started = time.perf_counter()
    try:
        trained = train_lifetime_value(frame, orders, scoring_date=scoring_date.tz_localize(None), horizon_days=horizon,
                                       settings=TrainingSettings(n_iter=6, cv_folds=3, time_budget_seconds=90))
    except InsufficientHistoryError as error:
        lines += [f"Not trained: {error}.", ""]
        print(f"{dataset} clv: not trained: {error}", flush=True)
        return lines
    for message in trained.warnings:
        print(f"{dataset} clv {message}", flush=True)
    split, actual = trained.split, trained.actual
    lines.append(
        f"Holdout: as of {split.test_as_of_date.date()}, {len(actual):,} customers ({trained.no_history_customers} without a "
        f"purchase before it, predicted 0 by the RFM models), actual revenue {actual.sum():,.0f} in total, "
        f"{(actual > 0).mean():.3f} of them spend. LightGBM trains on {len(split.train_as_of_dates)} as-of dates "
        f"{split.train_as_of_dates[0].date()}..{split.train_as_of_dates[-1].date()} ({len(split.train_index):,} rows); "
        f"the RFM models on the purchases before the holdout date; {time.perf_counter() - started:.0f} s."
    )
    lines.append("")
    lines.append("| candidate | " + " | ".join(REVENUE_METRICS) + " | predicted total | fit s |")
    lines.append("|---|" + "---:|" * (len(REVENUE_METRICS) + 2))
    for name, row in trained.holdout.iterrows():
        lines.append(f"| {name} | " + " | ".join("n/a" if pd.isna(row[m]) else f"{row[m]:.3f}" for m in REVENUE_METRICS)
                     + f" | {row['predicted_total']:,.0f} | {row['fit_seconds']:.1f} |")
    lines.append("")

    # what BG/NBD says beyond revenue: purchase occasions (days with a purchase) against the observed ones
    forecast = trained.holdout_forecast
    window_end = split.test_as_of_date + pd.Timedelta(days=horizon)
    ordered_at = pd.to_datetime(orders["ordered_at"]).dt.tz_localize(None)
    in_window = orders[(ordered_at >= split.test_as_of_date) & (ordered_at < window_end) & orders["is_purchase"].astype(bool)]
    occasions = in_window.assign(day=pd.to_datetime(in_window["ordered_at"]).dt.floor("D")).groupby("customer_id")["day"].nunique()
    actual_occasions = occasions.reindex(forecast.index, fill_value=0)
    model = trained.holdout_model
    parameters = {**model.purchases_model_.params_, **model.spend_model_.params_}
    lines += [
        f"{TrainedLifetimeValue.MODEL} on the holdout customers with history: expected purchase days "
        f"{forecast['expected_purchases'].sum():,.0f} against {actual_occasions.sum():,.0f} observed; mean P(alive) "
        f"{forecast['p_alive'].mean():.2f}, against {(actual_occasions > 0).mean():.2f} who bought; mean expected "
        f"spend per purchase {forecast['expected_average_value'].mean():,.1f}. Parameters: "
        + ", ".join(f"{key} {value:.3g}" for key, value in parameters.items()) + ".",
        "",
    ]
    print("\n".join(lines), flush=True)
    return lines


def write_results(body: str) -> None:
    write_section("bench-models", "Customer models on real data (`make bench-models`)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    real_data.add_dataset_arguments(
        parser, warehouse_help="use (and update the ml models of) this warehouse instead of building one")
    args = parser.parse_args()
    warehouses = real_data.dataset_warehouses(args, WORK)

    lines = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {os.cpu_count()} cores ({platform.machine()}), "
             "time-based holdout: fit on earlier as-of dates, scored on the latest labelled one, never seen in training.", ""]
    for dataset, warehouse in warehouses:
        started = time.perf_counter()
        build_warehouse(dataset, warehouse)
        print(f"{dataset}: warehouse built in {time.perf_counter() - started:.0f} s", flush=True)
        lines += evaluate_dataset(dataset, warehouse)
    body = "\n".join(lines).rstrip()
    if not args.no_write:
        write_results(body)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
