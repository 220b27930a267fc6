"""Monitoring runs against the warehouse: log every scoring run's predictions (and a fixed panel of
customers' recommendation lists), measure feature drift of the current scoring population against the
champion's training rows, realised performance of past predictions whose window has closed, change
detection on their error stream, and record each finding in `ml.monitoring_events`, which the drift
sensor reads. Churn, propensity, lifetime value and the recommender are all monitored (MONITORED_MODELS).

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
    REALISED_COLUMNS,
    absolute_log_errors,
    detect_changes,
    drifted_share,
    ensure_monitoring_tables,
    error_stream,
    exceedance_stream,
    feature_drift,
    feature_drift_rows,
    prediction_drift,
    ranking_miss_stream,
    realised_classification_performance,
    realised_ranking_performance,
    realised_regression_performance,
)
from ml.registry import ModelRecord, champion

__all__ = [
    "EVENTS_DDL",
    "LOG_DDL",
    "RECOMMENDATION_LOG_DDL",
    "MONITORED_MODELS",
    "ensure_run_tables",
    "log_predictions",
    "log_recommendations",
    "record_event",
    "previous_scores",
    "monitor_classifier",
    "monitor_lifetime_value",
    "monitor_recommender",
    "monitor_model",
    "sensor_inputs",
    "table_exists",
]

LOG_DDL = """
    create table if not exists ml.prediction_log (
        model_name varchar not null,
        model_version varchar not null,
        scored_at timestamptz not null,
        customer_id varchar not null,
        horizon_days integer not null,
        score double not null,
        as_of_date date
    )
"""
#: logs written before as_of_date existed: their window starts on the day they were scored
LOG_MIGRATION = "alter table ml.prediction_log add column if not exists as_of_date date"
#: the day a logged prediction's window starts: the data's scoring date (rows logged before it was recorded:
#: the day they were scored)
WINDOW_START = "coalesce(logged.as_of_date, cast(logged.scored_at as date))"
RECOMMENDATION_LOG_DDL = """
    create table if not exists ml.recommendation_log (
        model_name varchar not null,
        model_version varchar not null,
        scored_at timestamptz not null,
        as_of_date date not null,
        horizon_days integer not null,
        customer_id varchar not null,
        rank integer not null,
        product_id varchar not null,
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
#: customers whose recommendation lists are logged per scoring run: a fixed panel (the same customers every
#: run, chosen by a hash of their id) bounds the log at 10 rows x this per run however large the shop is,
#: and is plenty to measure HitRate@10 to about +-0.01
RECOMMENDATION_PANEL_CUSTOMERS = 20_000
#: the same bound for the per-customer scores of churn, propensity and lifetime value: a year of daily runs
#: of a 1M-customer shop stays at 100k rows per run, and ROC-AUC on 100k customers is precise to ~0.003
PREDICTION_PANEL_CUSTOMERS = 100_000
#: share of a lifetime-value run's errors above the reference quantile that counts as a miss (see
#: ml.monitoring.exceedance_stream)
LIFETIME_VALUE_MISS_QUANTILE = 0.9
LIFETIME_VALUE_FEATURES = ["frequency", "recency", "T", "monetary_value"]
MONITORED_MODELS = ("churn_model", "propensity_model", "clv_model", "recommender_ranker")


def ensure_run_tables(connection: duckdb.DuckDBPyConnection) -> None:
    ensure_monitoring_tables(connection)
    connection.execute(LOG_DDL)
    connection.execute(LOG_MIGRATION)
    connection.execute(RECOMMENDATION_LOG_DDL)
    connection.execute(EVENTS_DDL)


def _insert(connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append `frame` to `table` by column name (tables widen over versions; positions would shift)."""
    name = "_anticipate_insert"
    connection.register(name, frame)
    try:
        columns = ", ".join(frame.columns)
        connection.execute(f"insert into {table} ({columns}) select {columns} from {name}")
    finally:
        connection.unregister(name)


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


def _record_prediction_drift(connection, *, model_name: str, model_version: str, table: str, before: pd.Series,
                             current: pd.Series) -> dict:
    if len(before) == 0 or len(current) == 0:
        return {}
    drift = prediction_drift(before.to_numpy(dtype=float), current.to_numpy(dtype=float))
    detected = drift["psi"] > 0.2
    record_event(connection, model_name=model_name, model_version=model_version,
                 kind="prediction_drift", drift_detected=bool(detected),
                 summary=f"{table}: score PSI {drift['psi']:.3f} against the previous run, mean "
                         f"{drift['mean_previous']:.4g} -> {drift['mean_current']:.4g}", detail=drift)
    return drift


def log_predictions(connection: duckdb.DuckDBPyConnection, *, model_name: str, rows: pd.DataFrame, score_column: str,
                    horizon_days: int, table: str, as_of_date=None,
                    panel_customers: int = PREDICTION_PANEL_CUSTOMERS) -> dict:
    """Append a scoring run to ml.prediction_log (realised performance needs the scores once outcomes are
    known; the prediction tables keep only the latest run) and record its prediction drift against the
    scores the table held before. `as_of_date` is the data's scoring date, where the outcome window starts
    (default: the day of scored_at). Shops with more than `panel_customers` customers log a fixed panel of
    them (the same customers every run, by a hash of their id). Call before swapping the new rows in."""
    ensure_run_tables(connection)
    if panel_customers < 1:
        raise ValueError(f"panel_customers must be >= 1, got {panel_customers}")
    log = pd.DataFrame({
        "model_name": model_name, "model_version": rows["model_version"], "scored_at": rows["scored_at"],
        "customer_id": rows["customer_id"].astype(str), "horizon_days": horizon_days,
        "score": rows[score_column].astype(float),
        "as_of_date": pd.Timestamp(as_of_date).date() if as_of_date is not None else None,
    })
    if len(log) > panel_customers:
        connection.register("_anticipate_scored", log[["customer_id"]])
        try:
            panel = connection.execute("select customer_id from _anticipate_scored order by hash(customer_id), "
                                       "customer_id limit ?", [panel_customers]).df()["customer_id"]
        finally:
            connection.unregister("_anticipate_scored")
        log = log[log["customer_id"].isin(panel)]
    _insert(connection, "ml.prediction_log", log)
    if len(rows) == 0:
        return {}
    return _record_prediction_drift(connection, model_name=model_name, model_version=str(rows["model_version"].iloc[0]),
                                    table=table, before=previous_scores(connection, table, score_column),
                                    current=rows[score_column])


def log_recommendations(connection: duckdb.DuckDBPyConnection, *, model_name: str, lists: pd.DataFrame,
                        horizon_days: int, as_of_date, table: str = "predictions.next_best_products",
                        panel_customers: int = RECOMMENDATION_PANEL_CUSTOMERS) -> dict:
    """Append the lists of a fixed panel of customers to ml.recommendation_log (what they were shown, to
    compare with what they buy once the window closes) and record the score drift against the lists the
    table held before. `lists` has customer_id, rank, product_id, score, model_version, scored_at. Call
    before swapping the new lists in. Returns the drift (empty when there was nothing to compare)."""
    ensure_run_tables(connection)
    if panel_customers < 1:
        raise ValueError(f"panel_customers must be >= 1, got {panel_customers}")
    if len(lists) == 0:
        return {}
    name = "_anticipate_lists"
    connection.register(name, lists[["customer_id", "rank", "product_id", "score", "model_version", "scored_at"]])
    try:
        connection.execute(
            f"""
            insert into ml.recommendation_log (model_name, model_version, scored_at, as_of_date, horizon_days,
                                               customer_id, rank, product_id, score)
            with panel as (
                select customer_id from (select distinct cast(customer_id as varchar) as customer_id from {name})
                order by hash(customer_id), customer_id limit ?
            )
            select ?, model_version, scored_at, cast(? as date), ?, cast(lists.customer_id as varchar), rank,
                   cast(product_id as varchar), score
            from {name} as lists
            where cast(lists.customer_id as varchar) in (select customer_id from panel)
            """,
            [panel_customers, model_name, pd.Timestamp(as_of_date).date(), horizon_days],
        )
    finally:
        connection.unregister(name)
    return _record_prediction_drift(connection, model_name=model_name, model_version=str(lists["model_version"].iloc[0]),
                                    table=table, before=previous_scores(connection, table, "score"),
                                    current=lists["score"])


def _outcomes(connection: duckdb.DuckDBPyConnection, model_name: str, horizon_days: int) -> pd.DataFrame:
    """Per logged (customer, scoring day) whose window [day, day + H) is over by the latest order date: did
    the customer place a purchase order in it (1 = churned for churn, 1 = purchased for propensity)."""
    purchased_label = CLASSIFIERS[model_name]["label_when_purchased"]
    return connection.execute(
        f"""
        with logged as (
            select model_version, scored_at, customer_id, score as probability, {WINDOW_START} as scored_day
            from ml.prediction_log as logged
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


def _record_feature_drift(connection, record: ModelRecord, reference: pd.DataFrame, current: pd.DataFrame,
                          features: list[str], now: datetime, what: str) -> float | None:
    """Feature drift of `current` against `reference` into ml.feature_drift and one monitoring event; the
    drifted share, or None when either side is empty."""
    if not len(current) or not len(reference):
        return None
    drift = feature_drift(reference, current, features=features)
    share = drifted_share(drift)
    _insert(connection, "ml.feature_drift",
            feature_drift_rows(drift, record.model_version, now)[["model_version", "scored_at", "feature", "statistic",
                                                                  "value", "drifted"]])
    drifted = drift.loc[drift["drifted"], "feature"].tolist()
    record_event(connection, model_name=record.model_name, model_version=record.model_version, kind="feature_drift",
                 drift_detected=share >= 0.3, at=now,
                 summary=f"{len(drifted)} of {len(drift)} features drifted ({share:.0%}) against {what}"
                         + (f": {', '.join(drifted[:5])}" if drifted else ""),
                 detail={"drifted_share": share, "drifted": drifted})
    return share


def _write_realised(connection, model_name: str, realised: pd.DataFrame, now: datetime) -> None:
    """Replace the model's rows of ml.realised_performance with `realised` (every closed run, remeasured)."""
    rows = realised.assign(model_name=model_name, measured_at=now)
    connection.execute("delete from ml.realised_performance where model_name = ?", [model_name])
    _insert(connection, "ml.realised_performance", rows[[column for column in REALISED_COLUMNS if column in rows.columns]])


def _record_changes(connection, record: ModelRecord, errors: np.ndarray, now: datetime, what: str) -> bool:
    """ADWIN and Page-Hinkley over the error stream; one performance_drift event either way."""
    detections = detect_changes(errors)
    detected = any(detections.values())
    record_event(connection, model_name=record.model_name, model_version=record.model_version, kind="performance_drift",
                 drift_detected=detected, at=now,
                 summary=f"{len(errors):,} {what}: "
                         + ", ".join(f"{name} {'detected a change at ' + str(points[0]) if points else 'no change'}"
                                     for name, points in detections.items()),
                 detail={"detections": detections, "labelled_outcomes": int(len(errors))})
    return detected


def _per_run(outcomes: pd.DataFrame, measure, predicted: str, outcome: str) -> pd.DataFrame:
    """`measure(predictions, outcomes)` once per scoring run: a customer has one outcome per run, and runs
    differ in their windows."""
    return pd.concat([
        measure(run[["model_version", "scored_at", "customer_id", predicted]], run[["customer_id", outcome]])
        for _, run in outcomes.groupby("scored_at", sort=True)
    ], ignore_index=True)


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
        share = _record_feature_drift(connection, record, prepare_features(reference, record.feature_list),
                                      prepare_features(current, record.feature_list), record.feature_list, now,
                                      "the training rows")
        summary["drifted_share"] = share

    outcomes = _outcomes(connection, model_name, record.horizon_days)
    if outcomes.empty:
        summary["realised"] = "no logged prediction has a closed label window yet"
        return summary
    realised = _per_run(outcomes, realised_classification_performance, "probability", "label")
    _write_realised(connection, model_name, realised, now)
    threshold = float(record.params.get("threshold", 0.5))
    errors = np.concatenate([
        error_stream(run[["customer_id", "probability", "scored_at"]], run[["customer_id", "label"]], threshold=threshold)
        for _, run in outcomes.groupby("scored_at", sort=True)
    ])
    summary["labelled_outcomes"] = int(len(errors))
    summary["performance_drift"] = _record_changes(connection, record, errors, now, "realised predictions")
    return summary


def _closed(alias: str = "logged") -> str:
    """Condition: the logged row's window [start, start + horizon) is over by the latest order date."""
    return (f"{WINDOW_START.replace('logged.', alias + '.')} + {alias}.horizon_days "
            "<= (select latest_order_date from intermediate.int_data_dates_summarized)")


def _revenue_outcomes(connection: duckdb.DuckDBPyConnection, model_name: str, horizon_days: int) -> pd.DataFrame:
    """Per logged (customer, scoring run) with a closed window: the forecast and the net revenue of the
    customer's orders in [start, start + H), 0 without orders (as ml.customer_labels counts revenue)."""
    return connection.execute(
        f"""
        with logged as (
            select model_version, scored_at, customer_id, score as predicted, {WINDOW_START} as window_start, horizon_days
            from ml.prediction_log as logged
            where model_name = ? and horizon_days = ? and {_closed()}
        )
        select logged.model_version, logged.scored_at, logged.customer_id, logged.predicted,
               coalesce(sum(orders.net_revenue), 0) as actual
        from logged
        left join marts.fct_orders as orders
            on orders.customer_id = logged.customer_id
            and orders.ordered_date >= logged.window_start and orders.ordered_date < logged.window_start + logged.horizon_days
        group by all
        order by logged.scored_at, logged.customer_id
        """,
        [model_name, horizon_days],
    ).df()


def monitor_lifetime_value(connection: duckdb.DuckDBPyConnection, model_name: str = "clv_model", *,
                           now: datetime | None = None) -> dict:
    """Lifetime value: drift of the purchase summary (frequency, recency, T, monetary value) today against the
    one the champion was fit on; realised RMSE / MAE / bias of past revenue forecasts whose window closed;
    ADWIN and Page-Hinkley on the stream of misses (a customer's log-error above the 90th percentile of the
    oldest measured run's, see ml.monitoring.exceedance_stream)."""
    from ml.training import purchase_summary

    ensure_run_tables(connection)
    now = now or datetime.now(timezone.utc)
    record = champion(connection, model_name)
    if record is None:
        return {"model": model_name, "summary": "no champion to monitor"}
    summary = {"model": model_name, "model_version": record.model_version}
    orders = connection.execute("select customer_id, ordered_at, net_revenue, is_purchase from marts.fct_orders").df()
    scoring_date = connection.execute("select scoring_as_of_date from intermediate.int_data_dates_summarized").fetchall()[0][0]
    if len(orders) and record.training_window_end is not None:
        ordered_at = pd.to_datetime(orders["ordered_at"])
        orders = orders.assign(ordered_at=ordered_at)

        def at(day) -> pd.DataFrame:
            end = pd.Timestamp(day)
            if ordered_at.dt.tz is not None and end.tz is None:
                end = end.tz_localize(ordered_at.dt.tz)
            return purchase_summary(orders, end).reset_index(drop=True)

        share = _record_feature_drift(connection, record, at(record.training_window_end), at(scoring_date),
                                      LIFETIME_VALUE_FEATURES, now, "the purchase history the champion was fit on")
        summary["drifted_share"] = share

    outcomes = _revenue_outcomes(connection, model_name, record.horizon_days)
    if outcomes.empty:
        summary["realised"] = "no logged forecast has a closed window yet"
        return summary
    realised = _per_run(outcomes, realised_regression_performance, "predicted", "actual")
    _write_realised(connection, model_name, realised, now)
    errors = absolute_log_errors(outcomes["predicted"], outcomes["actual"])
    reference = errors[(outcomes["scored_at"] == outcomes["scored_at"].min()).to_numpy()]
    misses = exceedance_stream(errors, reference, quantile=LIFETIME_VALUE_MISS_QUANTILE)
    summary["labelled_outcomes"] = int(len(misses))
    summary["performance_drift"] = _record_changes(connection, record, misses, now,
                                                   "realised revenue forecasts (miss: log-error above the oldest "
                                                   f"run's {LIFETIME_VALUE_MISS_QUANTILE:.0%} quantile)")
    return summary


def _recommendation_outcomes(connection: duckdb.DuckDBPyConnection, model_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The logged lists whose window has closed, and what those customers bought in each window."""
    closed = f"model_name = ? and {_closed('log')}"
    lists = connection.execute(
        f"select model_version, scored_at, customer_id, rank, product_id from ml.recommendation_log as log where {closed}",
        [model_name]).df()
    purchases = connection.execute(
        f"""
        with logged as (
            select distinct scored_at, customer_id, {WINDOW_START} as window_start, horizon_days
            from ml.recommendation_log as logged where {closed.replace("log.", "logged.")}
        )
        select distinct logged.scored_at, logged.customer_id, items.product_id
        from logged
        inner join marts.fct_order_items as items
            on items.customer_id = logged.customer_id and items.is_purchase_line
            and items.ordered_date >= logged.window_start and items.ordered_date < logged.window_start + logged.horizon_days
        """,
        [model_name]).df()
    return lists, purchases


def monitor_recommender(connection: duckdb.DuckDBPyConnection, model_name: str = "recommender_ranker", *,
                        now: datetime | None = None) -> dict:
    """Recommendations: realised HitRate / Recall / NDCG@10 of the logged lists (the customer panel) against
    what those customers bought in the window after, once it closed; ADWIN and Page-Hinkley on the stream of
    misses (a buyer none of whose 10 products was bought). The ranker's inputs are per candidate, not per
    customer: score drift between runs (logged when scoring) stands for feature drift here."""
    ensure_run_tables(connection)
    now = now or datetime.now(timezone.utc)
    record = champion(connection, model_name)
    if record is None:
        return {"model": model_name, "summary": "no champion to monitor"}
    summary = {"model": model_name, "model_version": record.model_version}
    lists, purchases = _recommendation_outcomes(connection, model_name)
    if lists.empty:
        summary["realised"] = "no logged recommendation list has a closed window yet"
        return summary
    realised = realised_ranking_performance(lists, purchases)
    _write_realised(connection, model_name, realised, now)
    misses = ranking_miss_stream(lists, purchases)
    summary["labelled_outcomes"] = int(len(misses))
    if len(misses) == 0:
        summary["realised"] = "no listed customer bought in a closed window"
        return summary
    summary["performance_drift"] = _record_changes(connection, record, misses, now,
                                                   "realised recommendation lists of buyers (miss: none of the 10 bought)")
    return summary


def monitor_model(connection: duckdb.DuckDBPyConnection, model_name: str, *, now: datetime | None = None) -> dict:
    """Monitor one of MONITORED_MODELS with its own measures."""
    if model_name in CLASSIFIERS:
        return monitor_classifier(connection, model_name, now=now)
    if model_name == "clv_model":
        return monitor_lifetime_value(connection, model_name, now=now)
    if model_name == "recommender_ranker":
        return monitor_recommender(connection, model_name, now=now)
    raise ValueError(f"unknown model {model_name!r}; monitored models are {MONITORED_MODELS}")


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    # information_schema only: a read-only connection must never be asked to create anything
    return bool(connection.execute("select count(*) from information_schema.tables where table_schema = ? "
                                   "and table_name = ?", [schema, table]).fetchall()[0][0])


def sensor_inputs(connection: duckdb.DuckDBPyConnection, model_name: str) -> dict | None:
    """What the drift sensor decides on, for one model: whether the latest monitoring events since the
    champion was trained flag drift, the drifted-feature share, and the labelled outcomes gathered since
    (customers scored since the training whose window has closed; for the recommender, panel customers)."""
    record: ModelRecord | None = champion(connection, model_name)
    if record is None:
        return None
    if not table_exists(connection, "ml", "monitoring_events"):
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
    log = "recommendation_log" if model_name == "recommender_ranker" else "prediction_log"
    outcomes = 0
    if table_exists(connection, "ml", log):
        outcomes = connection.execute(
            f"select count(*) from (select distinct scored_at, customer_id from ml.{log} as logged "
            f"where model_name = ? and scored_at >= ? and {_closed()})",
            [model_name, record.trained_at],
        ).fetchall()[0][0]
    return {
        "model_version": record.model_version,
        "trained_at": record.trained_at,
        "drift_detected": bool(performance[0]),
        "drifted_share": float(features[1].get("drifted_share", 0.0)),
        "new_labelled_outcomes": int(outcomes),
    }
