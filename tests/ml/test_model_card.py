"""Model cards: what a business reader relies on, from registry rows written the way training writes them."""

from __future__ import annotations

import os
import stat
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.model_card import HTML_NAME, MARKDOWN_NAME, RetrainingPolicy, compare_metric, write_model_card
from ml.monitoring import ensure_monitoring_tables
from ml.monitoring_runs import ensure_run_tables, record_event
from ml.registry import MetricRow, ModelRecord, register_model

TRAINED_AT = datetime(2026, 5, 4, 6, 30, tzinfo=timezone.utc)
CHURN_FEATURES = ["days_since_last_purchase", "sessions_90d", "top_category", "average_session_minutes_90d"]
SECTIONS = ("Purpose", "Owner", "Version", "Training window", "Horizon", "Features", "Assumptions and limits",
            "Metrics against baselines on the holdout", "Top 10 features by mean |SHAP|", "Drift status",
            "Status history", "Retraining schedule", "Detailed report")


def churn_record(tmp_path: Path, version: str = "churn_model-aaaaaaaaaaaa", *, trained_at: datetime = TRAINED_AT,
                 features: list[str] = CHURN_FEATURES) -> ModelRecord:
    report = tmp_path / "models" / "churn_model" / f"{version}_report" / "index.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<html>report</html>")
    return ModelRecord(
        model_name="churn_model", model_version=version, trained_at=trained_at, horizon_days=90,
        artifact_path=str(tmp_path / "models" / "churn_model" / f"{version}.joblib"),
        training_window_start=date(2025, 1, 1), training_window_end=date(2026, 1, 30),
        train_as_of_dates=["2025-01-01", "2025-06-01", "2025-11-01"], holdout_as_of_date=date(2026, 2, 1),
        training_rows=12_345, feature_list=features, params={"threshold": 0.4}, report_path=str(report),
        status_reason="promoted: no champion metric to compare with; challenger 0.8000",
    )


CHURN_METRICS = [
    MetricRow("holdout", "roc_auc", 0.80, "baseline: RFM logistic regression", 0.70),
    MetricRow("holdout", "roc_auc", 0.80, "baseline: days since last purchase", 0.85),
    MetricRow("holdout", "brier", 0.20, "baseline: RFM logistic regression", 0.15),
    MetricRow("holdout", "log_loss", 0.40, "baseline: RFM logistic regression", 0.55),
    MetricRow("holdout", "f1", 0.60, "baseline: RFM logistic regression", 0.60),
    MetricRow("holdout", "samples", 4_000.0),
    MetricRow("cross_validation", "roc_auc", 0.79),
]
CHURN_IMPORTANCE = pd.Series({
    **{f"numeric__feature_{i:02d}": 0.01 * i for i in range(1, 12)},
    "numeric__sessions_90d": 1.5,
    "numeric__missingindicator_average_session_minutes_90d": 0.9,
    "onehot__top_category_home & kitchen": 0.7,
})


@pytest.fixture
def warehouse(tmp_path) -> Path:
    """A warehouse with a churn champion and a CLV champion, their metrics and the churn SHAP importance."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        register_model(connection, churn_record(tmp_path), CHURN_METRICS, CHURN_IMPORTANCE)
        clv = ModelRecord(
            model_name="clv_model", model_version="clv_model-cccccccccccc", trained_at=TRAINED_AT, horizon_days=90,
            artifact_path=str(tmp_path / "clv.joblib"), training_window_start=date(2024, 11, 1),
            training_window_end=date(2026, 5, 1), train_as_of_dates=[], holdout_as_of_date=date(2026, 2, 1),
            training_rows=900, feature_list=["frequency", "recency", "T", "monetary_value"],
        )
        register_model(connection, clv, [
            MetricRow("holdout", "rmse", 100.0, "baseline: historical average x horizon", 120.0),
            MetricRow("holdout", "rmse", 100.0, "alternative: LightGBM regressor (tuned)", 90.0),
            MetricRow("holdout", "aggregate_error", -0.05, "baseline: historical average x horizon", 0.30),
            MetricRow("holdout", "predicted_total", 950.0, "baseline: predict zero", 0.0),
            MetricRow("holdout", "predicted_total", 950.0, "alternative: LightGBM regressor (tuned)", 1_020.0),
            MetricRow("holdout", "actual_total", 1_000.0),
        ])
    return path


def read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def section(markdown: str, heading: str) -> str:
    """The Markdown under `## heading` up to the next second-level heading."""
    start = markdown.index(f"## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:] if end == -1 else markdown[start:end]


def table_row(markdown: str, *cells: str) -> list[str]:
    """The cells of the one table row containing every given cell text."""
    rows = [line for line in markdown.splitlines()
            if line.startswith("| ") and all(f"| {cell} |" in line for cell in cells)]
    assert len(rows) == 1, f"expected one row with {cells}, got {rows}"
    return [cell.strip() for cell in rows[0].strip("|").split(" | ")]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(html_text: str) -> _Collector:
    collector = _Collector()
    collector.feed(html_text)
    return collector


# ------------------------------------------------------------------------------------------- content


def test_the_card_has_every_section_in_both_formats(warehouse, tmp_path):
    cards = tmp_path / "cards"
    with read_only(warehouse) as connection:
        markdown_path, html_path = write_model_card(connection, "churn_model", cards, owner="Retention analytics")
    assert (markdown_path, html_path) == (cards / MARKDOWN_NAME, cards / HTML_NAME)
    markdown, page = markdown_path.read_text(), html_path.read_text()
    html_text = " ".join(parsed(page).text)
    for heading in SECTIONS:
        assert f"\n## {heading}\n" in markdown.replace("\\|", "|")
        assert f"<h2>{heading}</h2>" in page
    assert "place no further order in the next 90 days" in section(markdown, "Purpose")
    assert "place no further order in the next 90 days" in html_text
    assert "Retention analytics" in section(markdown, "Owner")
    version = section(markdown, "Version")
    assert "`churn_model-aaaaaaaaaaaa`" in version and "Trained at: 2026-05-04 06:30 UTC" in version
    window = section(markdown, "Training window")
    assert "2025-01-01 to 2026-01-30" in window
    assert "3, from 2025-01-01 to 2025-11-01" in window and "Holdout as-of date: 2026-02-01" in window
    assert "Training rows: 12,345" in window
    assert "90 days" in section(markdown, "Horizon")
    features = section(markdown, "Features")
    assert all(f"- `{feature}`" in features for feature in CHURN_FEATURES)
    assumptions = section(markdown, "Assumptions and limits")
    for phrase in ("Point-in-time features", "Labels come from the 90 days after each as-of date",
                   "365 days before the scoring day", "Time-based holdout", "(2026-02-01)"):
        assert phrase in assumptions
    schedule = section(markdown, "Retraining schedule")
    assert "05:00 UTC" in schedule and "Mondays at 07:00 UTC" in schedule
    assert "retrain_after_days = 7" in schedule and "due on 2026-05-11" in schedule
    assert "Drift sensor (checks hourly)" in schedule


def test_the_report_link_resolves_from_the_card(warehouse, tmp_path):
    cards = tmp_path / "elsewhere" / "cards"
    with read_only(warehouse) as connection:
        markdown_path, html_path = write_model_card(connection, "churn_model", cards)
    links = [attrs["href"] for tag, attrs in parsed(html_path.read_text()).tags if tag == "a"]
    assert len(links) == 1
    report = (cards / links[0]).resolve()
    assert report == (tmp_path / "models" / "churn_model" / "churn_model-aaaaaaaaaaaa_report" / "index.html").resolve()
    assert report.read_text() == "<html>report</html>"
    assert f"](<{links[0]}>)" in section(markdown_path.read_text(), "Detailed report")


def test_metrics_are_marked_better_or_worse_in_each_metrics_direction(warehouse, tmp_path):
    with read_only(warehouse) as connection:
        churn_md = write_model_card(connection, "churn_model", tmp_path / "churn")[0].read_text()
        clv_md = write_model_card(connection, "clv_model", tmp_path / "clv")[0].read_text()
    metrics = section(churn_md, "Metrics against baselines on the holdout")
    # higher ROC-AUC than one baseline, lower than the other
    assert table_row(metrics, "`roc_auc`", "baseline: RFM logistic regression")[-1] == "better"
    assert table_row(metrics, "`roc_auc`", "baseline: days since last purchase")[-1] == "**worse**"
    # a higher Brier score and a lower log-loss: lower is better for both
    assert table_row(metrics, "`brier`")[-1] == "**worse**"
    assert table_row(metrics, "`log_loss`")[-1] == "better"
    assert table_row(metrics, "`f1`")[-1] == "tie"
    assert "better in 2 of 5 comparisons, worse in 2, tied in 1" in metrics
    assert "Holdout customers: 4,000" in metrics
    assert "ROC-AUC in cross-validation while tuning (training dates only): 0.790" in metrics

    clv = section(clv_md, "Metrics against baselines on the holdout")
    assert table_row(clv, "`rmse`", "baseline: historical average x horizon")[-1] == "better"
    assert table_row(clv, "`rmse`", "alternative: LightGBM regressor (tuned)")[-1] == "**worse**"
    assert table_row(clv, "`aggregate_error`")[2:] == ["-5.0%", "baseline: historical average x horizon", "+30.0%",
                                                       "better"]
    # a forecast total of 950 against 1,000 actual beats predict-zero and loses to 1,020
    assert table_row(clv, "`predicted_total`", "baseline: predict zero")[-1] == "better"
    assert table_row(clv, "`predicted_total`", "alternative: LightGBM regressor (tuned)")[-1] == "**worse**"


@pytest.mark.parametrize(("metric", "model", "comparator", "expected"), [
    ("roc_auc", 0.8, 0.7, "better"),
    ("roc_auc", 0.7, 0.8, "worse"),
    ("rmse", 90.0, 100.0, "better"),
    ("rmse", 110.0, 100.0, "worse"),
    ("brier", 0.1, 0.1, "tie"),
    ("aggregate_error", -0.1, 0.2, "better"),
    ("aggregate_error", 0.3, -0.2, "worse"),
    ("spearman", 0.5, float("nan"), "n/a"),
    ("mae", None, 3.0, "n/a"),
    ("samples", 10.0, 5.0, ""),
])
def test_compare_metric_follows_the_metrics_direction(metric, model, comparator, expected):
    assert compare_metric(metric, model, comparator) == expected


def test_predicted_total_is_judged_by_its_distance_to_the_actual_total():
    assert compare_metric("predicted_total", 95.0, 120.0, actual_total=100.0) == "better"
    assert compare_metric("predicted_total", 80.0, 110.0, actual_total=100.0) == "worse"
    assert compare_metric("predicted_total", 80.0, 110.0) == ""


def test_top_features_are_the_ten_largest_mean_abs_shap_in_readable_names(warehouse, tmp_path):
    with read_only(warehouse) as connection:
        markdown = write_model_card(connection, "churn_model", tmp_path / "cards")[0].read_text()
    top = section(markdown, "Top 10 features by mean |SHAP|")
    ranks = [line for line in top.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(ranks) == 10
    assert table_row(top, "1") == ["1", "`sessions_90d`", "1.500"]
    assert table_row(top, "2") == ["2", "`average_session_minutes_90d` is missing", "0.900"]
    assert table_row(top, "3") == ["3", "`top_category` = home \\& kitchen", "0.700"]
    # 11 filler features at 0.01..0.11: the 7 largest make the top 10, the rest are left out
    assert "`feature_05`" in top and "`feature_04`" not in top


def test_a_model_without_importance_says_so(warehouse, tmp_path):
    with read_only(warehouse) as connection:
        markdown = write_model_card(connection, "clv_model", tmp_path / "cards")[0].read_text()
    assert "No feature importance is recorded" in section(markdown, "Top 10 features by mean |SHAP|")
    assumptions = section(markdown, "Assumptions and limits")
    assert "BG/NBD" in assumptions and "Gamma-Gamma" in assumptions and "gamma distribution" in assumptions
    assert "needs no labels to fit" in assumptions
    # lifetime value is watched by the drift sensor like every monitored model
    assert "Drift sensor (checks hourly)" in section(markdown, "Retraining schedule")
    assert "RMSE is at most 2% higher" in section(markdown, "Retraining schedule")


def test_owner_purpose_and_policy_are_the_callers(warehouse, tmp_path):
    policy = RetrainingPolicy(retrain_after_days=3, drift_min_new_outcomes=1_000)
    with read_only(warehouse) as connection:
        markdown = write_model_card(connection, "churn_model", tmp_path / "cards", owner="CRM team",
                                    purpose="Decides who gets the winback voucher.", policy=policy)[0].read_text()
    assert section(markdown, "Purpose").splitlines()[2] == "Decides who gets the winback voucher."
    assert "CRM team" in section(markdown, "Owner")
    schedule = section(markdown, "Retraining schedule")
    assert "retrain_after_days = 3" in schedule and "due on 2026-05-07" in schedule and "1,000 new outcomes" in schedule


def test_status_history_lists_every_change_newest_first(warehouse, tmp_path):
    with duckdb.connect(str(warehouse)) as connection:
        register_model(connection, churn_record(tmp_path, "churn_model-bbbbbbbbbbbb",
                                                trained_at=TRAINED_AT + timedelta(days=7)), CHURN_METRICS)
    with read_only(warehouse) as connection:
        markdown = write_model_card(connection, "churn_model", tmp_path / "cards")[0].read_text()
    history = [line for line in section(markdown, "Status history").splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[:2] for row in history] == [
        ["| `churn_model-bbbbbbbbbbbb`", "champion"],
        ["| `churn_model-aaaaaaaaaaaa`", "retired"],
        ["| `churn_model-aaaaaaaaaaaa`", "champion"],
    ]
    assert "replaced by churn\\_model-bbbbbbbbbbbb" not in history[1]  # intraword underscores stay readable
    assert "replaced by churn_model-bbbbbbbbbbbb" in history[1]
    assert "`churn_model-bbbbbbbbbbbb`" in section(markdown, "Version")


# ------------------------------------------------------------------------------------------- escaping


def test_text_from_the_warehouse_is_escaped_in_html_and_markdown(tmp_path):
    hostile = "<script>alert('x')</script>"
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        register_model(
            connection, churn_record(tmp_path, features=[hostile, "spend | share", "*bold*"]),
            [MetricRow("holdout", "roc_auc", 0.8, "baseline: a | b <img src=x onerror=alert(1)>", 0.7)],
        )
    with read_only(path) as connection:
        markdown_path, html_path = write_model_card(connection, "churn_model", tmp_path / "cards",
                                                    owner="R&D <team@example.com>")
    page = html_path.read_text()
    document = parsed(page)
    assert [tag for tag, _ in document.tags if tag in ("script", "img", "iframe", "object", "link")] == []
    assert not any(name.startswith("on") for _, attrs in document.tags for name in attrs)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "R&amp;D &lt;team@example.com&gt;" in page
    # the browser shows the text exactly as stored
    text = "".join(document.text)
    assert hostile in text and "baseline: a | b <img src=x onerror=alert(1)>" in text
    assert "default-src 'none'" in page  # no script runs and nothing is fetched, whatever a value says

    markdown = markdown_path.read_text()
    assert "R\\&D \\<team@example.com\\>" in section(markdown, "Owner")
    row = table_row(markdown, "`roc_auc`")
    assert len(row) == 6 and row[3] == "baseline: a \\| b \\<img src=x onerror=alert(1)\\>"


def test_markdown_renders_back_to_the_stored_text(tmp_path):
    markdown_it = pytest.importorskip("markdown_it")
    hostile = "<b>bold</b> & *stars* | [link](http://example.com) _under_"
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        register_model(connection, churn_record(tmp_path),
                       [MetricRow("holdout", "roc_auc", 0.8, hostile, 0.7)])
    with read_only(path) as connection:
        markdown_path, _ = write_model_card(connection, "churn_model", tmp_path / "cards", owner=hostile,
                                            purpose="- not a list item")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough").render(
        markdown_path.read_text())
    document = parsed(rendered)
    assert [tag for tag, _ in document.tags if tag in ("b", "em", "script", "del")] == []
    # the one link is the card's own, to the report
    assert [attrs["href"] for tag, attrs in document.tags if tag == "a"] == ["../models/churn_model/"
                                                                             "churn_model-aaaaaaaaaaaa_report/index.html"]
    text = "".join(document.text)
    assert text.count(hostile) == 2  # the owner paragraph and the comparator cell
    assert "- not a list item" in text
    purpose = rendered[rendered.index("<h2>Purpose</h2>"):rendered.index("<h2>Owner</h2>")]
    assert "<ul>" not in purpose


# ------------------------------------------------------------------------------------------- monitoring


def test_without_monitoring_tables_drift_is_not_measured_yet_and_nothing_is_created(warehouse, tmp_path):
    with read_only(warehouse) as connection:
        before = connection.execute("select table_name from information_schema.tables order by 1").fetchall()
        markdown = write_model_card(connection, "churn_model", tmp_path / "cards")[0].read_text()
        after = connection.execute("select table_name from information_schema.tables order by 1").fetchall()
    assert before == after and ("monitoring_events",) not in after
    drift = section(markdown, "Drift status")
    assert "**Not measured yet.**" in drift
    assert "Feature drift: not measured yet" in drift and "Realised performance: not measured yet" in drift
    assert "Latest drift-sensor decision: none yet." in drift


def test_drift_status_reports_the_latest_monitoring_findings(warehouse, tmp_path):
    version = "churn_model-aaaaaaaaaaaa"
    earlier, latest = datetime(2026, 5, 10, 5, tzinfo=timezone.utc), datetime(2026, 5, 11, 5, tzinfo=timezone.utc)
    with duckdb.connect(str(warehouse)) as connection:
        ensure_monitoring_tables(connection)
        ensure_run_tables(connection)
        drift_rows = [
            # yesterday every feature drifted; today two of four: the card shows today's
            *[(version, earlier, feature, "psi", 0.5, True) for feature in CHURN_FEATURES],
            (version, latest, "days_since_last_purchase", "psi", 0.31, True),
            (version, latest, "days_since_last_purchase", "p_value", 0.001, True),
            (version, latest, "sessions_90d", "psi", 0.02, False),
            (version, latest, "top_category", "psi", 0.27, True),
            (version, latest, "average_session_minutes_90d", "psi", 0.01, False),
            # another model version's rows do not count
            ("churn_model-000000000000", latest, "tenure_days", "psi", 0.9, True),
        ]
        connection.executemany("insert into ml.feature_drift values (?, ?, ?, ?, ?, ?)", drift_rows)
        connection.execute("insert into ml.realised_performance (model_name, model_version, scored_at, measured_at, n, "
                           "positive_rate, mean_predicted, roc_auc, brier) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           ["churn_model", version, earlier - timedelta(days=90), latest, 1_500, 0.42, 0.40, 0.77, 0.18])
        record_event(connection, model_name="churn_model", model_version=version, kind="feature_drift",
                     drift_detected=False, summary="0 of 4 features drifted (0%)", at=earlier)
        record_event(connection, model_name="churn_model", model_version=version, kind="feature_drift",
                     drift_detected=True, summary="2 of 4 features drifted (50%)", at=latest)
        record_event(connection, model_name="churn_model", model_version=version, kind="performance_drift",
                     drift_detected=True, summary="1,500 realised predictions: adwin detected a change at 240",
                     at=latest)
        record_event(connection, model_name="churn_model", model_version=version, kind="sensor_decision",
                     drift_detected=False, summary="debounced: a change in the error stream, but only 120 new "
                     "labelled outcomes", at=latest + timedelta(hours=1))
        record_event(connection, model_name="propensity_model", model_version="propensity_model-x",
                     kind="sensor_decision", drift_detected=True, summary="retrain: someone else's model", at=latest)
    with read_only(warehouse) as connection:
        markdown = write_model_card(connection, "churn_model", tmp_path / "cards")[0].read_text()
    drift = section(markdown, "Drift status")
    assert "**Drift detected: feature drift, performance drift.**" in drift
    assert ("Feature drift (2026-05-11 05:00 UTC, this version): 2 of 4 features drifted (50%) between the "
            "training rows and the current customers: `days_since_last_purchase` (PSI 0.310), `top_category` "
            "(PSI 0.270)") in drift
    assert "`tenure_days`" not in drift
    assert "adwin detected a change at 240" in drift
    assert "Latest drift-sensor decision (2026-05-11 06:00 UTC): no retraining: debounced" in drift
    assert "someone else" not in drift
    assert table_row(drift, "1,500") == ["2026-02-09 05:00 UTC", f"`{version}`", "1,500", "0.420", "0.400", "0.770",
                                         "0.180"]
    assert "Score distribution against the previous run: not measured yet." in drift


# ------------------------------------------------------------------------------------------- errors and writing


def test_a_model_without_champion_is_refused_by_name(warehouse, tmp_path):
    cards = tmp_path / "cards"
    with read_only(warehouse) as connection:
        with pytest.raises(ValueError, match="'propensity_model' has no champion"):
            write_model_card(connection, "propensity_model", cards)
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with read_only(empty) as connection:
        with pytest.raises(ValueError, match="'churn_model' has no champion"):
            write_model_card(connection, "churn_model", cards)
    assert not cards.exists()


def test_a_retired_model_has_no_card(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    record = churn_record(tmp_path)
    record.status = "challenger"
    with duckdb.connect(str(path)) as connection:
        register_model(connection, record, CHURN_METRICS)
        with pytest.raises(ValueError, match="churn_model"):
            write_model_card(connection, "churn_model", tmp_path / "cards")


@pytest.mark.parametrize(("arguments", "message"), [
    ({"owner": "  "}, "owner"),
    ({"purpose": ""}, "purpose"),
])
def test_blank_owner_or_purpose_is_refused(warehouse, tmp_path, arguments, message):
    with read_only(warehouse) as connection:
        with pytest.raises(ValueError, match=message):
            write_model_card(connection, "churn_model", tmp_path / "cards", **arguments)


def test_rewriting_replaces_the_files_whole(warehouse, tmp_path):
    cards = tmp_path / "cards"
    with read_only(warehouse) as connection:
        markdown_path, html_path = write_model_card(connection, "churn_model", cards)
    first_markdown = markdown_path.read_text()
    first_inode = markdown_path.stat().st_ino
    with duckdb.connect(str(warehouse)) as connection:
        register_model(connection, churn_record(tmp_path, "churn_model-bbbbbbbbbbbb",
                                                trained_at=TRAINED_AT + timedelta(days=7)), CHURN_METRICS)
    with open(markdown_path, encoding="utf-8") as reader_of_the_old_card:
        with read_only(warehouse) as connection:
            assert write_model_card(connection, "churn_model", cards) == (markdown_path, html_path)
        # a reader who opened the card before the rewrite still reads the whole old card: the new one was
        # renamed over it, not written into it
        assert reader_of_the_old_card.read() == first_markdown
    assert markdown_path.stat().st_ino != first_inode
    assert "`churn_model-bbbbbbbbbbbb`" in section(markdown_path.read_text(), "Version")
    assert "churn_model-bbbbbbbbbbbb" in html_path.read_text()
    assert sorted(path.name for path in cards.iterdir()) == [HTML_NAME, MARKDOWN_NAME]
    for path in (markdown_path, html_path):
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o044 == 0o044  # group and others can read it


def test_the_policy_defaults_match_the_orchestration_settings():
    from orchestration.monitoring import CARD_MODELS
    from orchestration.resources import ModelTraining
    from orchestration.schedules import daily_refresh_schedule, weekly_retrain_schedule

    from ml.model_card import DRIFT_MONITORED_MODELS

    policy, settings = RetrainingPolicy(), ModelTraining()
    for name in ("retrain_after_days", "drift_min_new_outcomes", "drift_min_interval_hours", "drift_share_threshold",
                 "promotion_tolerance_auc", "promotion_tolerance_rmse_ratio", "promotion_tolerance_ndcg"):
        assert getattr(policy, name) == getattr(settings, name), name
    assert (daily_refresh_schedule.cron_schedule, daily_refresh_schedule.execution_timezone) == ("0 5 * * *", "UTC")
    assert "05:00 UTC" in policy.daily_refresh
    assert (weekly_retrain_schedule.cron_schedule, weekly_retrain_schedule.execution_timezone) == ("0 7 * * 1", "UTC")
    assert policy.weekly_retraining == "Mondays at 07:00 UTC"
    # every model with a card is monitored and watched by the drift sensor
    assert set(DRIFT_MONITORED_MODELS) == set(CARD_MODELS)
