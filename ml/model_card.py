"""Model cards: one page per champion model that a business reader can follow, in Markdown and HTML.

A card says what the model is for, who owns it, what it was trained on and when, which assumptions
its scores rest on, how it measured against its baselines on the time-based holdout, whether
monitoring has seen drift, how it got to be champion and when it is retrained. Everything is read
from the warehouse tables the training and monitoring steps write (ml.model_registry,
ml.model_metrics, ml.feature_importance, ml.model_status_history, ml.feature_drift,
ml.realised_performance, ml.monitoring_events); the card only reads, so a read-only connection to a
published copy of the warehouse is enough.

Both files are rendered from one document, so they say the same thing; the HTML is self-contained (no
script, no network: a Content-Security-Policy forbids both).
"""

from __future__ import annotations

import html
import math
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import duckdb

from ml.monitoring_runs import MONITORED_MODELS, table_exists
from ml.registry import ModelRecord, champion, status_history
from ml.report import CLOSER_TO_ZERO, HIGHER, LOWER, direction

__all__ = [
    "write_model_card",
    "compare_metric",
    "RetrainingPolicy",
    "ModelDescription",
    "MODEL_DESCRIPTIONS",
    "MARKDOWN_NAME",
    "HTML_NAME",
]

MARKDOWN_NAME = "model_card.md"
HTML_NAME = "model_card.html"
TOP_FEATURES = 10
REALISED_RUNS_SHOWN = 5
STATUS_CHANGES_SHOWN = 20
#: models whose drift the drift sensor watches (orchestration.monitoring.drift_retraining_sensor)
DRIFT_MONITORED_MODELS = MONITORED_MODELS


@dataclass(frozen=True)
class RetrainingPolicy:
    """When models are retrained and replaced. The defaults mirror orchestration (schedules.py and the
    ModelTraining resource); ml/ does not import Dagster, so a deployment that changes those settings
    passes its own policy to `write_model_card`."""

    daily_refresh: str = "every day at 05:00 UTC"
    weekly_retraining: str = "Mondays at 07:00 UTC"
    retrain_after_days: int = 7
    drift_min_new_outcomes: int = 500
    drift_min_interval_hours: float = 24.0
    drift_share_threshold: float = 0.3
    promotion_tolerance_auc: float = 0.01
    promotion_tolerance_rmse_ratio: float = 0.02
    promotion_tolerance_ndcg: float = 0.005


@dataclass(frozen=True)
class ModelDescription:
    """What a known model is for, in a business reader's words. `{horizon}` is replaced by its horizon."""

    purpose: str
    predicts: str
    population: str
    tables: tuple[str, ...]
    extra_assumptions: tuple[str, ...] = ()
    #: how its labels are made, when not one label per customer and as-of date ({horizon} is replaced)
    labels: str | None = None
    #: what one row of its features describes
    feature_unit: str = "customer"


MODEL_DESCRIPTIONS: dict[str, ModelDescription] = {
    "churn_model": ModelDescription(
        purpose=("Estimates, for each customer who bought in the past year, the probability that they place no "
                 "further order in the next {horizon} days. Retention teams use it to contact the customers most "
                 "at risk first; every score comes with the three strongest reasons behind it (top drivers) and "
                 "a low / medium / high risk band."),
        predicts="whether the customer places no purchase order in the {horizon} days after the day they are scored",
        population=("known customers with at least one purchase order in the 365 days before the scoring day; "
                    "customers who have not bought for a year are out of scope and get no churn score"),
        tables=("predictions.churn_scores", "predictions.customer_predictions"),
        extra_assumptions=(
            "The probability is calibrated: among customers scored 0.7, about 70% are expected not to buy in "
            "the horizon, as long as behaviour resembles the training period.",
            "Top drivers explain the score, not what would change it: they are associations the model learned, "
            "not the effect of an action.",
        ),
    ),
    "propensity_model": ModelDescription(
        purpose=("Estimates, for every known customer, the probability of at least one purchase in the next "
                 "{horizon} days. Marketing uses it to choose who receives a campaign: high scores are likely "
                 "buyers, low scores are unlikely to respond."),
        predicts="whether the customer places at least one purchase order in the {horizon} days after the day they are scored",
        population=("every known customer, including those who never bought (ids seen only in orders or web "
                    "events, without a customer record, are left out)"),
        tables=("predictions.purchase_propensity", "predictions.customer_predictions"),
        extra_assumptions=(
            "The probability is calibrated on the training period; it measures how likely a purchase is, not "
            "how much a campaign would add (customers likely to buy anyway also score high).",
        ),
    ),
    "clv_model": ModelDescription(
        purpose=("Forecasts, for every customer who has bought before, how many purchases they will make and "
                 "how much revenue they will bring in the next {horizon} days, and how likely they are still an "
                 "active customer. Used to rank customers by expected value and to plan revenue."),
        predicts="expected purchases and revenue in the {horizon} days after the scoring day",
        population=("known customers with at least one purchase order before the scoring day; customers who "
                    "never bought get no forecast"),
        tables=("predictions.customer_lifetime_value", "predictions.customer_predictions"),
        extra_assumptions=(
            "BG/NBD (purchases): while a customer is active they buy at their own steady rate (a Poisson "
            "process); those rates differ between customers following a gamma distribution; after any purchase "
            "a customer may silently become inactive for good, with a probability that differs between "
            "customers following a beta distribution. Seasonality, campaigns and returning lapsed customers "
            "are outside these assumptions.",
            "Gamma-Gamma (spend): a customer's average order value does not depend on how often they buy, and "
            "varies around their own long-run mean. Revenue is undiscounted, in the orders' currency.",
            "The model uses only each customer's purchase history (recency, frequency, age as a customer and "
            "average spend), not their web activity or attributes.",
            "The holdout measures the same recipe fitted on the purchases before the holdout date; the version "
            "that scores was refitted on every purchase up to the end of its training window.",
        ),
    ),
    "recommender_ranker": ModelDescription(
        purpose=("Chooses, for every known customer, the 10 products they are most likely to buy in the next "
                 "{horizon} days, each with a reason a shop can show (\"bought before\", \"often bought with X\", "
                 "\"popular in <category>\"). Candidate products come from several sources (the customer's own "
                 "repeat purchases, products bought together, customers with similar taste, the categories they "
                 "like, trending products, new products similar to what they engaged with); a LightGBM LambdaRank "
                 "model orders them. Product pages use the related products of the same run."),
        predicts="which products the customer buys in the {horizon} days after the day the list is made",
        population=("every known customer; customers without history get the products most bought in their "
                    "segment (country), and inactive products are never listed"),
        tables=("predictions.next_best_products", "predictions.similar_products",
                "predictions.customer_next_best_products"),
        labels=("The ranker learns from past windows: at cutoffs {horizon}, 2 x {horizon}, ... days before its "
                "training date it proposes candidates from the interactions before the cutoff, and a candidate is "
                "positive when the customer bought it in the {horizon} days after. The holdout is the last fully "
                "observed window, after every training window."),
        feature_unit="customer and candidate product",
        extra_assumptions=(
            "Scores order one customer's candidates; they are not probabilities and are not comparable between "
            "customers or versions.",
            "Re-buying is most of what shops see, so lists include products the customer bought before unless a "
            "category is configured as non-repeatable (exclude_bought_within_days, non_repeatable_categories).",
            "Daily scoring refits the candidate sources on every interaction up to the scoring day and keeps the "
            "trained ranker; retraining refits both.",
            "Realised performance is measured on a fixed panel of customers (the same ones every run) whose lists "
            "are logged, against what they bought in the window after.",
        ),
    ),
}

METRIC_MEANINGS = {
    "roc_auc": "how well the score ranks customers with the outcome above those without (0.5 = random, 1 = perfect)",
    "pr_auc": "precision across the ranking, for the customers with the outcome",
    "f1": "balance of precision and recall at the model's decision threshold",
    "brier": "mean squared error of the probabilities",
    "log_loss": "penalty for confident wrong probabilities",
    "lift_top10": "how many times the average rate the top 10% of scores captures",
    "rmse": "typical error of a customer's forecast revenue, weighing large errors more",
    "mae": "average absolute error of a customer's forecast revenue",
    "spearman": "agreement between the ranking by forecast and by actual revenue",
    "aggregate_error": "relative error of the forecast total revenue",
    "predicted_total": "forecast total revenue of the holdout customers",
    "ndcg_at_10": "how high in the 10 listed products the ones bought come (1 = bought products listed first)",
    "recall_at_10": "share of the products a customer bought that were among their 10",
    "map_at_10": "precision of the list at each bought product, averaged",
    "hit_rate_at_10": "share of buying customers with at least one of their 10 bought",
    "coverage": "share of the active catalogue that appears in some customer's list",
    "recall_repeat_at_10": "recall over products the customer had bought before",
    "recall_new_at_10": "recall over products new to the customer",
}


# ------------------------------------------------------------------------------------------- metrics


def compare_metric(metric: str, model_value: float | None, comparator_value: float | None, *,
                   actual_total: float | None = None) -> str:
    """Whether the model did "better" or "worse" than a comparator on `metric`, in the metric's direction.

    Higher is better for ranking metrics (ROC-AUC, PR-AUC, F1, lift, Spearman), lower for errors (Brier,
    log-loss, RMSE, MAE), closer to zero for the signed aggregate error, and closer to `actual_total` for
    a predicted total. Returns "tie" for equal values, "n/a" when either value is missing and "" when
    the metric has no known direction.
    """
    if model_value is None or comparator_value is None or math.isnan(model_value) or math.isnan(comparator_value):
        return "n/a"
    better = direction(metric)
    if better == HIGHER:
        advantage = model_value - comparator_value
    elif better == LOWER:
        advantage = comparator_value - model_value
    elif better == CLOSER_TO_ZERO:
        advantage = abs(comparator_value) - abs(model_value)
    elif metric == "predicted_total" and actual_total is not None and not math.isnan(actual_total):
        advantage = abs(comparator_value - actual_total) - abs(model_value - actual_total)
    else:
        return ""
    if math.isclose(advantage, 0.0, abs_tol=1e-12):
        return "tie"
    return "better" if advantage > 0 else "worse"


def _direction(metric: str) -> str:
    better = direction(metric)
    if better is not None:
        return f"{better} is better"
    # a predicted total's target is the actual total, known only per card: not a direction ml.report can give
    if metric == "predicted_total":
        return "closer to the actual total is better"
    return "no direction"


def _number(value: float | None, metric: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if metric == "aggregate_error":
        return f"{value:+.1%}"
    if metric in ("samples", "customers", "actual_total", "predicted_total") or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.2f}"
    return f"{value:.3f}"


# ------------------------------------------------------------------------------------------- document
# A card is built once as blocks of inline parts, then rendered to Markdown and to HTML: the two files
# cannot drift apart, and every piece of text from the warehouse is escaped by the renderer.


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    parts: tuple


@dataclass(frozen=True)
class Bullets:
    items: tuple


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple


def _parts(value) -> tuple:
    if isinstance(value, (str, Code, Strong, Link)):
        return (value,)
    return tuple(value)


def _paragraph(*parts) -> Paragraph:
    return Paragraph(tuple(parts))


def _bullets(items) -> Bullets:
    return Bullets(tuple(_parts(item) for item in items))


def _table(columns, rows) -> Table:
    return Table(tuple(columns), tuple(tuple(_parts(cell) for cell in row) for row in rows))


_MARKDOWN_SPECIAL = "\\`*[]<>#&~"


def _md_text(text: str, in_table: bool = False) -> str:
    """Backslash-escape what Markdown would read as markup, so warehouse text shows as written."""
    text = " ".join(str(text).splitlines())
    out = []
    for position, char in enumerate(text):
        before = text[position - 1] if position else " "
        after = text[position + 1] if position + 1 < len(text) else " "
        # an underscore inside a word never starts emphasis (CommonMark): keep snake_case names readable
        escape = (char in _MARKDOWN_SPECIAL or (char == "|" and in_table)
                  or (char == "_" and not (before.isalnum() and after.isalnum())))
        out.append("\\" + char if escape else char)
    return "".join(out)


_LIST_MARKER = re.compile(r"^(\d*)([-+.)])")


def _md_code(text: str, in_table: bool) -> str:
    text = " ".join(str(text).splitlines())
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits cells on | even inside code spans
    # a code span's fence must be a backtick run the text does not contain
    fence_length = 1
    while "`" * fence_length in text:
        fence_length += 1
    fence = "`" * fence_length
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _md_inline(parts: tuple, in_table: bool = False) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code):
            out.append(_md_code(part.text, in_table))
        elif isinstance(part, Strong):
            out.append(f"**{_md_text(part.text, in_table)}**")
        elif isinstance(part, Link):
            out.append(f"[{_md_text(part.text, in_table)}](<{part.href}>)")
        else:
            out.append(_md_text(part, in_table))
    return "".join(out)


def _render_markdown(title: str, blocks: list) -> str:
    lines = [f"# {_md_text(title)}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {_md_text(block.text)}", ""]
        elif isinstance(block, Paragraph):
            # a paragraph opening like a list item ("- x", "1. x") must stay a paragraph
            lines += [_LIST_MARKER.sub(lambda match: match.group(1) + "\\" + match.group(2), _md_inline(block.parts)), ""]
        elif isinstance(block, Bullets):
            lines += [f"- {_md_inline(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_text(column, in_table=True) for column in block.columns) + " |")
            lines.append("|" + "|".join("---" for _ in block.columns) + "|")
            lines += ["| " + " | ".join(_md_inline(cell, in_table=True) for cell in row) + " |" for row in block.rows]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _html_inline(parts: tuple) -> str:
    out = []
    for part in parts:
        if isinstance(part, Code):
            out.append(f"<code>{html.escape(part.text)}</code>")
        elif isinstance(part, Strong):
            out.append(f"<strong>{html.escape(part.text)}</strong>")
        elif isinstance(part, Link):
            out.append(f'<a href="{html.escape(part.href, quote=True)}">{html.escape(part.text)}</a>')
        else:
            out.append(html.escape(str(part)))
    return "".join(out)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; line-height: 1.5; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
code { background: #f6f8fa; padding: 0 .25rem; border-radius: 3px; font-size: .9em; }
"""


def _render_html(title: str, blocks: list) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 2), 6)
            body.append(f"<h{level}>{html.escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_inline(block.parts)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{_html_inline(item)}</li>" for item in block.items) + "\n</ul>")
        elif isinstance(block, Table):
            header = "".join(f'<th scope="col">{html.escape(column)}</th>' for column in block.columns)
            rows = "\n".join("<tr>" + "".join(f"<td>{_html_inline(cell)}</td>" for cell in row) + "</tr>"
                             for row in block.rows)
            body.append(f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>")
    # no script and no network: the policy also stops a browser fetching anything an escaped value might name
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------- warehouse


def _utc(moment: datetime) -> datetime:
    # timestamptz comes back in the session's time zone; naive values are UTC by the warehouse's convention
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _when(moment: datetime | None) -> str:
    return "unknown" if moment is None else f"{_utc(moment):%Y-%m-%d %H:%M} UTC"


def _day(value: date | None) -> str:
    return "unknown" if value is None else f"{value:%Y-%m-%d}"


def _holdout_metrics(connection, record: ModelRecord) -> list[tuple]:
    if not table_exists(connection, "ml", "model_metrics"):
        return []
    return connection.execute(
        "select split, metric, value, baseline_name, baseline_value from ml.model_metrics "
        "where model_name = ? and model_version = ?", [record.model_name, record.model_version],
    ).fetchall()


def _top_features(connection, record: ModelRecord) -> list[tuple]:
    if not table_exists(connection, "ml", "feature_importance"):
        return []
    return connection.execute(
        "select importance_rank, feature, mean_abs_shap from ml.feature_importance "
        "where model_name = ? and model_version = ? order by importance_rank limit ?",
        [record.model_name, record.model_version, TOP_FEATURES],
    ).fetchall()


def _latest_events(connection, model_name: str) -> dict[str, tuple]:
    """kind -> (event_at, model_version, drift_detected, summary) of the model's latest event of each kind."""
    if not table_exists(connection, "ml", "monitoring_events"):
        return {}
    rows = connection.execute(
        """
        select kind, event_at, model_version, drift_detected, summary from (
            select *, row_number() over (partition by kind order by event_at desc) as recency
            from ml.monitoring_events where model_name = ?
        ) where recency = 1
        """, [model_name],
    ).fetchall()
    return {kind: rest for kind, *rest in rows}


def _latest_feature_drift(connection, record: ModelRecord) -> tuple[datetime | None, list[tuple]]:
    """(scored_at, [(feature, drifted, psi)]) of the champion's latest feature-drift measurement."""
    if not table_exists(connection, "ml", "feature_drift"):
        return None, []
    latest = connection.execute("select max(scored_at) from ml.feature_drift where model_version = ?",
                                [record.model_version]).fetchone()[0]
    if latest is None:
        return None, []
    rows = connection.execute(
        "select feature, bool_or(drifted), max(value) filter (where statistic = 'psi') from ml.feature_drift "
        "where model_version = ? and scored_at = ? group by feature order by feature",
        [record.model_version, latest],
    ).fetchall()
    return latest, rows


#: realised-performance columns shown per kind of model: (column, heading)
_REALISED_SHOWN = {
    "classifier": (("positive_rate", "actual rate"), ("mean_predicted", "mean predicted"), ("roc_auc", "ROC-AUC"),
                   ("brier", "Brier")),
    "clv_model": (("positive_rate", "share who bought"), ("mean_predicted", "mean forecast"),
                  ("mean_actual", "mean actual"), ("rmse", "RMSE"), ("mae", "MAE")),
    "recommender_ranker": (("positive_rate", "share who bought"), ("hit_rate_at_10", "HitRate@10"),
                           ("recall_at_10", "Recall@10"), ("ndcg_at_10", "NDCG@10")),
}


def _realised_columns(model_name: str) -> tuple[tuple[str, str], ...]:
    return _REALISED_SHOWN.get(model_name, _REALISED_SHOWN["classifier"])


def _realised(connection, model_name: str) -> list[tuple]:
    """(scored_at, model_version, n, *the columns of _realised_columns) of the latest measured runs."""
    if not table_exists(connection, "ml", "realised_performance"):
        return []
    present = {row[0] for row in connection.execute(
        "select column_name from information_schema.columns where table_schema = 'ml' "
        "and table_name = 'realised_performance'").fetchall()}
    shown = ", ".join(column if column in present else f"null as {column}" for column, _ in _realised_columns(model_name))
    return connection.execute(
        f"select scored_at, model_version, n, {shown} "
        "from ml.realised_performance where model_name = ? order by scored_at desc limit ?",
        [model_name, REALISED_RUNS_SHOWN],
    ).fetchall()


# ------------------------------------------------------------------------------------------- sections


_FACT_LABELS = {
    ("holdout", "samples"): "Holdout customers",
    ("holdout", "positive_rate"): "Share of holdout customers with the outcome",
    ("holdout", "threshold"): "Decision threshold (F1-optimal on the training dates)",
    ("holdout", "actual_total"): "Actual total revenue of the holdout customers",
    ("cross_validation", "roc_auc"): "ROC-AUC in cross-validation while tuning (training dates only)",
    ("holdout", "customers"): "Holdout customers (who bought in the window)",
}
_METRIC_ORDER = ("roc_auc", "pr_auc", "f1", "brier", "log_loss", "lift_top10",
                 "rmse", "mae", "spearman", "aggregate_error", "predicted_total",
                 "ndcg_at_10", "recall_at_10", "map_at_10", "hit_rate_at_10", "coverage", "recall_repeat_at_10",
                 "recall_new_at_10")


def _metrics_blocks(record: ModelRecord, metrics: list[tuple]) -> list:
    blocks: list = [Heading(2, "Metrics against baselines on the holdout")]
    comparisons = [row for row in metrics if row[0] == "holdout" and row[3] is not None]
    facts = [row for row in metrics if not (row[0] == "holdout" and row[3] is not None)]
    if not comparisons:
        return blocks + [_paragraph("No holdout comparison is recorded for this version.")]
    actual_total = next((value for split, metric, value, *_ in facts
                         if split == "holdout" and metric == "actual_total"), None)
    order = {metric: position for position, metric in enumerate(_METRIC_ORDER)}
    comparisons.sort(key=lambda row: (order.get(row[1], len(order)), row[1], row[3]))
    blocks.append(_paragraph(
        f"Measured on the customers as of the holdout date {_day(record.holdout_as_of_date)}, against what they "
        "actually did afterwards. Each row sets the model beside one comparator (a simple baseline, an "
        "alternative model, or the champion it was compared with at training time) on the same customers; "
        "\"better\" and \"worse\" follow each metric's direction."))
    rows, verdicts = [], []
    for _, metric, value, comparator, comparator_value in comparisons:
        verdict = compare_metric(metric, value, comparator_value, actual_total=actual_total)
        verdicts.append(verdict)
        rows.append([Code(metric), _direction(metric), _number(value, metric), comparator,
                     _number(comparator_value, metric), Strong(verdict) if verdict == "worse" else verdict])
    judged = [verdict for verdict in verdicts if verdict in ("better", "worse", "tie")]
    if judged:
        blocks.append(_paragraph(Strong(
            f"The model is better in {judged.count('better')} of {len(judged)} comparisons"
            + (f", worse in {judged.count('worse')}" if judged.count("worse") else "")
            + (f", tied in {judged.count('tie')}" if judged.count("tie") else "") + ".")))
    blocks.append(_table(("metric", "direction", "model", "comparator", "comparator value", "model is"), rows))
    present = list(dict.fromkeys(metric for _, metric, *_ in comparisons))
    meanings = [[Code(metric), f": {METRIC_MEANINGS[metric]}."] for metric in present if metric in METRIC_MEANINGS]
    if meanings:
        blocks += [_paragraph("What the metrics mean:"), _bullets(meanings)]
    if facts:
        known = {key: position for position, key in enumerate(_FACT_LABELS)}
        facts.sort(key=lambda row: (known.get((row[0], row[1]), len(known)), row[0], row[1]))
        blocks += [_paragraph("The holdout itself:"), _bullets([
            f"{_FACT_LABELS.get((split, metric), f'{metric} ({split})')}: {_number(value, metric)}"
            for split, metric, value, *_ in facts
        ])]
    return blocks


def _readable_feature(name: str, features: list[str]) -> list:
    """A preprocessed column name as a reader knows it: `numeric__x` is x, `numeric__missingindicator_x` is
    "x is missing", `onehot__top_category_books` is "top_category = books"."""
    transformer, separator, column = name.partition("__")
    if not separator:
        return [Code(name)]
    if column.startswith("missingindicator_"):
        return [Code(column.removeprefix("missingindicator_")), " is missing"]
    if transformer == "onehot":
        # the longest known feature the column starts with: its remainder is the category
        base = max((feature for feature in features if column.startswith(f"{feature}_")), key=len, default=None)
        if base is not None:
            return [Code(base), f" = {column[len(base) + 1:]}"]
    return [Code(column)]


def _importance_blocks(top: list[tuple], features: list[str]) -> list:
    blocks: list = [Heading(2, f"Top {TOP_FEATURES} features by mean |SHAP|")]
    if not top:
        return blocks + [_paragraph("No feature importance is recorded for this version.")]
    blocks.append(_paragraph(
        "How much each feature moves a customer's score on average (mean absolute SHAP contribution on the "
        "holdout, in the model's raw units: log-odds for the classifiers, the ranker's relevance score over the "
        "candidate products for the recommender). Large means influential, not causal."))
    return blocks + [_table(("rank", "feature", "mean |SHAP|"),
                            [[str(rank), _readable_feature(feature, features), _number(value)]
                             for rank, feature, value in top])]


def _drift_blocks(connection, record: ModelRecord) -> list:
    events = _latest_events(connection, record.model_name)
    drift_at, drift_rows = _latest_feature_drift(connection, record)
    realised = _realised(connection, record.model_name)
    blocks: list = [Heading(2, "Drift status")]
    measured = drift_rows or realised or any(kind in events for kind in ("feature_drift", "performance_drift",
                                                                         "prediction_drift"))
    if not measured:
        blocks.append(_paragraph(Strong("Not measured yet."),
                                 " No monitoring run has compared this model's scoring population with its "
                                 "training data, and no prediction's outcome window has closed yet."))
    else:
        flagged = [kind.replace("_", " ") for kind in ("feature_drift", "performance_drift", "prediction_drift")
                   if kind in events and events[kind][2]]
        blocks.append(_paragraph(Strong("Drift detected: " + ", ".join(flagged) + ".") if flagged
                                 else Strong("No drift detected in the latest checks.")))
    items = []
    if drift_rows:
        drifted = [(feature, psi) for feature, is_drifted, psi in drift_rows if is_drifted]
        share = len(drifted) / len(drift_rows)
        items.append([f"Feature drift ({_when(drift_at)}, this version): {len(drifted)} of {len(drift_rows)} "
                      f"features drifted ({share:.0%}) between the training rows and the current customers"
                      + ("." if not drifted else ":")]
                     + [part for position, (feature, psi) in enumerate(drifted)
                        for part in ((", " if position else " "), Code(feature),
                                     f" (PSI {_number(psi)})" if psi is not None else "")])
    elif record.model_name == "recommender_ranker":
        items.append(["Feature drift: not measured for this model (its inputs describe candidate products, not "
                      "customers); the score distribution against the previous run stands in for it."])
    else:
        items.append(["Feature drift: not measured yet for this version."])
    if realised:
        items.append([f"Realised performance: measured for {len(realised)} recent scoring run(s), table below."])
    else:
        items.append(["Realised performance: not measured yet (no scored customer's outcome window has closed)."])
    for kind, label in (("performance_drift", "Change detection on realised errors (ADWIN, Page-Hinkley)"),
                        ("prediction_drift", "Score distribution against the previous run")):
        if kind in events:
            event_at, version, detected, summary = events[kind]
            items.append([f"{label} ({_when(event_at)}, ", Code(version or "no version"), "): "
                          + ("drift. " if detected else "no drift. ") + summary])
        else:
            items.append([f"{label}: not measured yet."])
    if "sensor_decision" in events:
        event_at, version, fired, summary = events["sensor_decision"]
        items.append([f"Latest drift-sensor decision ({_when(event_at)}): "
                      + ("requested retraining" if fired else "no retraining") + f": {summary}"])
    elif record.model_name in DRIFT_MONITORED_MODELS:
        items.append(["Latest drift-sensor decision: none yet."])
    else:
        items.append(["Drift sensor: does not watch this model; the schedules below retrain it."])
    blocks.append(_bullets(items))
    if realised:
        blocks.append(_paragraph("Realised performance of past scoring runs once their outcomes were known "
                                 "(newest first"
                                 + ("; customers of the logged panel, ranking metrics over those who bought"
                                    if record.model_name == "recommender_ranker" else "") + "):"))
        columns = _realised_columns(record.model_name)
        blocks.append(_table(
            ("scored at", "version", "customers", *(heading for _, heading in columns)),
            [[_when(scored_at), Code(version), f"{n:,}", *(_number(value, column) for value, (column, _) in
                                                           zip(values, columns))]
             for scored_at, version, n, *values in realised]))
    return blocks


def _history_blocks(connection, model_name: str) -> list:
    history = status_history(connection, model_name)
    blocks: list = [Heading(2, "Status history")]
    if not history:
        return blocks + [_paragraph("No status change is recorded.")]
    shown = list(reversed(history))[:STATUS_CHANGES_SHOWN]
    blocks.append(_paragraph("How versions of this model became champion, challenger or retired (newest first"
                             + (f"; the latest {STATUS_CHANGES_SHOWN} of {len(history)})" if len(history) > len(shown)
                                else ")") + ":"))
    return blocks + [_table(("version", "status", "changed at", "reason"),
                            [[Code(version), status, _when(changed_at), reason or ""]
                             for version, status, changed_at, reason in shown])]


def _schedule_blocks(record: ModelRecord, policy: RetrainingPolicy) -> list:
    due = _utc(record.trained_at) + timedelta(days=policy.retrain_after_days)
    items = [
        f"Daily refresh ({policy.daily_refresh}): loads new data, rebuilds the warehouse and scores every customer "
        f"with the champion. It retrains this model only once the champion is {policy.retrain_after_days} or more "
        f"days old (retrain_after_days = {policy.retrain_after_days}): this champion becomes due on {due:%Y-%m-%d}.",
        f"Weekly retraining ({policy.weekly_retraining}): retrains every model on the latest window, whatever its age.",
    ]
    if record.model_name in DRIFT_MONITORED_MODELS:
        items.append(
            "Drift sensor (checks hourly): requests a retraining when monitoring detects a change in the realised "
            f"errors or at least {policy.drift_share_threshold:.0%} of the features drifted, and at least "
            f"{policy.drift_min_new_outcomes:,} new outcomes are known since training; at most once every "
            f"{policy.drift_min_interval_hours:g} hours.")
    else:
        items.append("Drift sensor: does not watch this model; it is retrained by the two schedules above.")
    gate = {
        "recommender_ranker": f"its NDCG@10 is at most {policy.promotion_tolerance_ndcg:g} lower",
        "clv_model": f"its RMSE is at most {policy.promotion_tolerance_rmse_ratio:.0%} higher",
        "churn_model": f"its ROC-AUC is at most {policy.promotion_tolerance_auc:g} lower",
        "propensity_model": f"its ROC-AUC is at most {policy.promotion_tolerance_auc:g} lower",
    }.get(record.model_name, "it is not worse on the primary holdout metric beyond the configured tolerance")
    items.append(f"A retrained version is a challenger: it replaces this champion only if, on the same holdout, "
                 f"{gate} and its predictions pass sanity checks (not empty, not constant, plausible). Otherwise "
                 "this version keeps scoring and the reason is recorded in the status history.")
    return [Heading(2, "Retraining schedule"), _bullets(items)]


def _report_blocks(record: ModelRecord, directory: Path) -> list:
    blocks: list = [Heading(2, "Detailed report")]
    if not record.report_path:
        return blocks + [_paragraph("No report is recorded for this version.")]
    report = Path(record.report_path)
    try:
        # relative, so the link survives moving the models directory together with its cards
        href = quote(Path(os.path.relpath(report.resolve(), directory.resolve())).as_posix(), safe="/._-~")
    except ValueError:  # another drive on Windows
        href = report.resolve().as_uri()
    note = "" if report.is_file() else " (the file was not found when this card was written)"
    return blocks + [_paragraph("Charts (ROC, precision-recall, calibration, lift, SHAP, metrics against "
                                "baselines) are in the model's HTML report: ", Link(str(report), href), note + ".")]


def _card(connection, record: ModelRecord, directory: Path, owner: str, purpose: str | None,
          policy: RetrainingPolicy) -> tuple[str, list]:
    description = MODEL_DESCRIPTIONS.get(record.model_name)
    horizon = record.horizon_days
    if purpose is None:
        purpose = (description.purpose.format(horizon=horizon) if description
                   else f"No purpose is written for {record.model_name}: ask its owner, and pass purpose= when "
                        "generating this card.")
    blocks: list = [
        _paragraph("Champion version ", Code(record.model_version), f", card generated {_when(datetime.now(timezone.utc))} "
                   "from the warehouse's model registry."),
        Heading(2, "Purpose"),
        _paragraph(purpose),
    ]
    if description:
        blocks.append(_paragraph("Scores are in ", *[part for position, table in enumerate(description.tables)
                                                    for part in ((" and " if position else ""), Code(table))], "."))
    blocks += [
        Heading(2, "Owner"),
        _paragraph(owner if owner != "unassigned" else
                   "unassigned: name the person or team who answers for this model and decides on its use."),
        Heading(2, "Version"),
        _bullets([
            ["Version: ", Code(record.model_version)],
            f"Trained at: {_when(record.trained_at)}",
            f"Champion since: {_when(record.status_changed_at)}"
            + (f" ({record.status_reason})" if record.status_reason else ""),
        ]),
        Heading(2, "Training window"),
    ]
    as_of = record.train_as_of_dates
    blocks.append(_bullets([
        f"Training window: {_day(record.training_window_start)} to {_day(record.training_window_end)}.",
        (f"Training as-of dates: {len(as_of)}, from {as_of[0]} to {as_of[-1]}: {', '.join(as_of)}." if as_of else
         "Training windows: the past windows before the holdout cutoff described under Assumptions." if
         description and description.labels else
         "Training as-of dates: none; the model is fit on each customer's purchase history up to the end of the "
         "training window."),
        f"Holdout as-of date: {_day(record.holdout_as_of_date)}.",
        f"Training rows: {record.training_rows:,}." if record.training_rows is not None else "Training rows: unknown.",
    ]))
    predicts = description.predicts.format(horizon=horizon) if description else "the model's target"
    blocks += [Heading(2, "Horizon"), _paragraph(f"{horizon} days: the model predicts {predicts}.")]
    blocks.append(Heading(2, "Features"))
    if record.feature_list:
        unit = description.feature_unit if description else "customer"
        blocks += [_paragraph(f"{len(record.feature_list)} features, each computed per {unit} from data before the "
                              "day the prediction is made for:"),
                   _bullets([Code(feature) for feature in record.feature_list])]
    else:
        blocks.append(_paragraph("No feature list is recorded for this version."))
    population = description.population if description else "not described for this model"
    assumptions = [
        "Point-in-time features: every feature uses only data from before the as-of date it describes, so the "
        "model never learned from information it would not have when predicting.",
        (description.labels.format(horizon=horizon) if description and description.labels else
         f"Labels come from the {horizon} days after each as-of date; as-of dates whose {horizon} days are not over "
         "yet have no label and are not used for training." if as_of else
         f"The model needs no labels to fit (it models each customer's purchase history); it is measured against "
         f"what the holdout customers actually did in the {horizon} days after the holdout date."),
        f"Population scored: {population}.",
        f"Time-based holdout: quality is measured on the latest as-of date with known outcomes "
        f"({_day(record.holdout_as_of_date)}), after every training date, so the figures show how well the model "
        "predicts the future rather than how well it recalls the past. Baselines are fitted and measured on the "
        "same holdout in the same run.",
        *(description.extra_assumptions if description else ()),
        "Customers are assumed to behave as they did in the training window: new prices, channels, campaigns or "
        "seasons the data did not cover erode the model's quality until it is retrained (see Drift status).",
    ]
    blocks += [Heading(2, "Assumptions and limits"), _bullets(assumptions)]
    blocks += _metrics_blocks(record, _holdout_metrics(connection, record))
    blocks += _importance_blocks(_top_features(connection, record), record.feature_list)
    blocks += _drift_blocks(connection, record)
    blocks += _history_blocks(connection, record.model_name)
    blocks += _schedule_blocks(record, policy)
    blocks += _report_blocks(record, directory)
    return f"Model card: {record.model_name}", blocks


def _write_atomically(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling, then rename each onto its name: a reader (or a crash) sees a
    whole old card or a whole new one, never a truncated file."""
    temporaries: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                                 suffix=".tmp", delete=False)
            temporaries[path] = Path(handle.name)
            with handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(handle.name, 0o644)  # mkstemp makes 0600: BI users must be able to read the card
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
        raise


def write_model_card(connection: duckdb.DuckDBPyConnection, model_name: str, directory: str | os.PathLike, *,
                     owner: str = "unassigned", purpose: str | None = None,
                     policy: RetrainingPolicy = RetrainingPolicy()) -> tuple[Path, Path]:
    """Write the model card of `model_name`'s champion as Markdown and HTML into `directory`.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection
        The warehouse (or its published copy); only read, so a read-only connection works.
    model_name : str
        A registered model, e.g. "churn_model".
    directory : path-like
        Where model_card.md and model_card.html go (created if missing). Each file is replaced atomically.
    owner : str
        Person or team answering for the model.
    purpose : str, optional
        What the model is for, in a business reader's words. Defaults to the text of MODEL_DESCRIPTIONS for
        the known models.
    policy : RetrainingPolicy
        The retraining settings the card describes; defaults mirror the orchestration defaults.

    Returns
    -------
    (markdown_path, html_path) : tuple of pathlib.Path

    Raises
    ------
    ValueError
        When `model_name` has no champion, or `owner` is blank.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError(f"owner must be a non-empty name, got {owner!r}")
    if purpose is not None and not purpose.strip():
        raise ValueError("purpose must be None (the default text) or a non-empty description")
    record = champion(connection, model_name)
    if record is None:
        raise ValueError(f"model {model_name!r} has no champion in ml.model_registry: train it first "
                         "(no card is written for a model that does not score)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    title, blocks = _card(connection, record, directory, owner.strip(), purpose, policy)
    markdown_path, html_path = directory / MARKDOWN_NAME, directory / HTML_NAME
    _write_atomically({markdown_path: _render_markdown(title, blocks), html_path: _render_html(title, blocks)})
    return markdown_path, html_path
