"""Where things live. Every entry point (CLI, dbt profile, Dagster resources) reads the same two variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LANDING_DIR_VAR = "ANTICIPATE_LANDING_DIR"
WAREHOUSE_VAR = "ANTICIPATE_WAREHOUSE"
MODELS_DIR_VAR = "ANTICIPATE_MODELS_DIR"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_WAREHOUSE = "warehouse/anticipate.duckdb"

#: Repository root (the folder holding dbt_project.yml).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Warehouse schemas, in data-flow order. dbt's generate_schema_name is overridden so these are exact.
SCHEMAS = ("raw", "staging", "intermediate", "marts", "ml", "predictions")


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse: Path

    @classmethod
    def from_env(cls, *, landing_dir: str | os.PathLike | None = None, warehouse: str | os.PathLike | None = None) -> "Settings":
        """Explicit arguments win over environment variables, which win over the defaults.

        Read at call time, never at import, so tests and Dagster resources can set them per run.
        """
        landing = landing_dir or os.environ.get(LANDING_DIR_VAR) or DEFAULT_LANDING_DIR
        wh = warehouse or os.environ.get(WAREHOUSE_VAR) or DEFAULT_WAREHOUSE
        return cls(landing_dir=Path(landing).expanduser(), warehouse=Path(wh).expanduser())


def models_dir_for(warehouse: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path:
    """Where fitted model artifacts and reports go: `models_dir`, else ANTICIPATE_MODELS_DIR, else a `models`
    folder beside the warehouse file (so a demo warehouse and a shop's warehouse never share models)."""
    chosen = models_dir or os.environ.get(MODELS_DIR_VAR)
    return Path(chosen).expanduser() if chosen else Path(warehouse).expanduser().parent / "models"
