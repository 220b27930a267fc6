"""The model registry: fitted artifacts on disk under content-addressed versions, and their records in the
warehouse (`ml.model_registry`, `ml.model_metrics`, `ml.feature_importance`) so BI tools and the scoring
steps read which version is champion, how it was trained and how it measured against its baselines.

A version is `<model_name>-<first 12 hex digits of the artifact's sha256>`: the same fitted object always
gets the same version, and a file can be checked against its name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import joblib
import pandas as pd

__all__ = [
    "ModelRecord",
    "MetricRow",
    "REGISTRY_TABLES_DDL",
    "ensure_registry_tables",
    "save_artifact",
    "load_artifact",
    "register_model",
    "champion",
    "model_history",
    "set_status",
    "promote",
    "rollback",
    "status_history",
]

REGISTRY_TABLES_DDL = (
    "create schema if not exists ml",
    """
    create table if not exists ml.model_registry (
        model_name varchar not null,
        model_version varchar not null,
        trained_at timestamptz not null,
        horizon_days integer not null,
        training_window_start date,
        training_window_end date,
        train_as_of_dates json,
        holdout_as_of_date date,
        training_rows bigint,
        feature_list json,
        params json,
        artifact_path varchar not null,
        report_path varchar,
        status varchar not null,
        status_changed_at timestamptz not null,
        status_reason varchar,
        primary key (model_name, model_version)
    )
    """,
    """
    create table if not exists ml.model_metrics (
        model_name varchar not null,
        model_version varchar not null,
        split varchar not null,
        metric varchar not null,
        value double,
        baseline_name varchar,
        baseline_value double,
        measured_at timestamptz not null
    )
    """,
    """
    create table if not exists ml.model_status_history (
        model_name varchar not null,
        model_version varchar not null,
        status varchar not null,
        changed_at timestamptz not null,
        reason varchar
    )
    """,
    """
    create table if not exists ml.feature_importance (
        model_name varchar not null,
        model_version varchar not null,
        feature varchar not null,
        importance_rank integer not null,
        mean_abs_shap double not null
    )
    """,
)

STATUSES = ("champion", "challenger", "retired")


@dataclass(frozen=True)
class MetricRow:
    """One metric of a model on a split, beside one comparator (a baseline or an alternative model)."""

    split: str
    metric: str
    value: float | None
    baseline_name: str | None = None
    baseline_value: float | None = None


@dataclass
class ModelRecord:
    """A row of ml.model_registry."""

    model_name: str
    model_version: str
    trained_at: datetime
    horizon_days: int
    artifact_path: str
    training_window_start: date | None = None
    training_window_end: date | None = None
    train_as_of_dates: list[str] = field(default_factory=list)
    holdout_as_of_date: date | None = None
    training_rows: int | None = None
    feature_list: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    report_path: str | None = None
    status: str = "champion"
    status_changed_at: datetime | None = None
    status_reason: str | None = None


def _has_registry(connection: duckdb.DuckDBPyConnection) -> bool:
    # readers may hold a read-only connection: look, never create
    return bool(connection.execute(
        "select count(*) from information_schema.tables where table_schema = 'ml' and table_name = 'model_status_history'"
    ).fetchone()[0])


def ensure_registry_tables(connection: duckdb.DuckDBPyConnection) -> None:
    for statement in REGISTRY_TABLES_DDL:
        connection.execute(statement)


def save_artifact(model: object, models_dir: str | os.PathLike, model_name: str) -> tuple[str, Path]:
    """Persist a fitted model under its content-addressed version; returns (model_version, path).

    Written to a temporary file and renamed, so a killed run never leaves a truncated artifact under a
    version name. Saving the same object twice is a no-op returning the same version.
    """
    if not model_name or not model_name.replace("_", "").isalnum():
        raise ValueError(f"model_name must be letters, digits and underscores, got {model_name!r}")
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    payload = buffer.getvalue()
    version = f"{model_name}-{hashlib.sha256(payload).hexdigest()[:12]}"
    folder = Path(models_dir) / model_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.joblib"
    if not path.exists():
        temporary = path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(payload)
        os.replace(temporary, path)
    return version, path.resolve()


def load_artifact(path: str | os.PathLike, model_version: str | None = None) -> object:
    """Load a fitted model; with `model_version`, first check the file's content still matches its version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model artifact {path} does not exist: was the models directory moved or cleaned?")
    payload = path.read_bytes()
    if model_version is not None:
        digest = hashlib.sha256(payload).hexdigest()[:12]
        if not model_version.endswith(f"-{digest}"):
            raise ValueError(f"model artifact {path} does not match version {model_version} (content hash {digest})")
    return joblib.load(io.BytesIO(payload))


def register_model(connection: duckdb.DuckDBPyConnection, record: ModelRecord, metrics: list[MetricRow],
                   importance: pd.Series | None = None) -> None:
    """Record a trained model, its metrics and feature importance in one transaction.

    A record with status "champion" retires the model's previous champion in the same transaction, so
    there is exactly one champion per model name at any time. Registering a version that is already
    registered (the same artifact trained again) replaces its rows.
    """
    if record.status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {record.status!r}")
    ensure_registry_tables(connection)
    now = record.status_changed_at or record.trained_at
    key = [record.model_name, record.model_version]
    connection.execute("begin transaction")
    try:
        # the status history stays: it is the audit trail, also of a version trained again
        for table in ("model_registry", "model_metrics", "feature_importance"):
            connection.execute(f"delete from ml.{table} where model_name = ? and model_version = ?", key)
        if record.status == "champion":
            _retire_champion(connection, record.model_name, now, f"replaced by {record.model_version}")
        connection.execute(
            """
            insert into ml.model_registry values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                record.model_name, record.model_version, record.trained_at, record.horizon_days,
                record.training_window_start, record.training_window_end, json.dumps(record.train_as_of_dates),
                record.holdout_as_of_date, record.training_rows, json.dumps(record.feature_list),
                json.dumps(record.params, default=_json_default), record.artifact_path, record.report_path,
                record.status, now, record.status_reason,
            ],
        )
        connection.execute("insert into ml.model_status_history values (?, ?, ?, ?, ?)",
                           [*key, record.status, now, record.status_reason])
        if metrics:
            connection.executemany(
                "insert into ml.model_metrics values (?, ?, ?, ?, ?, ?, ?, ?)",
                [[*key, row.split, row.metric, _finite(row.value), row.baseline_name, _finite(row.baseline_value), now]
                 for row in metrics],
            )
        if importance is not None and len(importance):
            ordered = importance.sort_values(ascending=False)
            connection.executemany(
                "insert into ml.feature_importance values (?, ?, ?, ?, ?)",
                [[*key, str(feature), rank, float(value)]
                 for rank, (feature, value) in enumerate(ordered.items(), start=1)],
            )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise


def _retire_champion(connection: duckdb.DuckDBPyConnection, model_name: str, now: datetime, reason: str) -> None:
    current = connection.execute(
        "select model_version from ml.model_registry where model_name = ? and status = 'champion'", [model_name]
    ).fetchall()
    for (version,) in current:
        _write_status(connection, model_name, version, "retired", now, reason)


def _write_status(connection, model_name: str, version: str, status: str, now: datetime, reason: str | None) -> None:
    connection.execute(
        "update ml.model_registry set status = ?, status_changed_at = ?, status_reason = ? "
        "where model_name = ? and model_version = ?", [status, now, reason, model_name, version],
    )
    connection.execute("insert into ml.model_status_history values (?, ?, ?, ?, ?)", [model_name, version, status, now, reason])


def set_status(connection: duckdb.DuckDBPyConnection, model_name: str, model_version: str, status: str, *,
               reason: str, now: datetime | None = None) -> None:
    """Change one version's status and record it in ml.model_status_history. Making a version champion
    retires the current champion in the same transaction (one champion per model at any time)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    ensure_registry_tables(connection)
    exists = connection.execute("select status from ml.model_registry where model_name = ? and model_version = ?",
                                [model_name, model_version]).fetchone()
    if exists is None:
        known = [r.model_version for r in model_history(connection, model_name)]
        raise ValueError(f"{model_name} has no version {model_version!r}; registered: {', '.join(known) or 'none'}")
    now = now or datetime.now(timezone.utc)
    connection.execute("begin transaction")
    try:
        if status == "champion" and exists[0] != "champion":
            _retire_champion(connection, model_name, now, f"replaced by {model_version}: {reason}")
        _write_status(connection, model_name, model_version, status, now, reason)
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise


def promote(connection: duckdb.DuckDBPyConnection, model_name: str, model_version: str, *, reason: str) -> None:
    """Make a challenger the champion (the previous champion is retired)."""
    set_status(connection, model_name, model_version, "champion", reason=reason)


def rollback(connection: duckdb.DuckDBPyConnection, model_name: str, to_version: str | None = None) -> ModelRecord:
    """Make an earlier version champion again: `to_version`, or by default the most recently retired one
    (the previous champion). Its artifact must still exist. Returns the new champion."""
    history = model_history(connection, model_name)
    if not history:
        raise ValueError(f"{model_name} has no registered versions to roll back to")
    current = next((r for r in history if r.status == "champion"), None)
    if to_version is None:
        retired = sorted((r for r in history if r.status == "retired"), key=lambda r: r.status_changed_at, reverse=True)
        if not retired:
            raise ValueError(f"{model_name} has no retired version to roll back to")
        target = retired[0]
    else:
        target = next((r for r in history if r.model_version == to_version), None)
        if target is None:
            raise ValueError(f"{model_name} has no version {to_version!r}; registered: "
                             + ", ".join(r.model_version for r in history))
    if current is not None and target.model_version == current.model_version:
        raise ValueError(f"{target.model_version} is already the champion of {model_name}")
    if not Path(target.artifact_path).is_file():
        raise FileNotFoundError(f"cannot roll back to {target.model_version}: its artifact {target.artifact_path} is gone")
    set_status(connection, model_name, target.model_version, "champion",
               reason=f"rolled back from {current.model_version if current else 'no champion'}")
    return champion(connection, model_name)


def status_history(connection: duckdb.DuckDBPyConnection, model_name: str) -> list[tuple[str, str, datetime, str | None]]:
    """(version, status, changed_at, reason) of every status change of `model_name`, oldest first."""
    if not _has_registry(connection):
        return []
    return connection.execute(
        "select model_version, status, changed_at, reason from ml.model_status_history where model_name = ? "
        "order by changed_at, rowid", [model_name]
    ).fetchall()


def champion(connection: duckdb.DuckDBPyConnection, model_name: str) -> ModelRecord | None:
    """The current champion of `model_name`, or None when none was ever trained."""
    if not _has_registry(connection):
        return None
    frame = connection.execute(
        "select * from ml.model_registry where model_name = ? and status = 'champion'", [model_name]
    ).df()
    if frame.empty:
        return None
    return _record(frame.iloc[0])


def model_history(connection: duckdb.DuckDBPyConnection, model_name: str) -> list[ModelRecord]:
    """Every registered version of `model_name`, newest first."""
    if not _has_registry(connection):
        return []
    frame = connection.execute(
        "select * from ml.model_registry where model_name = ? order by trained_at desc", [model_name]
    ).df()
    return [_record(row) for _, row in frame.iterrows()]


def _record(row: pd.Series) -> ModelRecord:
    def optional_date(value):
        return None if pd.isna(value) else pd.Timestamp(value).date()

    return ModelRecord(
        model_name=row["model_name"],
        model_version=row["model_version"],
        trained_at=pd.Timestamp(row["trained_at"]).to_pydatetime(),
        horizon_days=int(row["horizon_days"]),
        artifact_path=row["artifact_path"],
        training_window_start=optional_date(row["training_window_start"]),
        training_window_end=optional_date(row["training_window_end"]),
        train_as_of_dates=json.loads(row["train_as_of_dates"]) if isinstance(row["train_as_of_dates"], str) else [],
        holdout_as_of_date=optional_date(row["holdout_as_of_date"]),
        training_rows=None if pd.isna(row["training_rows"]) else int(row["training_rows"]),
        feature_list=json.loads(row["feature_list"]) if isinstance(row["feature_list"], str) else [],
        params=json.loads(row["params"]) if isinstance(row["params"], str) else {},
        report_path=None if pd.isna(row["report_path"]) else row["report_path"],
        status=row["status"],
        status_changed_at=pd.Timestamp(row["status_changed_at"]).to_pydatetime(),
        status_reason=None if pd.isna(row["status_reason"]) else row["status_reason"],
    )


def _finite(value: float | None) -> float | None:
    # NaN (e.g. Spearman of a constant prediction) is stored as NULL: SQL readers treat it as unknown
    if value is None or pd.isna(value):
        return None
    return float(value)


def _json_default(value):
    # numpy scalars from parameter samplers
    if hasattr(value, "item"):
        return value.item()
    return str(value)
