"""Configuration as Dagster resources. Environment variables are read when a run starts, never at import."""

from __future__ import annotations

import importlib.metadata
import os
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from anticipate.config import WAREHOUSE_VAR, Settings, models_dir_for
from orchestration.project import VENV_DBT, dbt_project


class AnticipateSettings(dg.ConfigurableResource):
    """Landing directory, warehouse file and optional mapping; unset fields fall back to
    ANTICIPATE_LANDING_DIR / ANTICIPATE_WAREHOUSE and then to the defaults."""

    landing_dir: str | None = None
    warehouse: str | None = None
    mapping_path: str | None = None
    published_path: str | None = None

    def resolve(self) -> Settings:
        settings = Settings.from_env(landing_dir=self.landing_dir, warehouse=self.warehouse)
        return Settings(landing_dir=settings.landing_dir.resolve(), warehouse=settings.warehouse.resolve())

    def published(self) -> Path:
        """Where readers find the published copy: the field, else ANTICIPATE_PUBLISHED_PATH, else beside the warehouse."""
        from anticipate.publish import default_published_path

        return Path(self.published_path).expanduser().resolve() if self.published_path else \
            default_published_path(self.resolve().warehouse).resolve()

    def export_warehouse_for_dbt(self) -> Settings:
        """dbt runs as a subprocess and reads the warehouse path from the environment (profiles.yml)."""
        settings = self.resolve()
        os.environ[WAREHOUSE_VAR] = str(settings.warehouse)
        return settings


class ModelTraining(dg.ConfigurableResource):
    """How the customer models train: where artifacts go, how hard the hyper-parameter search works, and
    the label horizons. The horizons must match the dbt vars churn_horizon_days, propensity_horizon_days
    and revenue_horizon_days that named the label columns (defaults 90, 30, 90)."""

    models_dir: str | None = None
    #: the daily job retrains a model only when its champion is older than this (or there is none); the
    #: weekly schedule and the drift sensor set `force` to retrain regardless
    retrain_after_days: int = 7
    force: bool = False
    n_iter: int = 6
    cv_folds: int = 3
    time_budget_seconds: float = 60.0
    #: cores to use: model fits side by side on threads (each LightGBM fit on one), the recommender's iALS
    #: refresh threads, and worker processes that score recommendation batches side by side (1 on a machine
    #: shared with other work)
    n_jobs: int = 1
    random_state: int = 0
    min_train_dates: int = 3
    min_class_rows: int = 20
    #: train on at most the latest N labelled as-of dates (None: all): recent behaviour, bounded fit time
    max_train_dates: int | None = None
    #: a retrained classifier replaces the champion unless its holdout ROC-AUC is lower by more than this
    promotion_tolerance_auc: float = 0.01
    #: ... and a lifetime-value model unless its holdout RMSE is higher by more than this share
    promotion_tolerance_rmse_ratio: float = 0.02
    #: the drift sensor requests retraining only with at least this many labelled outcomes since the
    #: champion's training, at most once per drift_min_interval_hours, when a change is detected in the
    #: realised errors or at least drift_share_threshold of the features drifted
    drift_min_new_outcomes: int = 500
    drift_min_interval_hours: float = 24.0
    drift_share_threshold: float = 0.3
    #: ... and a recommender unless its holdout NDCG@10 is lower by more than this
    promotion_tolerance_ndcg: float = 0.005
    #: purchases in this many days after the cutoff are the recommender's labels and its holdout window
    recommendation_horizon_days: int = 14
    #: implicit-feedback weight per interaction type for the recommender (keep in step with the dbt var
    #: `event_weights`, which weights marts.customer_product_interactions); a rating counts rating x weight
    recommendation_event_weights: dict[str, float] = {"view": 1.0, "cart": 3.0, "purchase": 5.0, "rating": 1.0}
    #: keep products a customer bought in the last N days out of their list (0 = off: re-buying is most of
    #: what grocery-like shops see); `non_repeatable_categories` limits it to those categories (empty = all)
    exclude_bought_within_days: int = 0
    non_repeatable_categories: list[str] = []
    churn_horizon_days: int = 90
    propensity_horizon_days: int = 30
    revenue_horizon_days: int = 90

    def models_path(self, warehouse: Path) -> Path:
        return models_dir_for(warehouse, self.models_dir).resolve()

    def training_settings(self):
        from ml.training import TrainingSettings  # deferred: scipy and scikit-learn are slow to import

        return TrainingSettings(n_iter=self.n_iter, cv_folds=self.cv_folds, time_budget_seconds=self.time_budget_seconds,
                                n_jobs=self.n_jobs, random_state=self.random_state,
                                min_train_dates=self.min_train_dates, min_class_rows=self.min_class_rows,
                                max_train_dates=self.max_train_dates)


class LocalDbtCliResource(DbtCliResource):
    """DbtCliResource without two start-up costs that these assets do not need (dagster-dbt is pinned exactly).

    - The version of the dbt installed beside this Python comes from its package metadata. dagster-dbt asks
      the executable (`dbt --version`), a process that imports dbt: 4.8 s before the first dbt step of every
      run on 2 cores. Any other executable is still asked.
    - No in-process dbt adapter. dagster-dbt builds one before every dbt command (about 2.4 s: dbt's project,
      profile and macros) only to fetch column metadata and row counts, which no asset here asks for
      (`fetch_column_metadata`, `fetch_row_counts`); without it the events stream while dbt runs.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable) == VENV_DBT:
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_cli_resource() -> DbtCliResource:
    return LocalDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(VENV_DBT) if VENV_DBT.exists() else "dbt",
    )
