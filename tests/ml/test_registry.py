"""Model registry: content-addressed artifacts and one champion per model in the warehouse."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import duckdb
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ml.registry import (
    MetricRow,
    ModelRecord,
    champion,
    load_artifact,
    model_history,
    register_model,
    rollback,
    save_artifact,
    set_status,
    status_history,
)


def fitted(C: float) -> LogisticRegression:
    return LogisticRegression(C=C).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_the_version_is_the_content_hash_and_saving_twice_is_idempotent(tmp_path):
    version, path = save_artifact(fitted(1.0), tmp_path, "churn_model")
    again, same_path = save_artifact(fitted(1.0), tmp_path, "churn_model")
    other, _ = save_artifact(fitted(0.1), tmp_path, "churn_model")
    assert version == again and path == same_path and version != other
    assert version.startswith("churn_model-") and len(version.split("-")[1]) == 12
    model = load_artifact(path, version)
    assert model.predict([[3.0]]).tolist() == [1]
    assert not list(tmp_path.glob("**/*.tmp*"))


def test_an_artifact_that_no_longer_matches_its_version_is_refused(tmp_path):
    version, path = save_artifact(fitted(1.0), tmp_path, "churn_model")
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ValueError, match="does not match version"):
        load_artifact(path, version)
    with pytest.raises(FileNotFoundError, match="models directory"):
        load_artifact(tmp_path / "gone.joblib")


def record(version: str, trained_at: datetime, status: str = "champion") -> ModelRecord:
    return ModelRecord(model_name="churn_model", model_version=version, trained_at=trained_at, horizon_days=90,
                       artifact_path=f"/models/{version}.joblib", training_window_start=date(2025, 1, 1),
                       training_window_end=date(2026, 6, 1), train_as_of_dates=["2025-01-01"], training_rows=100,
                       feature_list=["recency"], params={"threshold": 0.4}, status=status)


def test_a_new_champion_retires_the_previous_one_and_its_rows_come_along(tmp_path):
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        assert champion(connection, "churn_model") is None
        register_model(connection, record("churn_model-aaa", start), [MetricRow("holdout", "roc_auc", 0.7, "baseline", 0.65)],
                       pd.Series({"recency": 0.5, "frequency": 0.9}))
        register_model(connection, record("churn_model-bbb", start + timedelta(days=7)),
                       [MetricRow("holdout", "roc_auc", 0.72, "baseline", 0.66)], pd.Series({"recency": 0.4}))
        current = champion(connection, "churn_model")
        assert current.model_version == "churn_model-bbb" and current.params == {"threshold": 0.4}
        history = [(r.model_version, r.status) for r in model_history(connection, "churn_model")]
        assert history == [("churn_model-bbb", "champion"), ("churn_model-aaa", "retired")]
        assert model_history(connection, "churn_model")[1].status_reason == "replaced by churn_model-bbb"
        ranks = connection.execute("select feature, importance_rank from ml.feature_importance where model_version = 'churn_model-aaa' order by 2").fetchall()
        assert ranks == [("frequency", 1), ("recency", 2)]
        assert connection.execute("select count(*) from ml.model_metrics").fetchone()[0] == 2


def test_a_failed_registration_changes_nothing(tmp_path):
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        register_model(connection, record("churn_model-aaa", start), [])
        with pytest.raises(ValueError, match="status must be one of"):
            register_model(connection, record("churn_model-ccc", start, status="best"), [])
        bad_metrics = [MetricRow("holdout", "roc_auc", "not a number")]  # type: ignore[arg-type]
        with pytest.raises((ValueError, TypeError, duckdb.Error)):
            register_model(connection, record("churn_model-ddd", start), bad_metrics)
        assert [(r.model_version, r.status) for r in model_history(connection, "churn_model")] == [("churn_model-aaa", "champion")]


def test_rollback_restores_the_previous_champion_and_the_history_records_every_change(tmp_path):
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        versions = []
        for day in range(3):
            version, path = save_artifact(fitted(1.0 + day), tmp_path / "models", "churn_model")
            entry = record(version, start + timedelta(days=day))
            entry.artifact_path = str(path)
            register_model(connection, entry, [])
            versions.append(version)
        restored = rollback(connection, "churn_model")
        assert restored.model_version == versions[1]
        assert [r.status for r in model_history(connection, "churn_model")] == ["retired", "champion", "retired"]
        assert rollback(connection, "churn_model", versions[0]).model_version == versions[0]
        with pytest.raises(ValueError, match="already the champion"):
            rollback(connection, "churn_model", versions[0])
        with pytest.raises(ValueError, match="has no version 'churn_model-nope'"):
            rollback(connection, "churn_model", "churn_model-nope")
        changes = [(version, status) for version, status, _, _ in status_history(connection, "churn_model")]
        assert changes[-2:] == [(versions[1], "retired"), (versions[0], "champion")]
        assert sum(status == "champion" for _, status in changes) == 5  # three trainings, two rollbacks


def test_a_challenger_stays_beside_the_champion_until_promoted(tmp_path):
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        register_model(connection, record("churn_model-aaa", start), [])
        register_model(connection, record("churn_model-bbb", start + timedelta(days=1), status="challenger"), [])
        assert champion(connection, "churn_model").model_version == "churn_model-aaa"
        set_status(connection, "churn_model", "churn_model-bbb", "champion", reason="better on the holdout")
        assert champion(connection, "churn_model").model_version == "churn_model-bbb"
        assert model_history(connection, "churn_model")[1].status == "retired"
