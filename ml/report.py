"""Model reports: one self-contained directory per training run with index.html and PNG charts.

A data scientist or CRM lead opens ``index.html`` in a browser: the run's key facts, the holdout metrics of
the model beside its baselines (best value per metric in bold), then one chart per question (does it rank,
are the probabilities honest, what does targeting the top decile buy, which features drive it), each with a
sentence on how to read it. No JavaScript, no network: plain HTML and PNGs drawn with matplotlib's Agg
canvas on `matplotlib.figure.Figure` objects, so pyplot's global state is never touched.

A report is written into a temporary sibling directory and renamed onto `directory` when complete, so a
reader never sees a half-written report under the final name and a rewrite leaves nothing of the old one.
"""

from __future__ import annotations

import html
import math
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats
from sklearn.metrics import precision_recall_curve, roc_curve

from ml.explain import IMPORTANCE_ROWS
from ml.metrics import calibration_table, lift_at_top, pr_auc, roc_auc

__all__ = ["write_classifier_report", "write_regression_report", "direction", "HIGHER", "LOWER", "CLOSER_TO_ZERO",
           "HIGHER_IS_BETTER", "LOWER_IS_BETTER", "LOWER_ABSOLUTE_IS_BETTER"]

HIGHER_IS_BETTER = frozenset({"roc_auc", "pr_auc", "f1", "lift_top10", "spearman",
                              # recommendation lists (catalogue coverage has no better direction: it is breadth)
                              "ndcg_at_10", "recall_at_10", "map_at_10", "hit_rate_at_10", "recall_repeat_at_10",
                              "recall_new_at_10"})
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae"})
# a signed error: -5% and +5% are equally wrong
LOWER_ABSOLUTE_IS_BETTER = frozenset({"aggregate_error"})

# The directions `direction` returns; each reads "<direction> is better".
HIGHER = "higher"
LOWER = "lower"
CLOSER_TO_ZERO = "closer to 0"


def direction(metric: str) -> str | None:
    """Which way `metric` improves: HIGHER, LOWER, CLOSER_TO_ZERO, or None when it has no better direction.

    The one place the report's best-value marking and the model card's better/worse verdicts decide it.
    """
    if metric in HIGHER_IS_BETTER:
        return HIGHER
    if metric in LOWER_IS_BETTER:
        return LOWER
    if metric in LOWER_ABSOLUTE_IS_BETTER:
        return CLOSER_TO_ZERO
    return None


INDEX_NAME = "index.html"
# Marks a directory as one of these reports, so a rewrite never deletes a directory it did not write.
GENERATOR = "anticipate ml.report"
SHAP_TOP_FEATURES = 15
# Above this many customers the scatter shows a fixed random sample; every point still counts in the deciles.
SCATTER_MAX_POINTS = 5000
DPI = 100

MODEL_COLOR = "#1f4e9c"
BASELINE_COLORS = ("#e07b39", "#3a9b5c", "#b8403f", "#7f5fa8", "#8c6d31", "#d16ba5", "#6b6b6b", "#17a2b8")


@dataclass(frozen=True)
class _Chart:
    filename: str
    alt: str
    how_to_read: str
    draw: Callable[[Figure], None]
    size: tuple[float, float] = (7.5, 5.0)


# --------------------------------------------------------------------------------------------------
# Public API


def write_classifier_report(directory, *, title: str, y_true, scores: Mapping[str, np.ndarray], model_name: str,
                            metrics: pd.DataFrame, importance: pd.Series | None = None,
                            context: Mapping[str, object] | None = None) -> Path:
    """Write index.html and PNG charts for a binary classifier into `directory`.

    Charts: roc.png, precision_recall.png, calibration.png, lift.png, metrics_vs_baselines.png and, when
    `importance` is given, shap_summary.png.

    Parameters
    ----------
    directory : str or Path
        The report directory, created if missing. An existing report there is replaced completely; an
        existing directory that is neither empty nor a report is refused.
    title : str
        Page title and heading.
    y_true : array-like of shape (n_samples,)
        0/1 labels of the time-based holdout; both classes must occur.
    scores : mapping of candidate name -> array of shape (n_samples,)
        Probability of the positive class from each candidate, in [0, 1].
    model_name : str
        The key of `scores` that is the model; every other candidate is a baseline.
    metrics : pandas.DataFrame of shape (n_candidates, n_metrics)
        One row per candidate (index = the keys of `scores`), e.g. from
        `ml.evaluation.evaluate_candidates(...).table`. Every column is shown; roc_auc, pr_auc and f1 are
        also charted when present.
    importance : pandas.Series, optional
        Mean |SHAP| per feature (e.g. `ml.explain.global_importance`); the 15 largest are charted.
    context : mapping of str -> object, optional
        Key facts shown at the top (model version, training window, holdout date, horizon, rows...).

    Returns
    -------
    pathlib.Path
        The path of index.html inside `directory`.

    Raises
    ------
    ValueError
        When `model_name` is not a key of `scores`, a score array's length differs from `y_true`, the
        index of `metrics` differs from the keys of `scores`, `y_true` is not 0/1 or holds one class only,
        or a score is not a probability.
    """
    labels = _binary_labels(y_true)
    candidates = _candidate_arrays(scores, "scores", model_name=model_name, n_samples=labels.size,
                                   reference_name="y_true")
    for name, values in candidates.items():
        if np.isnan(values).any() or values.min() < 0 or values.max() > 1:
            raise ValueError(f"scores[{name!r}] must hold probabilities in [0, 1] without NaN, "
                             f"got values from {np.nanmin(values):g} to {np.nanmax(values):g}")
    metrics = _checked_metrics(metrics, candidates)
    importance = _checked_importance(importance)
    colors = _candidate_colors(candidates, model_name)
    positive_rate = float(labels.mean())

    charts = [
        _Chart("roc.png", "ROC curves of the model and its baselines",
               "Each curve shows the share of actual positives caught (true positive rate) against the share of "
               "negatives wrongly flagged (false positive rate) as the score threshold falls; higher and further "
               "left is better, and the diagonal is random guessing.",
               lambda figure: _draw_roc(figure, labels, candidates, model_name, colors)),
        _Chart("precision_recall.png", "Precision-recall curves of the model and its baselines",
               "Precision (the share of flagged customers who are positive) against recall (the share of "
               f"positives flagged); higher is better, and the dashed line at the positive rate ({positive_rate:.3f}) "
               "is what targeting at random achieves.",
               lambda figure: _draw_precision_recall(figure, labels, candidates, model_name, colors)),
        _Chart("calibration.png", "Calibration: mean predicted probability against observed positive rate",
               "Each point is one of 10 equal-width probability bins: the mean predicted probability of its "
               "customers against the share of them that turned out positive; points on the diagonal mean the "
               "probabilities can be taken at face value, points below it mean the candidate over-predicts.",
               lambda figure: _draw_calibration(figure, labels, candidates, model_name, colors)),
        _Chart("lift.png", "Cumulative lift by decile of score",
               "Each point is the positive rate among the top-scored 10%, 20%, ... of customers divided by the "
               "overall positive rate: a lift of 2 at 10% means contacting the top tenth reaches twice as many "
               "positives as contacting a random tenth, and every curve ends at 1 when everyone is contacted.",
               lambda figure: _draw_lift(figure, labels, candidates, model_name, colors)),
    ]
    if importance is not None:
        charts.append(_shap_chart(importance))
    bar_metrics = [column for column in ("roc_auc", "pr_auc", "f1") if column in metrics.columns]
    if bar_metrics:
        charts.append(_Chart(
            "metrics_vs_baselines.png", "Holdout metrics of the model beside its baselines",
            f"{_names_sentence(bar_metrics)} of each candidate on the same holdout, higher is better; the "
            "model's bars should stand above every baseline's.",
            lambda figure: _draw_grouped_bars(figure, metrics, bar_metrics, model_name, colors)))
    return _write_report(directory, title=title, context=context, metrics=metrics, model_name=model_name,
                         charts=charts)


def write_regression_report(directory, *, title: str, actual, predictions: Mapping[str, np.ndarray], model_name: str,
                            metrics: pd.DataFrame, importance: pd.Series | None = None,
                            context: Mapping[str, object] | None = None) -> Path:
    """Write index.html and PNG charts for a revenue (CLV) model into `directory`.

    Charts: predicted_vs_actual.png, deciles.png, metrics_vs_baselines.png (rmse, mae, spearman, those
    present in `metrics`) and, when `importance` is given, shap_summary.png.

    Parameters
    ----------
    directory : str or Path
        The report directory, created if missing; an existing report there is replaced completely.
    title : str
        Page title and heading.
    actual : array-like of shape (n_customers,)
        Actual revenue of each holdout customer over the horizon.
    predictions : mapping of candidate name -> array of shape (n_customers,)
        Each candidate's predicted revenue for the same customers.
    model_name : str
        The key of `predictions` that is the model; every other candidate is a baseline.
    metrics : pandas.DataFrame of shape (n_candidates, n_metrics)
        One row per candidate (index = the keys of `predictions`), e.g. rows of `ml.clv.clv_metrics`.
    importance : pandas.Series, optional
        Mean |SHAP| per feature; the 15 largest are charted.
    context : mapping of str -> object, optional
        Key facts shown at the top.

    Returns
    -------
    pathlib.Path
        The path of index.html inside `directory`.

    Raises
    ------
    ValueError
        When `model_name` is not a key of `predictions`, lengths differ from `actual`, the index of
        `metrics` differs from the keys of `predictions`, or a value is NaN or infinite.
    """
    actual_values = _finite_vector(actual, "actual")
    if actual_values.size == 0:
        raise ValueError("actual must hold at least one customer, got 0")
    candidates = _candidate_arrays(predictions, "predictions", model_name=model_name, n_samples=actual_values.size,
                                   reference_name="actual")
    for name, values in candidates.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"predictions[{name!r}] must be finite numbers, got "
                             f"{int(np.sum(~np.isfinite(values)))} NaN or infinite value(s)")
    metrics = _checked_metrics(metrics, candidates)
    importance = _checked_importance(importance)
    colors = _candidate_colors(candidates, model_name)
    linear_below = _symlog_threshold(actual_values, *candidates.values())
    sampled = actual_values.size > SCATTER_MAX_POINTS
    sample_note = (f" (a fixed random sample of {SCATTER_MAX_POINTS:,} of the {actual_values.size:,} customers)"
                   if sampled else "")

    charts = [
        _Chart("predicted_vs_actual.png", "Predicted against actual revenue per customer, one panel per candidate",
               f"Each point is a holdout customer{sample_note}: actual revenue across, predicted revenue up, on "
               f"symmetric-log axes that are linear below {linear_below:g}; points on the diagonal are exact, "
               "above it over-forecast and below it under-forecast.",
               lambda figure: _draw_predicted_vs_actual(figure, actual_values, candidates, model_name, colors,
                                                        linear_below),
               size=_panel_size(len(candidates))),
        _Chart("deciles.png", "Mean actual and mean predicted revenue by decile of each candidate's prediction",
               "Customers are split into ten groups of about equal size by each candidate's prediction (1 = lowest, "
               "tied predictions stay in one group, so a constant prediction is a single group); a good model's "
               "actual bars rise steeply across the deciles and its predicted bars match them.",
               lambda figure: _draw_deciles(figure, actual_values, candidates, model_name, colors),
               size=_panel_size(len(candidates))),
    ]
    bar_metrics = [column for column in ("rmse", "mae", "spearman") if column in metrics.columns]
    if bar_metrics:
        charts.append(_Chart(
            "metrics_vs_baselines.png", "Holdout error and rank correlation of the model beside its baselines",
            f"{_names_sentence(bar_metrics)} of each candidate on the same holdout: errors are revenue per customer "
            "and lower is better, Spearman rank correlation is higher-is-better and n/a for a constant prediction.",
            lambda figure: _draw_metric_panels(figure, metrics, bar_metrics, model_name, colors),
            size=(4.0 * len(bar_metrics), 4.5)))
    if importance is not None:
        charts.append(_shap_chart(importance))
    return _write_report(directory, title=title, context=context, metrics=metrics, model_name=model_name,
                         charts=charts)


# --------------------------------------------------------------------------------------------------
# Input checks: each error names the parameter, what is allowed and what arrived.


def _finite_vector(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers, got {type(values).__name__} ({error})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers, got {int(np.sum(~np.isfinite(array)))} NaN or infinite")
    return array


def _binary_labels(y_true) -> np.ndarray:
    labels = _finite_vector(y_true, "y_true")
    if not np.isin(labels, (0.0, 1.0)).all():
        others = sorted(set(np.unique(labels).tolist()) - {0.0, 1.0})[:5]
        raise ValueError(f"y_true must hold only 0 and 1, got also {others}")
    if np.unique(labels).size < 2:
        raise ValueError(f"y_true must hold both classes (ROC and precision-recall are undefined otherwise), "
                         f"got only {int(labels[0]) if labels.size else 'no labels'}")
    return labels


def _candidate_arrays(candidates, parameter: str, *, model_name, n_samples: int,
                      reference_name: str) -> dict[str, np.ndarray]:
    """The candidates as float arrays, model first (the order every chart and the table use)."""
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError(f"{parameter} must be a non-empty mapping of candidate name -> array, got {candidates!r:.80}")
    if model_name not in candidates:
        raise ValueError(f"model_name {model_name!r} is not a key of {parameter}; keys are {list(candidates)}")
    arrays = {}
    for name in [model_name, *(key for key in candidates if key != model_name)]:
        try:
            values = np.asarray(candidates[name], dtype=float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{parameter}[{name!r}] must be numbers ({error})") from None
        if values.ndim != 1:
            raise ValueError(f"{parameter}[{name!r}] must be one-dimensional, shape ({n_samples},), got shape "
                             f"{values.shape} (for predict_proba pass the positive column, [:, 1])")
        if values.size != n_samples:
            raise ValueError(f"{parameter}[{name!r}] must have one value per sample of {reference_name} "
                             f"({n_samples}), got {values.size}")
        arrays[name] = values
    return arrays


def _checked_metrics(metrics, candidates: Mapping[str, np.ndarray]) -> pd.DataFrame:
    if not isinstance(metrics, pd.DataFrame):
        raise TypeError(f"metrics must be a pandas DataFrame with one row per candidate, got {type(metrics).__name__}")
    if metrics.index.has_duplicates:
        raise ValueError(f"metrics must have one row per candidate, got duplicate index values "
                         f"{sorted(map(str, metrics.index[metrics.index.duplicated()].unique()))}")
    missing = [name for name in candidates if name not in metrics.index]
    extra = [name for name in metrics.index if name not in candidates]
    if missing or extra:
        raise ValueError(f"metrics index must be the candidate names {list(candidates)}; "
                         f"missing {missing}, unexpected {extra}")
    return metrics.loc[list(candidates)]


def _checked_importance(importance) -> pd.Series | None:
    if importance is None:
        return None
    if not isinstance(importance, pd.Series):
        raise TypeError("importance must be a pandas Series of mean |SHAP| per feature, "
                        f"got {type(importance).__name__}")
    if importance.empty:
        raise ValueError("importance must hold at least one feature, got an empty Series (pass None for no chart)")
    values = pd.to_numeric(importance, errors="coerce").astype(float)
    if values.isna().any() or (values < 0).any():
        raise ValueError("importance must hold mean |SHAP| values >= 0 without NaN, got "
                         f"{int(values.isna().sum())} missing and {int((values < 0).sum())} negative")
    return values.sort_values(ascending=False, kind="stable")


# --------------------------------------------------------------------------------------------------
# Charts


def _label(name) -> str:
    # matplotlib reads text between two $ as mathtext; a candidate or feature name is plain text
    return str(name).replace("$", r"\$")


def _candidate_colors(candidates, model_name) -> dict:
    baselines = [name for name in candidates if name != model_name]
    colors = {name: BASELINE_COLORS[index % len(BASELINE_COLORS)] for index, name in enumerate(baselines)}
    colors[model_name] = MODEL_COLOR
    return colors


def _line_style(name, model_name) -> dict:
    # the model is what the report is about: thick, on top; baselines are context
    if name == model_name:
        return {"linewidth": 2.6, "zorder": 3, "alpha": 1.0}
    return {"linewidth": 1.3, "zorder": 2, "alpha": 0.9}


def _legend(axes, handles, labels, **kwargs) -> None:
    # explicit handles and labels: matplotlib silently drops labels that start with "_"
    axes.legend(handles, [_label(text) for text in labels], fontsize="small", **kwargs)


def _draw_roc(figure, labels, candidates, model_name, colors) -> None:
    axes = figure.subplots()
    handles, names = [], []
    for name, score in candidates.items():
        false_positive_rate, true_positive_rate, _ = roc_curve(labels, score)
        (line,) = axes.plot(false_positive_rate, true_positive_rate, color=colors[name],
                            **_line_style(name, model_name))
        handles.append(line)
        names.append(f"{name} (AUC {roc_auc(labels, score):.3f})")
    (diagonal,) = axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    _legend(axes, [*handles, diagonal], [*names, "random"], loc="lower right")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate",
             title="ROC curve on the holdout")


def _draw_precision_recall(figure, labels, candidates, model_name, colors) -> None:
    axes = figure.subplots()
    handles, names = [], []
    for name, score in candidates.items():
        precision, recall, _ = precision_recall_curve(labels, score)
        (line,) = axes.plot(recall, precision, drawstyle="steps-post", color=colors[name],
                            **_line_style(name, model_name))
        handles.append(line)
        names.append(f"{name} (AP {pr_auc(labels, score):.3f})")
    positive_rate = labels.mean()
    no_skill = axes.axhline(positive_rate, linestyle="--", color="grey", linewidth=1)
    _legend(axes, [*handles, no_skill], [*names, f"no skill (positive rate {positive_rate:.3f})"], loc="upper right")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision", title="Precision-recall on the holdout")


def _draw_calibration(figure, labels, candidates, model_name, colors) -> None:
    axes = figure.subplots()
    handles, names = [], []
    for name, score in candidates.items():
        table = calibration_table(labels, score, n_bins=10)
        (line,) = axes.plot(table["mean_predicted"], table["observed_rate"], marker="o", markersize=4,
                            color=colors[name], **_line_style(name, model_name))
        handles.append(line)
        names.append(str(name))
    (diagonal,) = axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    _legend(axes, [*handles, diagonal], [*names, "perfectly calibrated"], loc="upper left")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted probability (10 bins)", ylabel="Observed positive rate",
             title="Calibration on the holdout")


def _draw_lift(figure, labels, candidates, model_name, colors) -> None:
    axes = figure.subplots()
    fractions = np.arange(1, 11) / 10
    handles, names = [], []
    for name, score in candidates.items():
        lifts = [lift_at_top(labels, score, fraction=fraction) for fraction in fractions]
        (line,) = axes.plot(fractions * 100, lifts, marker="o", markersize=4, color=colors[name],
                            **_line_style(name, model_name))
        handles.append(line)
        names.append(f"{name} (top 10%: {lifts[0]:.2f})")
    no_lift = axes.axhline(1.0, linestyle="--", color="grey", linewidth=1)
    _legend(axes, [*handles, no_lift], [*names, "random targeting"], loc="upper right")
    axes.set(xlim=(5, 105), ylim=(0, None), xticks=fractions * 100, xlabel="Top-scored customers contacted (%)",
             ylabel="Cumulative lift", title="Cumulative lift by decile of score")


def _shap_chart(importance: pd.Series) -> _Chart:
    top = importance.head(SHAP_TOP_FEATURES)
    return _Chart(
        "shap_summary.png", f"Mean absolute SHAP value of the top {len(top)} features",
        f"Bars are the mean absolute SHAP value of each feature over the holdout, or a seeded sample of "
        f"{IMPORTANCE_ROWS:,} of its rows when it has more (the {len(top)} largest of {len(importance)}): "
        "the average size of the feature's push on the model's output, which says how much "
        "the model leans on it, not in which direction.",
        lambda figure: _draw_shap(figure, top),
        size=(7.5, 1.2 + 0.32 * len(top)))


def _draw_shap(figure, top: pd.Series) -> None:
    axes = figure.subplots()
    positions = np.arange(len(top))
    axes.barh(positions, top.to_numpy(), color=MODEL_COLOR)
    axes.set_yticks(positions, [_label(name) for name in top.index], fontsize="small")
    axes.invert_yaxis()  # largest on top
    axes.set(xlabel="Mean |SHAP value|", title="Feature importance (mean |SHAP|)")


def _draw_grouped_bars(figure, metrics: pd.DataFrame, columns: list[str], model_name, colors) -> None:
    axes = figure.subplots()
    names = list(metrics.index)
    width = 0.8 / len(names)
    groups = np.arange(len(columns))
    handles = []
    for position, name in enumerate(names):
        values = _numeric_row(metrics, name, columns)
        offsets = groups - 0.4 + width * (position + 0.5)
        bars = axes.bar(offsets, np.nan_to_num(values), width=width, color=colors[name],
                        edgecolor="black" if name == model_name else "none", linewidth=1.2)
        handles.append(bars)
        for x, value in zip(offsets, values):
            axes.annotate("n/a" if math.isnan(value) else f"{value:.3f}", (x, 0 if math.isnan(value) else value),
                          xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7,
                          rotation=90 if len(names) > 3 else 0)
    _legend(axes, handles, [f"{name} (model)" if name == model_name else name for name in names], loc="lower right")
    axes.set_xticks(groups, columns)
    axes.set(ylim=(0, 1.12), ylabel="Value on the holdout (higher is better)", title="Model against baselines")


def _draw_metric_panels(figure, metrics: pd.DataFrame, columns: list[str], model_name, colors) -> None:
    # one panel per metric: revenue errors and a rank correlation share no scale
    names = list(metrics.index)
    for axes, column in zip(np.atleast_1d(figure.subplots(1, len(columns))), columns):
        values = _numeric_row(metrics, names, [column])
        positions = np.arange(len(names))
        axes.bar(positions, np.nan_to_num(values), color=[colors[name] for name in names],
                 edgecolor=["black" if name == model_name else "none" for name in names], linewidth=1.2)
        for x, value in zip(positions, values):
            axes.annotate("n/a" if math.isnan(value) else f"{value:.3g}", (x, 0 if math.isnan(value) else value),
                          xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7)
        axes.set_xticks(positions, [_label(name) for name in names], rotation=30, ha="right", fontsize="small")
        axes.axhline(0, color="black", linewidth=0.6)
        axes.set_title(f"{column} ({HIGHER if direction(column) == HIGHER else LOWER} is better)")


def _numeric_row(metrics: pd.DataFrame, names, columns: list[str]) -> np.ndarray:
    try:
        return metrics.loc[names, columns].to_numpy(dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"metrics columns {columns} must be numeric to chart them") from None


def _panel_size(panels: int) -> tuple[float, float]:
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    return (4.2 * columns, 3.8 * rows)


def _panel_axes(figure, panels: int, **kwargs) -> list:
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False, **kwargs)).ravel()
    for unused in grid[panels:]:
        unused.set_visible(False)
    return list(grid[:panels])


def _symlog_threshold(*arrays: np.ndarray) -> float:
    """Where the symlog axes turn linear: small against typical revenues, 1 when there is no revenue at all."""
    magnitudes = np.abs(np.concatenate(arrays))
    positive = magnitudes[magnitudes > 0]
    if positive.size == 0:
        return 1.0
    threshold = float(np.quantile(positive, 0.05))
    # a round number reads better on the axis than 0.8372...
    return float(10 ** math.floor(math.log10(threshold)))


def _draw_predicted_vs_actual(figure, actual, candidates, model_name, colors, linear_below: float) -> None:
    rows = np.arange(actual.size)
    if actual.size > SCATTER_MAX_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(actual.size, SCATTER_MAX_POINTS, replace=False))
    every_value = np.concatenate([actual, *candidates.values()])
    lowest, highest = every_value.min(), every_value.max()
    # headroom of half a decade on the log part; refunds can make revenue negative
    # a margin below 0 keeps the many zero-revenue customers off the frame
    limits = (lowest * 1.5 if lowest < 0 else -0.5 * linear_below, highest * 1.5 if highest > 0 else 1.0)
    for axes, (name, predicted) in zip(_panel_axes(figure, len(candidates), sharex=True, sharey=True),
                                       candidates.items()):
        axes.scatter(actual[rows], predicted[rows], s=6, alpha=0.35, color=colors[name], linewidths=0)
        axes.plot(limits, limits, linestyle="--", color="grey", linewidth=1)
        axes.set_xscale("symlog", linthresh=linear_below)
        axes.set_yscale("symlog", linthresh=linear_below)
        axes.set(xlim=limits, ylim=limits, xlabel="Actual revenue", ylabel="Predicted revenue")
        axes.set_title(_label(f"{name} (model)" if name == model_name else name), fontsize="medium",
                       fontweight="bold" if name == model_name else "normal")


def _prediction_deciles(predicted: np.ndarray) -> np.ndarray:
    """Decile 1..10 of each prediction, equal-size groups where values differ and ties kept together."""
    ranks = stats.rankdata(predicted, method="max")
    return np.ceil(10 * ranks / predicted.size).astype(int)


def _draw_deciles(figure, actual, candidates, model_name, colors) -> None:
    for axes, (name, predicted) in zip(_panel_axes(figure, len(candidates), sharey=True), candidates.items()):
        deciles = _prediction_deciles(predicted)
        present = np.unique(deciles)
        mean_actual = [actual[deciles == decile].mean() for decile in present]
        mean_predicted = [predicted[deciles == decile].mean() for decile in present]
        axes.bar(present - 0.2, mean_actual, width=0.4, color="#9a9a9a", label="mean actual")
        axes.bar(present + 0.2, mean_predicted, width=0.4, color=colors[name], label="mean predicted")
        axes.set_xticks(np.arange(1, 11))
        axes.set(xlim=(0.4, 10.6), xlabel="Decile of prediction (1 = lowest)", ylabel="Revenue per customer")
        axes.set_title(_label(f"{name} (model)" if name == model_name else name), fontsize="medium",
                       fontweight="bold" if name == model_name else "normal")
        axes.legend(fontsize="x-small", loc="upper left")


def _render(chart: _Chart, path: Path) -> None:
    figure = Figure(figsize=chart.size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # Agg explicitly, whatever backend the process chose
    chart.draw(figure)
    figure.savefig(path, format="png", dpi=DPI)
    # no pyplot, so nothing global holds the figure; clearing frees its artists now rather than at GC
    figure.clear()


# --------------------------------------------------------------------------------------------------
# HTML


def _format_value(value) -> str:
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))  # a count such as samples reads wrong as 5000.000
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return str(value)


def _best_rows(column: pd.Series, name: str) -> set:
    """Candidates holding the best value of a metric column with a known direction (ties all best)."""
    better = direction(name)
    if better is None:
        return set()
    values = pd.to_numeric(column, errors="coerce").astype(float)
    if better == CLOSER_TO_ZERO:
        values = values.abs()
    if values.isna().all():
        return set()
    best = values.max() if better == HIGHER else values.min()
    return set(values.index[values == best])


_DIRECTION_MARKS = {HIGHER: " ↑", LOWER: " ↓", CLOSER_TO_ZERO: " |↓|"}


def _direction_mark(name: str) -> str:
    return _DIRECTION_MARKS.get(direction(name), "")


def _metrics_table(metrics: pd.DataFrame, model_name) -> str:
    columns = list(metrics.columns)
    best = {column: _best_rows(metrics[column], column) for column in columns}
    header = "".join(f'<th scope="col">{html.escape(str(column) + _direction_mark(str(column)))}</th>'
                     for column in columns)
    rows = []
    for name in metrics.index:
        is_model = name == model_name
        name_cell = html.escape(str(name)) + (' <span class="tag">model</span>' if is_model else "")
        cells = []
        for column in columns:
            text = html.escape(_format_value(metrics.at[name, column]))
            cells.append(f"<td><strong>{text}</strong></td>" if name in best[column] else f"<td>{text}</td>")
        row_class = ' class="model"' if is_model else ""
        rows.append(f'<tr{row_class}><th scope="row">{name_cell}</th>{"".join(cells)}</tr>')
    return (f'<table class="metrics">\n<thead><tr><th scope="col">candidate</th>{header}</tr></thead>\n'
            f"<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>")


def _directions_note(columns) -> str:
    columns = [str(column) for column in columns]
    parts = []
    for better in (HIGHER, LOWER, CLOSER_TO_ZERO):
        present = [column for column in columns if direction(column) == better]
        if present:
            parts.append(f"{better} is better: {', '.join(present)}")
    if not parts:
        return ""
    return f"<p class=\"note\">Bold marks the best candidate per metric ({html.escape('; '.join(parts))}).</p>"


def _names_sentence(names: list[str]) -> str:
    readable = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "f1": "F1", "rmse": "RMSE", "mae": "MAE",
                "spearman": "Spearman"}
    words = [readable.get(name, name) for name in names]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 64rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
dl.context { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1.2rem; }
dl.context dt { font-weight: 600; }
dl.context dd { margin: 0; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 0.5rem 0; }
table.metrics th, table.metrics td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: right; }
table.metrics th[scope=row] { text-align: left; }
table.metrics tr.model { background: #eef3fb; }
.tag { font-size: 0.75em; background: #1f4e9c; color: #fff; border-radius: 0.3em; padding: 0 0.35em; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; max-width: 48rem; }
""".strip()


def _index_html(*, title: str, context, metrics: pd.DataFrame, model_name, charts: list[_Chart]) -> str:
    context_items = "".join(f"<dt>{html.escape(str(key))}</dt><dd>{html.escape(_format_value(value))}</dd>"
                            for key, value in (context or {}).items())
    figures = "\n".join(
        f'<figure>\n<img src="{html.escape(chart.filename)}" alt="{html.escape(chart.alt)}">\n'
        f"<figcaption>{html.escape(chart.how_to_read)}</figcaption>\n</figure>"
        for chart in charts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<title>{html.escape(title)}</title>
<style>
{STYLE}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{f'<dl class="context">{context_items}</dl>' if context_items else ""}
<h2>Holdout metrics</h2>
{_metrics_table(metrics, model_name)}
{_directions_note(metrics.columns)}
<h2>Charts</h2>
{figures}
</body>
</html>
"""


# --------------------------------------------------------------------------------------------------
# Writing: build beside the target, then swap it in


def _is_report(directory: Path) -> bool:
    index = directory / INDEX_NAME
    try:
        head = index.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">' in head


def _write_report(directory, *, title: str, context, metrics: pd.DataFrame, model_name,
                  charts: list[_Chart]) -> Path:
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if context is not None and not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping of label -> value, got {type(context).__name__}")
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ValueError(f"directory {str(target)!r} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not _is_report(target):
        # replacing deletes the old contents; only ever delete what this module wrote
        raise ValueError(f"directory {str(target)!r} holds files but no report written by {GENERATOR}; "
                         "refusing to replace it, choose an empty or new directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    # a sibling on the same file system, so the final rename is atomic; mkdir honours the umask (mkdtemp: 0o700)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        for chart in charts:
            _render(chart, staging / chart.filename)
        (staging / INDEX_NAME).write_text(
            _index_html(title=title, context=context, metrics=metrics, model_name=model_name, charts=charts),
            encoding="utf-8")
        if target.exists():
            # os.replace cannot replace a non-empty directory: move the old one aside first, then delete it
            retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
            os.replace(target, retired)
            try:
                os.replace(staging, target)
            except OSError:
                os.replace(retired, target)  # put the old report back rather than leave nothing
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / INDEX_NAME
