"""The daily job end to end on small demo data: Dagster runs ingestion and `dbt build`, the marts are
populated, tests pass, PII stops at staging and features are point-in-time correct."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from anticipate.config import SCHEMAS, Settings

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).with_name("dbt"))
PII_COLUMN_NAMES = ("email", "phone", "first_name", "last_name", "full_name", "city", "postal_code", "birth_date", "address")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_warehouse")]

#: A reader process: a new read-only connection per query of the published copy until told to stop; each
#: read records what it saw (or its error) as a JSON line.
PUBLISHED_READER = """
import json, sys, time, duckdb
from pathlib import Path
published, reads, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with open(reads, "w") as out:
    while not stop.exists():
        read = {"error": None}
        try:
            with duckdb.connect(str(published), read_only=True) as connection:
                read["publications"], read["published_at"] = connection.execute(
                    "select count(distinct published_at), cast(max(published_at) as varchar) from _published.manifest").fetchone()
                read["manifest_rows"] = connection.execute(
                    "select row_count from _published.manifest where table_schema = 'predictions' "
                    "and table_name = 'purchase_propensity'").fetchone()[0]
                read["table_rows"] = connection.execute("select count(*) from predictions.purchase_propensity").fetchone()[0]
        except Exception as error:
            read["error"] = repr(error)
        out.write(json.dumps(read) + "\\n")
        out.flush()
        time.sleep(0.2)
"""
# a small search: the tests check the wiring and the tables, not the model's quality (benchmarks do that)
FAST_TRAINING = {"n_iter": 1, "cv_folds": 2, "n_jobs": 1, "time_budget_seconds": 10}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """Generate 400 demo customers, then run the daily job in-process exactly as `anticipate run` does."""
    from anticipate.cli import run_daily_job
    from anticipate.demo_data import generate_demo_data

    root = tmp_path_factory.mktemp("demo")
    landing, warehouse = root / "landing", root / "warehouse" / "anticipate.duckdb"
    summary = generate_demo_data(landing, customers=400, seed=7)
    with pytest.MonkeyPatch.context() as environment:  # the fixture is module-scoped: no monkeypatch fixture
        environment.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        environment.setenv("ANTICIPATE_WAREHOUSE", str(warehouse))
        result = run_daily_job(Settings(landing_dir=landing, warehouse=warehouse), model_training=FAST_TRAINING)
    return result, landing, warehouse, summary


def test_daily_job_succeeds_and_every_dbt_test_passes(demo_run):
    result, _, _, _ = demo_run
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 20, "dbt tests should surface as Dagster asset checks"
    assert [check.check_name for check in checks if not check.passed] == []
    # the scheduled build runs the data tests; dbt's unit tests (fixed inputs) run in `make test` instead
    from anticipate.status import last_dbt_build

    steps = [line for line in last_dbt_build(demo_run[2]).splitlines() if "_dbt_models" in line]
    assert len(steps) == 2 and all("tests pass" in line and "unit test" not in line for line in steps), steps


def test_every_mart_is_populated_and_only_the_six_schemas_exist(demo_run):
    _, _, warehouse, _ = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        schemas = {row[0] for row in connection.execute(
            "select distinct table_schema from information_schema.tables where table_catalog = current_database()"
        ).fetchall()}
        assert schemas <= set(SCHEMAS)
        for table in ("dim_customers", "dim_products", "fct_orders", "fct_order_items", "fct_sessions",
                      "customer_features_snapshot", "customer_features_current", "customer_product_interactions"):
            rows = connection.execute(f"select count(*) from marts.{table}").fetchone()[0]
            assert rows > 0, f"marts.{table} is empty"


def test_dirty_demo_rows_are_quarantined_with_reasons_and_nothing_is_lost(demo_run):
    _, _, warehouse, summary = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        unbalanced = connection.execute(
            "select file, rows_read, rows_loaded, rows_rejected from raw.ingestion_log "
            "where status = 'loaded' and rows_read <> rows_loaded + rows_rejected"
        ).fetchall()
        assert unbalanced == []
        rejected = connection.execute("select count(*) from raw.rejected_rows").fetchone()[0]
        reasons = connection.execute("select count(*) from raw.rejected_rows where coalesce(reason, '') = ''").fetchone()[0]
    assert rejected >= sum(summary.dirty_rows.values()) > 0
    assert reasons == 0


def test_no_pii_column_or_value_after_staging(demo_run):
    _, landing, warehouse, _ = demo_run
    with open(landing / "customers.csv", newline="", encoding="utf-8") as handle:
        people = list(csv.DictReader(handle))
    secrets = {row[column] for row in people for column in ("email", "phone", "last_name") if row.get(column)}
    assert len(secrets) > 100
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        columns = connection.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema in ('intermediate', 'marts', 'ml', 'predictions')"
        ).fetchall()
        # `customer_email` is PII, `email_opens_90d` is not: match whole names and name suffixes.
        leaking_names = [f"{s}.{t}.{c}" for s, t, c, _ in columns
                         if any(c == name or c.endswith(f"_{name}") for name in PII_COLUMN_NAMES)]
        assert leaking_names == []
        for schema, table, column, data_type in columns:
            if data_type != "VARCHAR":
                continue
            found = connection.execute(
                f'select count(*) from "{schema}"."{table}" where "{column}" in (select unnest($secrets))',
                {"secrets": sorted(secrets)},
            ).fetchone()[0]
            assert found == 0, f"{schema}.{table}.{column} holds PII values from customers.csv"


def test_features_as_of_a_date_do_not_change_when_later_data_is_removed(demo_run, tmp_path):
    """Point-in-time: delete every source row dated on/after T, rebuild, and the T rows are identical."""
    _, _, warehouse, _ = demo_run
    copy = tmp_path / "truncated.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        as_of_dates = [row[0] for row in connection.execute(
            "select distinct as_of_date from marts.customer_features_snapshot order by 1"
        ).fetchall()]
        assert len(as_of_dates) >= 6
        cutoff: date = as_of_dates[len(as_of_dates) // 2]
        before = connection.execute(
            "select * from marts.customer_features_snapshot where as_of_date = ? order by customer_id", [cutoff]
        ).fetchall()
        assert len(before) > 50
        connection.execute("set TimeZone = 'UTC'")
        cutoff_sql = f"timestamptz '{cutoff.isoformat()} 00:00:00+00'"
        connection.execute(f"delete from raw.order_items where order_id in (select order_id from raw.orders where ordered_at >= {cutoff_sql})")
        for table, column in (("orders", "ordered_at"), ("web_events", "occurred_at"),
                              ("marketing_interactions", "occurred_at"), ("product_reviews", "reviewed_at"),
                              ("customers", "signup_at")):
            connection.execute(f"delete from raw.{table} where {column} >= {cutoff_sql}")
    # The spine is derived from the data by default; pin it so the truncated build has the same as-of dates.
    step = "week" if (as_of_dates[1] - as_of_dates[0]).days == 7 else "month"
    spine = json.dumps({"snapshot_start": as_of_dates[0].isoformat(), "snapshot_end": as_of_dates[-1].isoformat(), "snapshot_step": step})
    env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(copy), "DBT_PROFILES_DIR": str(REPOSITORY_ROOT)}
    build = subprocess.run(
        [DBT, "build", "--project-dir", str(REPOSITORY_ROOT), "--target-path", str(tmp_path / "target"),
         "--select", "+customer_features_snapshot", "--exclude-resource-type", "test", "unit_test", "--vars", spine],
        cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as connection:
        after = connection.execute(
            "select * from marts.customer_features_snapshot where as_of_date = ? order by customer_id", [cutoff]
        ).fetchall()
    assert len(after) == len(before)
    for row_after, row_before in zip(after, before):
        assert row_after[0] == row_before[0]
        for value_after, value_before in zip(row_after, row_before):
            if isinstance(value_before, float) and isinstance(value_after, float):
                # sums over a different number of rows may round differently in the last bits
                assert math.isclose(value_after, value_before, rel_tol=1e-9, abs_tol=1e-9), row_before[0]
            else:
                assert value_after == value_before, row_before[0]


# --------------------------------------------------------------------------------------------------
# Models and predictions (issue 3): the same run trained, registered and scored every model.

ONE_ROW_PER_CUSTOMER_OF = {
    # table -> the customers it must hold exactly once, from marts.customer_features_current
    "predictions.churn_scores": "not is_placeholder and purchase_orders_365d > 0",
    "predictions.purchase_propensity": "not is_placeholder",
    "predictions.customer_lifetime_value": "not is_placeholder and purchase_orders_lifetime > 0",
}


def test_prediction_tables_have_the_published_columns_and_one_row_per_customer_of_their_population(demo_run):
    from ml.prediction_tables import PREDICTION_TABLES, described_columns

    _, _, warehouse, _ = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table, columns in PREDICTION_TABLES.items():
            assert described_columns(connection, table) == columns, table
            if table not in ONE_ROW_PER_CUSTOMER_OF:
                continue  # the recommender's tables: test_every_known_customer_gets_ten_active_products_with_reasons
            population = connection.execute(
                f"select list(customer_id order by customer_id) from marts.customer_features_current "
                f"where {ONE_ROW_PER_CUSTOMER_OF[table]}"
            ).fetchone()[0]
            scored = connection.execute(f"select list(customer_id order by customer_id) from {table}").fetchone()[0]
            assert len(population) > 50, table
            assert scored == population, table
            versions = connection.execute(f"select count(distinct model_version), count(distinct scored_at) from {table}").fetchone()
            assert versions == (1, 1), table


def test_prediction_values_are_in_range_and_explained(demo_run):
    _, _, warehouse, _ = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        churn = connection.execute(
            "select min(churn_probability), max(churn_probability), count(distinct risk_band), "
            "count(*) filter (where json_array_length(top_drivers) <> 3) from predictions.churn_scores"
        ).fetchone()
        assert 0 <= churn[0] < churn[1] <= 1 and churn[2] >= 2 and churn[3] == 0
        driver = connection.execute("select top_drivers->0 from predictions.churn_scores limit 1").fetchone()[0]
        assert set(json.loads(driver)) == {"feature", "value", "shap", "effect"}
        propensity = connection.execute(
            "select min(probability), max(probability), min(horizon_days), max(horizon_days) from predictions.purchase_propensity"
        ).fetchone()
        assert 0 <= propensity[0] < propensity[1] <= 1 and propensity[2:] == (30, 30)
        clv = connection.execute(
            "select min(expected_purchases), min(p_alive), max(p_alive), sum(expected_revenue), min(horizon_days) "
            "from predictions.customer_lifetime_value"
        ).fetchone()
        assert clv[0] >= 0 and 0 <= clv[1] <= clv[2] <= 1 and clv[3] > 0 and clv[4] == 90
        wide = connection.execute(
            "select count(*), count(churn_probability), count(purchase_probability), count(expected_revenue) "
            "from predictions.customer_predictions"
        ).fetchone()
        assert wide[0] == wide[2] > wide[1] > 0 and wide[3] > 0


def test_every_model_is_registered_once_as_champion_with_metrics_beside_baselines_and_a_report(demo_run):
    _, _, warehouse, _ = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        registry = connection.execute(
            "select model_name, model_version, status, artifact_path, report_path, training_rows, "
            "json_array_length(feature_list) from ml.model_registry order by model_name"
        ).fetchall()
        assert [row[0] for row in registry] == ["churn_model", "clv_model", "propensity_model", "recommender_ranker"]
        for name, version, status, artifact, report, rows, features in registry:
            assert status == "champion" and version.startswith(f"{name}-") and Path(artifact).is_file()
            card = Path(artifact).parent / "model_card.html"
            assert card.is_file() and version in card.read_text(encoding="utf-8")
            if name == "recommender_ranker":
                assert "LambdaRank" in card.read_text(encoding="utf-8")
                continue  # its evidence is the metrics table and the card; no HTML report
            assert Path(report).is_file() and rows > 0 and features > 0
            html = Path(report).read_text(encoding="utf-8")
            assert all((Path(report).parent / image).is_file() for image in ("roc.png", "metrics_vs_baselines.png")) \
                or name == "clv_model"
            assert version in html
        baselines = dict(connection.execute(
            "select model_name, list(distinct baseline_name order by baseline_name) from ml.model_metrics "
            "where split = 'holdout' and baseline_name is not null group by 1"
        ).fetchall())
        assert baselines["churn_model"] == ["baseline: RFM logistic regression", "baseline: days since last purchase"]
        assert baselines["propensity_model"] == ["baseline: recent frequency rate (90 d)"]
        assert "baseline: predict zero" in baselines["clv_model"]
        assert baselines["recommender_ranker"] == ["baseline: GP-TopFreq", "baseline: global popularity"]
        importance = connection.execute(
            "select model_name, count(*), min(importance_rank) from ml.feature_importance group by 1 order by 1"
        ).fetchall()
        assert [(name, rank) for name, _, rank in importance] == [("churn_model", 1), ("propensity_model", 1),
                                                                  ("recommender_ranker", 1)]


def test_short_history_keeps_the_champion_and_scoring_still_uses_it(demo_run, tmp_path):
    """A horizon the history cannot support: the training step says so, the champion stays, the run succeeds."""
    import dagster as dg

    from orchestration.model_assets import churn_model, churn_scores
    from orchestration.resources import AnticipateSettings, ModelTraining

    _, landing, warehouse, _ = demo_run
    copy = tmp_path / "anticipate.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy), read_only=True) as connection:
        before = connection.execute("select model_version from ml.model_registry where model_name = 'churn_model'").fetchall()
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        (tmp_path / "dagster_home").mkdir()
        result = dg.materialize(
            [churn_model, churn_scores],
            resources={
                "settings": AnticipateSettings(landing_dir=str(landing), warehouse=str(copy)),
                "model_training": ModelTraining(**FAST_TRAINING, min_train_dates=1000, force=True),
            },
        )
    assert result.success
    trained = result.asset_materializations_for_node("churn_model")[0].metadata
    assert trained["trained"].value is False and "need at least 1000" in trained["reason"].value
    with duckdb.connect(str(copy), read_only=True) as connection:
        after = connection.execute("select model_version, status from ml.model_registry where model_name = 'churn_model'").fetchall()
        scored_by = connection.execute("select distinct model_version from predictions.churn_scores").fetchall()
    assert after == [(before[0][0], "champion")]
    assert scored_by == before


def test_a_second_daily_run_scores_with_the_fresh_champions_instead_of_retraining(demo_run, tmp_path):
    from anticipate.cli import run_daily_job

    _, landing, warehouse, _ = demo_run
    copy = tmp_path / "warehouse" / "anticipate.duckdb"
    copy.parent.mkdir()
    shutil.copy(warehouse, copy)
    published = copy.parent / "published" / "anticipate.duckdb"
    published.parent.mkdir()
    shutil.copy(warehouse.parent / "published" / "anticipate.duckdb", published)
    # a BI reader in another process queries the published copy the whole time the run writes and publishes
    reads, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", PUBLISHED_READER, str(published), str(reads), str(stop)])
    try:
        with pytest.MonkeyPatch.context() as environment:
            environment.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
            environment.setenv("ANTICIPATE_WAREHOUSE", str(copy))
            result = run_daily_job(Settings(landing_dir=landing, warehouse=copy), model_training=FAST_TRAINING)
        # the publication is the run's last step: give the reader time to open the new copy once
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({json.loads(line).get("published_at")
                                                   for line in reads.read_text().splitlines()}) < 2:
            time.sleep(0.2)
    finally:
        stop.touch()
        reader.wait(timeout=30)
    assert result.success
    assert reader.returncode == 0
    observed = [json.loads(line) for line in reads.read_text().splitlines()]
    assert len(observed) > 20 and all(read["error"] is None for read in observed), observed[-1]
    # every read saw one whole publication: the manifest's row count of the table matches the table's rows
    assert all(read["manifest_rows"] == read["table_rows"] and read["publications"] == 1 for read in observed)
    assert len({read["published_at"] for read in observed}) == 2  # the old publication, then the new one
    for name in ("churn_model", "propensity_model", "clv_model", "recommender_ranker"):
        metadata = result.asset_materializations_for_node(name)[0].metadata
        assert metadata["trained"].value is False and "retrain_after_days" in metadata["reason"].value
    with duckdb.connect(str(copy), read_only=True) as connection:
        assert connection.execute("select count(*) from ml.model_registry").fetchone()[0] == 4
    published = copy.parent / "published" / "anticipate.duckdb"
    with duckdb.connect(str(published), read_only=True) as connection:
        tables = {row[0] for row in connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
        assert {"marts.dim_customers", "predictions.churn_scores", "predictions.customer_predictions",
                "ml.model_registry"} <= tables
        assert not any(name.startswith(("raw.", "staging.")) for name in tables)
        assert connection.execute("select count(*) from predictions.purchase_propensity").fetchone()[0] > 50


def test_monitoring_measures_closed_prediction_windows_and_the_sensor_decides_on_drift(demo_run, tmp_path):
    """Predictions logged 60 days before the data ends have a closed 30-day window: their realised
    performance is measured against a recount of orders, and the drift sensor acts on the findings."""
    import dagster as dg

    from ml.monitoring_runs import monitor_classifier
    from orchestration.monitoring import drift_retraining_sensor
    from orchestration.resources import AnticipateSettings, ModelTraining

    _, landing, warehouse, _ = demo_run
    copy = tmp_path / "anticipate.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        version = connection.execute(
            "select model_version from ml.model_registry where model_name = 'propensity_model' and status = 'champion'"
        ).fetchone()[0]
        connection.execute(
            """
            insert into ml.prediction_log (model_name, model_version, scored_at, customer_id, horizon_days, score)
            select 'propensity_model', model_version,
                   cast((select latest_order_date from intermediate.int_data_dates_summarized) - 60 as timestamptz),
                   customer_id, 30, probability
            from predictions.purchase_propensity
            """
        )
        logged = connection.execute("select count(*) from predictions.purchase_propensity").fetchone()[0]
        bought = connection.execute(
            """
            select count(distinct p.customer_id) from predictions.purchase_propensity p
            join marts.fct_orders o on o.customer_id = p.customer_id and o.is_purchase
            where o.ordered_date >= (select latest_order_date - 60 from intermediate.int_data_dates_summarized)
              and o.ordered_date < (select latest_order_date - 30 from intermediate.int_data_dates_summarized)
            """
        ).fetchone()[0]
        summary = monitor_classifier(connection, "propensity_model")
        assert summary["labelled_outcomes"] == logged
        n, positive_rate, roc = connection.execute(
            "select n, positive_rate, roc_auc from ml.realised_performance where model_name = 'propensity_model'"
        ).fetchone()
        assert n == logged and positive_rate == pytest.approx(bought / logged) and 0 <= roc <= 1
        kinds = {row[0] for row in connection.execute(
            "select distinct kind from ml.monitoring_events where model_name = 'propensity_model'").fetchall()}
        assert {"feature_drift", "performance_drift"} <= kinds

    def evaluate(**training):
        resources = {"settings": AnticipateSettings(landing_dir=str(landing), warehouse=str(copy)),
                     "model_training": ModelTraining(**training)}
        with dg.build_sensor_context(resources=resources) as context:
            return drift_retraining_sensor(context)

    # the logged outcomes predate the champion's training: nothing new to learn from, whatever the drift
    quiet = evaluate()
    assert isinstance(quiet, dg.SkipReason)
    with duckdb.connect(str(copy)) as connection:
        connection.execute(
            "insert into ml.monitoring_events values (now(), 'propensity_model', ?, 'performance_drift', true, "
            "'ADWIN detected a change', '{}')", [version])
        # a champion trained long before those predictions: their outcomes are new labelled evidence
        connection.execute("update ml.model_registry set trained_at = trained_at - interval 400 day "
                           "where model_name = 'propensity_model'")
    fired = evaluate(drift_min_new_outcomes=10)
    assert isinstance(fired, dg.RunRequest)
    assert "propensity_model" in fired.tags["anticipate/reason"]
    with duckdb.connect(str(copy), read_only=True) as connection:
        decisions = connection.execute(
            "select drift_detected, summary from ml.monitoring_events where kind = 'sensor_decision' and model_name = "
            "'propensity_model' order by event_at").fetchall()
    assert [fire for fire, _ in decisions] == [False, True]


def test_lifetime_value_and_recommendations_are_measured_once_their_windows_close(demo_run, tmp_path):
    """Forecasts and lists logged as of a day whose window has closed: realised RMSE and HitRate@10 equal a
    recount from the marts, change detection runs on their misses, and the sensor counts their outcomes."""
    import pandas as pd

    from ml.model_card import write_model_card
    from ml.monitoring_runs import monitor_model, sensor_inputs

    _, _, warehouse, _ = demo_run
    copy = tmp_path / "anticipate.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        latest = connection.execute("select latest_order_date from intermediate.int_data_dates_summarized").fetchone()[0]
        clv_horizon = connection.execute("select horizon_days from ml.model_registry where model_name = 'clv_model'").fetchone()[0]
        clv_start, list_start = latest - pd.Timedelta(days=clv_horizon + 5), latest - pd.Timedelta(days=20)
        connection.execute(
            """
            insert into ml.prediction_log (model_name, model_version, scored_at, customer_id, horizon_days, score, as_of_date)
            select 'clv_model', model_version, now(), customer_id, horizon_days, expected_revenue, ?
            from predictions.customer_lifetime_value
            """, [clv_start])
        connection.execute(
            """
            insert into ml.recommendation_log
            select 'recommender_ranker', model_version, now(), ?, 14, customer_id, rank, product_id, score
            from predictions.next_best_products
            """, [list_start])
        forecasts = connection.execute(
            """
            select f.customer_id, f.expected_revenue as predicted, coalesce(sum(o.net_revenue), 0) as actual
            from predictions.customer_lifetime_value f
            left join marts.fct_orders o on o.customer_id = f.customer_id
                and o.ordered_date >= ? and o.ordered_date < ? + f.horizon_days
            group by all
            """, [clv_start, clv_start]).df()
        lists = connection.execute("select customer_id, list(product_id order by rank) as products "
                                   "from predictions.next_best_products group by 1").df()
        bought = connection.execute(
            "select customer_id, list(distinct product_id) as products from marts.fct_order_items "
            "where is_purchase_line and ordered_date >= ? and ordered_date < ? + 14 group by 1",
            [list_start, list_start]).df()

        clv = monitor_model(connection, "clv_model")
        recommender = monitor_model(connection, "recommender_ranker")
        realised = {row[0]: row[1:] for row in connection.execute(
            "select model_name, n, rmse, mean_actual, hit_rate_at_10, positive_rate from ml.realised_performance").fetchall()}
        events = {(row[0], row[1]) for row in connection.execute(
            "select model_name, kind from ml.monitoring_events").fetchall()}
        card = write_model_card(connection, "recommender_ranker", tmp_path / "card")[0].read_text(encoding="utf-8")
        connection.execute("update ml.model_registry set trained_at = trained_at - interval 400 day")
        inputs = {name: sensor_inputs(connection, name) for name in ("clv_model", "recommender_ranker")}

    rmse = math.sqrt(((forecasts["predicted"] - forecasts["actual"]) ** 2).mean())
    n, measured_rmse, mean_actual, _, _ = realised["clv_model"]
    assert n == len(forecasts) == clv["labelled_outcomes"] > 0
    assert measured_rmse == pytest.approx(rmse) and mean_actual == pytest.approx(forecasts["actual"].mean())
    truth = dict(zip(bought["customer_id"], map(set, bought["products"])))
    buyers = [customer for customer in lists["customer_id"] if customer in truth]
    hits = [bool(set(products) & truth[customer]) for customer, products in zip(lists["customer_id"], lists["products"])
            if customer in truth]
    n, _, _, hit_rate, positive_rate = realised["recommender_ranker"]
    assert buyers, "some listed customer should buy in a 14-day window of the demo shop"
    assert n == len(lists) and positive_rate == pytest.approx(len(buyers) / len(lists))
    assert hit_rate == pytest.approx(sum(hits) / len(hits)) and recommender["labelled_outcomes"] == len(buyers)
    assert {("clv_model", "feature_drift"), ("clv_model", "performance_drift"),
            ("recommender_ranker", "performance_drift")} <= events
    # the recommender's card shows the realised lists beside the holdout
    assert "| HitRate@10 |" in card and f"| {hit_rate:.3f} |" in card
    assert inputs["clv_model"]["new_labelled_outcomes"] == len(forecasts)
    assert inputs["recommender_ranker"]["new_labelled_outcomes"] == len(lists)


def test_every_known_customer_gets_ten_active_products_with_reasons(demo_run):
    _, _, warehouse, _ = demo_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        customers = connection.execute("select count(*) from marts.dim_customers where not is_placeholder").fetchone()[0]
        lists = connection.execute(
            "select count(distinct customer_id), count(*), max(\"rank\"), count(distinct reason) from predictions.next_best_products"
        ).fetchone()
        assert lists[0] == customers and lists[1] == 10 * customers and lists[2] == 10 and lists[3] > 3
        inactive = connection.execute(
            "select count(*) from predictions.next_best_products join marts.dim_products using (product_id) where not is_active"
        ).fetchone()[0]
        assert inactive == 0
        reasons = {row[0].split(" ")[0] for row in connection.execute(
            "select distinct reason from predictions.next_best_products").fetchall()}
        assert {"bought", "popular"} <= reasons
        similar = connection.execute(
            "select count(*), count(*) filter (where product_id = similar_product_id), max(score) <= 1.000001 "
            "from predictions.similar_products").fetchone()
        assert similar[0] > 0 and similar[1] == 0 and similar[2]
