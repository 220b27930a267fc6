"""Monitoring runs against the warehouse: log every scoring run's predictions, measure feature drift of the
current scoring population against the champion's training rows, realised performance of past predictions
whose label window has closed, change detection on their error stream, and record each finding in
`ml.monitoring_events`, which the drift sensor reads.

The statistics themselves are the pure functions of ml.monitoring; this module only reads and writes tables.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import numpy as np
import pandas as pd

from ml.datasets import prepare_features
from ml.monitoring import (
    detect_changes,
    drifted_share,
    ensure_monitoring_tables,
    error_stream,
    feature_drift,
    feature_drift_rows,
    prediction_drift,
    realised_classification_performance,
)
from ml.registry import ModelRecord, champion

__all__ = [
    "EVENTS_DDL",
    "LOG_DDL",
    "ensure_run_tables",
    "log_predictions",
    "record_event",
    "previous_scores",
    "monitor_classifier",
    "sensor_inputs",
]

LOG_DDL = """
    create table if not exists ml.prediction_log (
        model_name varchar not null,
        model_version varchar not null,
        scored_at timestamptz not null,
        customer_id varchar not null,
        horizon_days integer not null,
        score double not null
    )
"""
EVENTS_DDL = """
    create table if not exists ml.monitoring_events (
        event_at timestamptz not null,
        model_name varchar not null,
        model_version varchar,
        kind varchar not null,
        drift_detected boolean not null,
        summary varchar not null,
        detail json
    )
"""
#: model -> the population it scores and how its label reads from the orders after the scoring day
CLASSIFIERS = {
    "churn_model": {"population": "not is_placeholder and purchase_orders_365d > 0", "label_when_purchased": 0},
    "propensity_model": {"population": "not is_placeholder", "label_when_purchased": 1},
}
#: reference rows drawn from the champion's training as-of dates for the drift comparison
REFERENCE_SAMPLE_ROWS = 20_000


def ensure_run_tables(connection: duckdb.DuckDBPyConnection) -> None:
    ensure_monitoring_tables(connection)
    connection.execute(LOG_DDL)
    connection.execute(EVENTS_DDL)


def record_event(connection: duckdb.DuckDBPyConnection, *, model_name: str, model_version: str | None, kind: str,
                 drift_detected: bool, summary: str, detail: dict | None = None, at: datetime | None = None) -> None:
    ensure_run_tables(connection)
    connection.execute(
        "insert into ml.monitoring_events values (?, ?, ?, ?, ?, ?, ?)",
        [at or datetime.now(timezone.utc), model_name, model_version, kind, drift_detected, summary,
         json.dumps(detail or {}, default=str)],
    )


def previous_scores(connection: duckdb.DuckDBPyConnection, table: str, score_column: str) -> pd.Series:
    """The scores a prediction table holds now (before a scoring run replaces them)."""
    return connection.execute(f"select {score_column} from {table}").df()[score_column]


def log_predictions(connection: duckdb.DuckDBPyConnection, *, model_name: str, rows: pd.DataFrame, score_column: str,
                    horizon_days: int, table: str) -> dict:
    """Append a scoring run to ml.prediction_log (realised performance needs the scores once outcomes are
    known; the prediction tables keep only the latest run) and record its prediction drift against the
    scores the table held before. Call before swapping the new rows in."""
    ensure_run_tables(connection)
    log = pd.DataFrame({
        "model_name": model_name, "model_version": rows["model_version"], "scored_at": rows["scored_at"],
        "customer_id": rows["customer_id"].astype(str), "horizon_days": horizon_days,
        "score": rows[score_column].astype(float),
    })
    connection.register("_anticipate_prediction_log", log)
    try:
        connection.execute("insert into ml.prediction_log select * from _anticipate_prediction_log")
    finally:
        connection.unregister("_anticipate_prediction_log")
    before = previous_scores(connection, table, score_column)
    if len(before) == 0 or len(rows) == 0:
        return {}
    drift = prediction_drift(before.to_numpy(dtype=float), rows[score_column].to_numpy(dtype=float))
    detected = drift["psi"] > 0.2
    record_event(connection, model_name=model_name, model_version=str(rows["model_version"].iloc[0]),
                 kind="prediction_drift", drift_detected=bool(detected),
                 summary=f"{table}: score PSI {drift['psi']:.3f} against the previous run, mean "
                         f"{drift['mean_previous']:.4g} -> {drift['mean_current']:.4g}", detail=drift)
    return drift


def _outcomes(connection: duckdb.DuckDBPyConnection, model_name: str, horizon_days: int) -> pd.DataFrame:
    """Per logged (customer, scoring day) whose window [day, day + H) is over by the latest order date: did
    the customer place a purchase order in it (1 = churned for churn, 1 = purchased for propensity)."""
    purchased_label = CLASSIFIERS[model_name]["label_when_purchased"]
    return connection.execute(
        f"""
        with logged as (
            select model_version, scored_at, customer_id, score as probability, cast(scored_at as date) as scored_day
            from ml.prediction_log
            where model_name = ? and horizon_days = ?
        ),
        data_end as (select latest_order_date from intermediate.int_data_dates_summarized)
        select
            logged.model_version, logged.scored_at, logged.customer_id, logged.probability,
            case when count(orders.order_id) > 0 then {purchased_label} else {1 - purchased_label} end as label
        from logged
        cross join data_end
        left join marts.fct_orders as orders
            on orders.customer_id = logged.customer_id and orders.is_purchase
            and orders.ordered_date >= logged.scored_day and orders.ordered_date < logged.scored_day + ?
        where logged.scored_day + ? <= data_end.latest_order_date
        group by all
        """,
        [model_name, horizon_days, horizon_days, horizon_days],
    ).df()


def monitor_classifier(connection: duckdb.DuckDBPyConnection, model_name: str, *, now: datetime | None = None) -> dict:
    """Feature drift, realised performance and change detection of one classifier's champion; every
    finding is written to its table and to ml.monitoring_events. Returns a summary for the run log."""
    ensure_run_tables(connection)
    now = now or datetime.now(timezone.utc)
    record = champion(connection, model_name)
    if record is None:
        return {"model": model_name, "summary": "no champion to monitor"}
    population = CLASSIFIERS[model_name]["population"]
    summary = {"model": model_name, "model_version": record.model_version}

    current = connection.execute(f"select * from marts.customer_features_current where {population}").df()
    reference = connection.execute(
        f"""
        select * from ml.customer_training_set
        where as_of_date in (select cast(unnest(?) as date)) and {population}
        using sample reservoir({REFERENCE_SAMPLE_ROWS} rows) repeatable (0)
        """,
        [record.train_as_of_dates],
    ).df()
    if len(current) and len(reference):
        drift = feature_drift(prepare_features(reference, record.feature_list), prepare_features(current, record.feature_list),
                              features=record.feature_list)
        share = drifted_share(drift)
        scored_at = now
        rows = feature_drift_rows(drift, record.model_version, scored_at)
        connection.register("_anticipate_feature_drift", rows)
        try:
            connection.execute("insert into ml.feature_drift select model_version, scored_at, feature, statistic, value, drifted "
                               "from _anticipate_feature_drift")
        finally:
            connection.unregister("_anticipate_feature_drift")
        drifted = drift.loc[drift["drifted"], "feature"].tolist()
        record_event(connection, model_name=model_name, model_version=record.model_version, kind="feature_drift",
                     drift_detected=share >= 0.3, at=now,
                     summary=f"{len(drifted)} of {len(drift)} features drifted ({share:.0%}) against the training rows"
                             + (f": {', '.join(drifted[:5])}" if drifted else ""),
                     detail={"drifted_share": share, "drifted": drifted})
        summary["drifted_share"] = share

    outcomes = _outcomes(connection, model_name, record.horizon_days)
    if outcomes.empty:
        summary["realised"] = "no logged prediction has a closed label window yet"
        return summary
    # one call per scoring run: a customer has one outcome per run, and runs differ in their windows
    realised = pd.concat([
        realised_classification_performance(run[["model_version", "scored_at", "customer_id", "probability"]],
                                            run[["customer_id", "label"]])
        for _, run in outcomes.groupby("scored_at", sort=True)
    ], ignore_index=True)
    measured = realised.assign(model_name=model_name, measured_at=now)
    connection.execute("delete from ml.realised_performance where model_name = ?", [model_name])
    connection.register("_anticipate_realised", measured)
    try:
        connection.execute("insert into ml.realised_performance select model_name, model_version, scored_at, measured_at, n, "
                           "positive_rate, mean_predicted, roc_auc, brier from _anticipate_realised")
    finally:
        connection.unregister("_anticipate_realised")
    threshold = float(record.params.get("threshold", 0.5))
    errors = np.concatenate([
        error_stream(run[["customer_id", "probability", "scored_at"]], run[["customer_id", "label"]], threshold=threshold)
        for _, run in outcomes.groupby("scored_at", sort=True)
    ])
    detections = detect_changes(errors)
    detected = any(detections.values())
    record_event(connection, model_name=model_name, model_version=record.model_version, kind="performance_drift",
                 drift_detected=detected, at=now,
                 summary=f"{len(errors):,} realised predictions: "
                         + ", ".join(f"{name} {'detected a change at ' + str(points[0]) if points else 'no change'}"
                                     for name, points in detections.items()),
                 detail={"detections": detections, "labelled_outcomes": int(len(errors))})
    summary["labelled_outcomes"] = int(len(errors))
    summary["performance_drift"] = detected
    return summary


def sensor_inputs(connection: duckdb.DuckDBPyConnection, model_name: str) -> dict | None:
    """What the drift sensor decides on, for one model: whether the latest monitoring events since the
    champion was trained flag drift, the drifted-feature share, and the labelled outcomes gathered since."""
    record: ModelRecord | None = champion(connection, model_name)
    if record is None:
        return None
    exists = connection.execute("select count(*) from information_schema.tables where table_schema = 'ml' "
                                "and table_name = 'monitoring_events'").fetchone()[0]
    if not exists:
        return {"model_version": record.model_version, "trained_at": record.trained_at, "drift_detected": False,
                "drifted_share": 0.0, "new_labelled_outcomes": 0}
    latest = connection.execute(
        """
        select kind, arg_max(drift_detected, event_at), arg_max(detail, event_at)
        from ml.monitoring_events where model_name = ? and model_version = ? group by kind
        """, [model_name, record.model_version],
    ).fetchall()
    by_kind = {kind: (detected, json.loads(detail) if detail else {}) for kind, detected, detail in latest}
    performance = by_kind.get("performance_drift", (False, {}))
    features = by_kind.get("feature_drift", (False, {}))
    outcomes = connection.execute(
        "select count(*) from ml.prediction_log where model_name = ? and scored_at >= ? "
        "and cast(scored_at as date) + horizon_days <= (select latest_order_date from intermediate.int_data_dates_summarized)",
        [model_name, record.trained_at],
    ).fetchone()[0]
    return {
        "model_version": record.model_version,
        "trained_at": record.trained_at,
        "drift_detected": bool(performance[0]),
        "drifted_share": float(features[1].get("drifted_share", 0.0)),
        "new_labelled_outcomes": int(outcomes),
    }
