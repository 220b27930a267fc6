"""Configuration as Dagster resources. Environment variables are read when a run starts, never at import."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from anticipate.config import WAREHOUSE_VAR, Settings
from orchestration.project import dbt_project


class AnticipateSettings(dg.ConfigurableResource):
    """Landing directory, warehouse file and optional mapping; unset fields fall back to
    ANTICIPATE_LANDING_DIR / ANTICIPATE_WAREHOUSE and then to the defaults."""

    landing_dir: str | None = None
    warehouse: str | None = None
    mapping_path: str | None = None

    def resolve(self) -> Settings:
        settings = Settings.from_env(landing_dir=self.landing_dir, warehouse=self.warehouse)
        return Settings(landing_dir=settings.landing_dir.resolve(), warehouse=settings.warehouse.resolve())

    def export_warehouse_for_dbt(self) -> Settings:
        """dbt runs as a subprocess and reads the warehouse path from the environment (profiles.yml)."""
        settings = self.resolve()
        os.environ[WAREHOUSE_VAR] = str(settings.warehouse)
        return settings


def dbt_cli_resource() -> DbtCliResource:
    # Outside an activated virtualenv `dbt` is not on PATH: use the one installed beside this Python.
    dbt_executable = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(dbt_executable) if dbt_executable.exists() else "dbt",
    )
