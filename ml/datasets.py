"""Training sets from the warehouse's `ml.customer_training_set`, and the time-based split.

The split is the honest one: the test as-of date is the latest labelled one, and a training as-of date
is kept only when its whole label window closes on or before the test as-of date, so no training label
looks at the period the test rows are scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

__all__ = [
    "TARGETS",
    "KEY_COLUMNS",
    "InsufficientHistoryError",
    "TimeSplit",
    "target_column",
    "load_training_set",
    "feature_columns",
    "prepare_features",
    "time_split",
]

#: Target kind -> (column prefix, default horizon in days). The column is `<prefix><H>d`.
TARGETS = {
    "churn": ("churned_", 90),
    "propensity": ("purchases_in_", 30),
    "revenue": ("revenue_in_", 90),
}
KEY_COLUMNS = ("customer_id", "as_of_date")
#: Label-side columns of the training set that are never features.
_LABEL_SIDE_COLUMNS = ("label_data_end_date", "is_active_prior_year", "is_placeholder")
_LABEL_PREFIXES = tuple(prefix for prefix, _ in TARGETS.values())


class InsufficientHistoryError(ValueError):
    """The history is too short for the horizon: too few labelled as-of dates or too few examples of a
    class. The orchestration turns it into "kept the previous champion" instead of training on scraps."""


def target_column(target: str, horizon_days: int | None = None) -> str:
    """Column name of a target, e.g. ("churn", 90) -> "churned_90d"."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    prefix, default = TARGETS[target]
    horizon = default if horizon_days is None else horizon_days
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon_days must be an int >= 1, got {horizon!r}")
    return f"{prefix}{int(horizon)}d"


def load_training_set(warehouse: str | Path, *, target: str, horizon_days: int | None = None) -> pd.DataFrame:
    """Rows of `ml.customer_training_set` whose `target` label is observed.

    Returns
    -------
    pandas.DataFrame of shape (labelled rows, features + keys + labels)
        Sorted by as_of_date, customer_id; `as_of_date` as datetime64.
    """
    column = target_column(target, horizon_days)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        available = {row[0] for row in connection.execute("describe ml.customer_training_set").fetchall()}
        if column not in available:
            raise ValueError(
                f"ml.customer_training_set has no column {column!r} (labels there: "
                f"{', '.join(sorted(c for c in available if c.startswith(_LABEL_PREFIXES)))}); rebuild it with "
                f"--vars '{{{target}_horizon_days: {column[len(TARGETS[target][0]):-1]}}}'"
            )
        frame = connection.execute(
            f'select * from ml.customer_training_set where "{column}" is not null order by as_of_date, customer_id'
        ).df()
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    return frame


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns of a training frame: everything but keys, labels and label-side metadata."""
    return [
        name for name in frame.columns
        if name not in KEY_COLUMNS and name not in _LABEL_SIDE_COLUMNS and not name.startswith(_LABEL_PREFIXES)
    ]


def prepare_features(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Model input with a stable schema: text columns as `category`, everything else as float64.

    DuckDB hands VARCHAR over as pandas' `str` dtype and integers as `Int64` only when nulls occur, so
    the dtypes would otherwise depend on the data.
    """
    columns = feature_columns(frame) if columns is None else list(columns)
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks feature columns {missing}; it has {list(frame.columns)}")
    prepared = {}
    for name in columns:
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            prepared[name] = series.astype("float64")
        else:
            prepared[name] = series.astype("object").astype("category")
    return pd.DataFrame(prepared, index=frame.index)


@dataclass(frozen=True)
class TimeSplit:
    """Positions of the training and test rows of a frame, and the dates they come from."""

    train_index: np.ndarray
    test_index: np.ndarray
    train_as_of_dates: tuple[pd.Timestamp, ...]
    test_as_of_date: pd.Timestamp


def time_split(frame: pd.DataFrame, *, target_column: str, horizon_days: int, min_train_dates: int = 3,
               min_class_rows: int = 20, max_train_dates: int | None = None) -> TimeSplit:
    """Train on earlier as-of dates, test on the latest labelled one.

    `max_train_dates` keeps only the latest that many training as-of dates (None: all of them): recent
    behaviour only, and a fit that grows with the window instead of the whole history.

    Raises
    ------
    InsufficientHistoryError
        Fewer than `min_train_dates` as-of dates close their label window by the test date, or the
        training or test rows hold fewer than `min_class_rows` of either class.
    """
    if not isinstance(min_train_dates, int) or min_train_dates < 1:
        raise ValueError(f"min_train_dates must be an int >= 1, got {min_train_dates!r}")
    if max_train_dates is not None and (not isinstance(max_train_dates, int) or max_train_dates < min_train_dates):
        raise ValueError(f"max_train_dates must be None or an int >= min_train_dates ({min_train_dates}), got {max_train_dates!r}")
    labelled = frame[frame[target_column].notna()]
    dates = sorted(labelled["as_of_date"].unique())
    if not dates:
        raise InsufficientHistoryError(f"{target_column}: no labelled as-of date; the history is shorter than the horizon")
    test_date = pd.Timestamp(dates[-1])
    train_dates = tuple(pd.Timestamp(d) for d in dates if pd.Timestamp(d) + pd.Timedelta(days=horizon_days) <= test_date)
    if len(train_dates) < min_train_dates:
        raise InsufficientHistoryError(
            f"{target_column}: {len(train_dates)} as-of date(s) close their {horizon_days}-day label window before "
            f"the test date {test_date.date()}, need at least {min_train_dates}; labelled dates span "
            f"{pd.Timestamp(dates[0]).date()}..{test_date.date()}"
        )
    if max_train_dates is not None:
        train_dates = train_dates[-max_train_dates:]
    as_of = frame["as_of_date"]
    is_labelled = frame[target_column].notna().to_numpy()
    train_mask = as_of.isin(train_dates).to_numpy() & is_labelled
    test_mask = (as_of == test_date).to_numpy() & is_labelled
    for part, mask in (("training", train_mask), ("test", test_mask)):
        values = frame.loc[mask, target_column].astype(float)
        positives, negatives = int(values.sum()), int((values == 0).sum())
        if min(positives, negatives) < min_class_rows:
            raise InsufficientHistoryError(
                f"{target_column}: the {part} rows hold {positives} positive and {negatives} negative examples, "
                f"need at least {min_class_rows} of each"
            )
    return TimeSplit(np.flatnonzero(train_mask), np.flatnonzero(test_mask), train_dates, test_date)
