"""HTML + PNG model reports on synthetic holdouts where the model is known to beat its baselines."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.clv import clv_metrics
from ml.metrics import best_f1_threshold, classification_metrics
from ml.report import CLOSER_TO_ZERO, HIGHER, LOWER, direction, write_classifier_report, write_regression_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSIFIER_CHARTS = {"roc.png", "precision_recall.png", "calibration.png", "lift.png", "metrics_vs_baselines.png",
                     "shap_summary.png"}
REGRESSION_CHARTS = {"predicted_vs_actual.png", "deciles.png", "metrics_vs_baselines.png", "shap_summary.png"}
HOSTILE_NAME = "<b>x</b>"


class _ReportPage(HTMLParser):
    """The parts of index.html a reader uses: metrics rows as (text, bold) cells, images, captions."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: list[list[tuple[str, bool]]] = []
        self.images: list[dict[str, str]] = []
        self.captions: list[str] = []
        self._cell: list[str] | None = None
        self._bold = False
        self._caption: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._bold = [], False
        elif tag == "strong" and self._cell is not None:
            self._bold = True
        elif tag == "img":
            self.images.append(dict(attrs))
        elif tag == "figcaption":
            self._caption = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(("".join(self._cell).strip(), self._bold))
            self._cell = None
        elif tag == "figcaption":
            self.captions.append("".join(self._caption))
            self._caption = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)

    def table(self) -> pd.DataFrame:
        """Metrics table as text, candidate name (tag stripped) as index."""
        header = [text for text, _ in self.rows[0]]
        body = {row[0][0].removesuffix(" model").strip(): [text for text, _ in row[1:]] for row in self.rows[1:]}
        return pd.DataFrame.from_dict(body, orient="index", columns=header[1:])

    def bold(self) -> dict[tuple[str, str], bool]:
        header = [text for text, _ in self.rows[0]]
        return {(row[0][0].removesuffix(" model").strip(), header[position]): is_bold
                for row in self.rows[1:] for position, (_, is_bold) in enumerate(row) if position > 0}


def _column(header: str) -> str:
    # headers carry a direction mark after the metric name, e.g. "roc_auc ↑"
    return header.split(" ")[0]


@pytest.fixture(scope="module")
def holdout():
    rng = np.random.default_rng(7)
    n = 2000
    signal = rng.normal(size=n)
    y_true = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * signal - 1.0)))).astype(int)
    # the model sees the signal with a little noise; the weak baseline mostly noise; the third is pure noise
    model = 1 / (1 + np.exp(-(2.5 * signal - 1.0 + rng.normal(scale=0.3, size=n))))
    weak = np.clip(0.25 * model + 0.75 * rng.random(n), 0, 1)
    scores = {"lightgbm": model, "rfm_logistic": weak, HOSTILE_NAME: rng.random(n)}
    metrics = pd.DataFrame([classification_metrics(y_true, score, threshold=best_f1_threshold(y_true, score))
                            for score in scores.values()], index=list(scores))
    importance = pd.Series(np.linspace(2.0, 0.1, 20), index=[f"feature_{i}" for i in range(20)])
    return {"y_true": y_true, "scores": scores, "metrics": metrics, "importance": importance}


@pytest.fixture(scope="module")
def revenue():
    rng = np.random.default_rng(11)
    n = 1500
    buys = rng.random(n) < 0.4
    actual = np.where(buys, rng.lognormal(4.0, 1.0, n), 0.0)
    predictions = {
        "clv_model": actual * rng.lognormal(0.0, 0.4, n) + rng.random(n),
        "historical_average": np.full(n, actual.mean()) * rng.lognormal(0.0, 1.0, n),
        "zero": np.zeros(n),
    }
    metrics = pd.DataFrame([clv_metrics(actual, predicted) for predicted in predictions.values()],
                           index=list(predictions))
    return {"actual": actual, "predictions": predictions, "metrics": metrics}


@pytest.fixture(scope="module")
def classifier_report(holdout, tmp_path_factory):
    directory = tmp_path_factory.mktemp("classifier") / "churn_report"
    index = write_classifier_report(
        directory, title="Churn in 90 days <holdout>", y_true=holdout["y_true"], scores=holdout["scores"],
        model_name="lightgbm", metrics=holdout["metrics"], importance=holdout["importance"],
        context={"model version": "churn-2024-06-01", "holdout date": "2024-06-01",
                 "note": "<script>alert(1)</script>"})
    return index


@pytest.fixture(scope="module")
def regression_report(revenue, tmp_path_factory):
    directory = tmp_path_factory.mktemp("regression") / "clv_report"
    return write_regression_report(
        directory, title="CLV 365 days", actual=revenue["actual"], predictions=revenue["predictions"],
        model_name="clv_model", metrics=revenue["metrics"],
        importance=pd.Series([3.0, 1.0], index=["frequency", "recency"]), context={"customers": 1500})


def _assert_charts(directory: Path, expected: set[str]) -> _ReportPage:
    assert {path.name for path in directory.iterdir()} == expected | {"index.html"}
    for name in expected:
        content = (directory / name).read_bytes()
        assert content.startswith(PNG_MAGIC), name
        assert len(content) > 10_000, f"{name} is only {len(content)} bytes: an empty canvas?"
    page = _ReportPage((directory / "index.html").read_text(encoding="utf-8"))
    assert sorted(image["src"] for image in page.images) == sorted(expected)
    assert all(image.get("alt") for image in page.images)
    # one reading guide per chart, a full sentence
    assert len(page.captions) == len(expected)
    assert all(caption.endswith(".") and len(caption) > 60 for caption in page.captions)
    return page


def test_classifier_report_writes_index_and_every_chart(classifier_report):
    assert classifier_report.name == "index.html"
    _assert_charts(classifier_report.parent, CLASSIFIER_CHARTS)


def test_classifier_table_names_every_candidate_and_metric_value_model_first(classifier_report, holdout):
    page = _ReportPage(classifier_report.read_text(encoding="utf-8"))
    table = page.table()
    metrics = holdout["metrics"]
    assert list(table.index) == ["lightgbm", "rfm_logistic", HOSTILE_NAME]
    assert page.rows[1][0][0].endswith("model")  # the model row is marked, baselines are not
    assert not any(row[0][0].endswith("model") for row in page.rows[2:])
    assert [_column(header) for header in table.columns] == list(metrics.columns)
    for name in metrics.index:
        for header, column in zip(table.columns, metrics.columns):
            value = metrics.at[name, column]
            expected = str(value) if column == "samples" else f"{value:.3f}"
            assert table.at[name, header] == expected, (name, column)


def test_best_value_is_bold_in_the_metrics_direction(classifier_report, holdout):
    bold = {(name, _column(header)): is_bold
            for (name, header), is_bold in _ReportPage(classifier_report.read_text(encoding="utf-8")).bold().items()}
    metrics = holdout["metrics"]
    # the synthetic model wins on every metric: highest where higher is better, lowest where lower is
    assert metrics["roc_auc"].idxmax() == metrics["brier"].idxmin() == metrics["log_loss"].idxmin() == "lightgbm"
    for column in ("roc_auc", "pr_auc", "f1", "lift_top10", "brier", "log_loss"):
        assert bold[("lightgbm", column)], column
        assert not bold[("rfm_logistic", column)] and not bold[(HOSTILE_NAME, column)], column
    # no direction, no winner
    for column in ("samples", "positive_rate", "threshold"):
        assert not any(bold[(name, column)] for name in metrics.index), column


@pytest.mark.parametrize(("metric", "expected"), [
    ("roc_auc", HIGHER), ("lift_top10", HIGHER), ("spearman", HIGHER), ("ndcg_at_10", HIGHER),
    ("brier", LOWER), ("log_loss", LOWER), ("rmse", LOWER),
    ("aggregate_error", CLOSER_TO_ZERO),
    # breadth and counts: neither end is better
    ("coverage", None), ("samples", None), ("positive_rate", None),
])
def test_direction_says_which_way_each_metric_improves(metric, expected):
    assert direction(metric) == expected


def test_no_shap_chart_without_importance_and_no_pyplot_figures_left(holdout, tmp_path):
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    # missing parents are created too
    index = write_classifier_report(tmp_path / "runs" / "2024-06-01", title="Propensity", y_true=holdout["y_true"],
                                    scores=holdout["scores"], model_name="lightgbm", metrics=holdout["metrics"])
    assert index == tmp_path / "runs" / "2024-06-01" / "index.html"
    _assert_charts(index.parent, CLASSIFIER_CHARTS - {"shap_summary.png"})
    assert "shap" not in index.read_text(encoding="utf-8").lower()
    assert plt.get_fignums() == open_before


def test_text_is_escaped(classifier_report):
    text = classifier_report.read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt;" in text and HOSTILE_NAME not in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<title>Churn in 90 days &lt;holdout&gt;</title>" in text


def test_regression_report_charts_table_and_directions(regression_report, revenue):
    page = _assert_charts(regression_report.parent, REGRESSION_CHARTS)
    table = page.table()
    metrics = revenue["metrics"]
    assert list(table.index) == ["clv_model", "historical_average", "zero"]
    for name in metrics.index:
        for header, column in zip(table.columns, metrics.columns):
            value = metrics.at[name, column]
            assert table.at[name, header] == ("n/a" if np.isnan(value) else f"{value:.3f}"), (name, column)
    bold = {(name, _column(header)): is_bold for (name, header), is_bold in page.bold().items()}
    assert metrics["rmse"].idxmin() == metrics["mae"].idxmin() == metrics["spearman"].idxmax() == "clv_model"
    for column in ("rmse", "mae", "spearman"):
        assert [bold[(name, column)] for name in metrics.index] == [True, False, False], column
    # a constant prediction has no rank correlation: shown n/a, never best
    assert table.at["zero", next(h for h in table.columns if _column(h) == "spearman")] == "n/a"


def test_aggregate_error_best_is_closest_to_zero(revenue, tmp_path):
    metrics = revenue["metrics"].copy()
    # the most negative value must not win: under-forecasting by 30% is worse than over-forecasting by 4%
    metrics["aggregate_error"] = [0.04, -0.30, -1.0]
    index = write_regression_report(tmp_path / "clv", title="CLV", actual=revenue["actual"],
                                    predictions=revenue["predictions"], model_name="clv_model", metrics=metrics)
    bold = {(name, _column(header)): is_bold
            for (name, header), is_bold in _ReportPage(index.read_text(encoding="utf-8")).bold().items()}
    assert [bold[(name, "aggregate_error")] for name in metrics.index] == [True, False, False]


def _classifier_kwargs(holdout, **overrides):
    kwargs = {"title": "t", "y_true": holdout["y_true"], "scores": holdout["scores"], "model_name": "lightgbm",
              "metrics": holdout["metrics"]}
    return {**kwargs, **overrides}


@pytest.mark.parametrize(("change", "message"), [
    (lambda h: {"model_name": "xgboost"}, "model_name 'xgboost' is not a key of scores"),
    (lambda h: {"scores": {**h["scores"], "rfm_logistic": h["scores"]["rfm_logistic"][:-1]}},
     r"scores\['rfm_logistic'\] must have one value per sample of y_true \(2000\), got 1999"),
    (lambda h: {"scores": {**h["scores"], "lightgbm": np.column_stack([1 - h["scores"]["lightgbm"],
                                                                       h["scores"]["lightgbm"]])}},
     "must be one-dimensional"),
    (lambda h: {"scores": {**h["scores"], "lightgbm": h["scores"]["lightgbm"] * 2}}, "probabilities in \\[0, 1\\]"),
    (lambda h: {"metrics": h["metrics"].drop(index=HOSTILE_NAME)}, "metrics index must be the candidate names"),
    (lambda h: {"metrics": h["metrics"].rename(index={"rfm_logistic": "rfm"})}, r"unexpected \['rfm'\]"),
    (lambda h: {"y_true": np.where(h["y_true"] == 1, 2, 0)}, "y_true must hold only 0 and 1"),
    (lambda h: {"y_true": np.ones_like(h["y_true"])}, "y_true must hold both classes"),
])
def test_classifier_report_rejects_invalid_input(holdout, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        write_classifier_report(tmp_path / "report", **_classifier_kwargs(holdout, **change(holdout)))
    assert list(tmp_path.iterdir()) == []


def test_invalid_input_leaves_the_previous_report_untouched(holdout, tmp_path):
    directory = tmp_path / "report"
    write_classifier_report(directory, **_classifier_kwargs(holdout, importance=holdout["importance"]))
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    with pytest.raises(ValueError, match="y_true must hold both classes"):
        write_classifier_report(directory, **_classifier_kwargs(holdout, y_true=np.zeros_like(holdout["y_true"])))
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    assert [path.name for path in tmp_path.iterdir()] == ["report"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: {"model_name": "bgnbd"}, "model_name 'bgnbd' is not a key of predictions"),
    (lambda r: {"predictions": {**r["predictions"], "zero": np.zeros(3)}},
     r"predictions\['zero'\] must have one value per sample of actual \(1500\), got 3"),
    (lambda r: {"metrics": r["metrics"].drop(index="zero")}, r"missing \['zero'\]"),
    (lambda r: {"actual": np.where(r["actual"] > 0, np.nan, 0.0)}, "actual must be finite"),
])
def test_regression_report_rejects_invalid_input(revenue, tmp_path, change, message):
    kwargs = {"title": "t", "actual": revenue["actual"], "predictions": revenue["predictions"],
              "model_name": "clv_model", "metrics": revenue["metrics"], **change(revenue)}
    with pytest.raises(ValueError, match=message):
        write_regression_report(tmp_path / "report", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_rewriting_replaces_the_old_report_completely(holdout, revenue, tmp_path):
    directory = tmp_path / "report"
    write_classifier_report(directory,
                            **_classifier_kwargs(holdout, title="first run", importance=holdout["importance"]))
    (directory / "notes.txt").write_text("left by hand")
    assert (directory / "shap_summary.png").exists()

    index = write_classifier_report(directory, **_classifier_kwargs(holdout, title="second run"))
    assert {path.name for path in directory.iterdir()} == (CLASSIFIER_CHARTS - {"shap_summary.png"}) | {"index.html"}
    assert "second run" in index.read_text(encoding="utf-8")
    assert "first run" not in index.read_text(encoding="utf-8")

    write_regression_report(directory, title="clv run", actual=revenue["actual"], predictions=revenue["predictions"],
                            model_name="clv_model", metrics=revenue["metrics"])
    assert {path.name for path in directory.iterdir()} == (REGRESSION_CHARTS - {"shap_summary.png"}) | {"index.html"}
    # no staging or retired copies left beside the report
    assert [path.name for path in tmp_path.iterdir()] == ["report"]


def test_refuses_to_replace_a_directory_it_did_not_write(holdout, tmp_path):
    directory = tmp_path / "thesis"
    directory.mkdir()
    (directory / "chapter1.tex").write_text("months of work")
    with pytest.raises(ValueError, match="refusing to replace it"):
        write_classifier_report(directory, **_classifier_kwargs(holdout))
    assert (directory / "chapter1.tex").read_text() == "months of work"
    assert [path.name for path in tmp_path.iterdir()] == ["thesis"]


def test_writes_into_an_existing_empty_directory(holdout, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_classifier_report(empty, **_classifier_kwargs(holdout)) == empty / "index.html"
    assert (empty / "roc.png").exists()
