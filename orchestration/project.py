"""The dbt project as Dagster sees it. Kept in its own module for `dagster-dbt project prepare-and-package`."""

from pathlib import Path

from dagster_dbt import DbtProject

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

dbt_project = DbtProject(project_dir=REPOSITORY_ROOT, profiles_dir=REPOSITORY_ROOT)
# Under `dagster dev` re-parse on start so edits to models show up; elsewhere the manifest is
# prepared at build time (`make dbt-parse`, run by `make test` / `make demo`), never per run.
dbt_project.prepare_if_dev()
