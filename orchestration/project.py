"""The dbt project as Dagster sees it. Kept in its own module for `dagster-dbt project prepare-and-package`."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
#: The dbt installed beside this Python: outside an activated virtualenv `dbt` is not on PATH.
VENV_DBT = Path(sys.executable).with_name("dbt")

dbt_project = DbtProject(project_dir=REPOSITORY_ROOT, profiles_dir=REPOSITORY_ROOT)
# Under `dagster dev` re-parse on start so edits to models show up; elsewhere the manifest is
# prepared at build time (`make dbt-parse`, run by `make test` / `make demo`), never per run.
dbt_project.prepare_if_dev()


def _dbt_inputs() -> list[Path]:
    files = [REPOSITORY_ROOT / "dbt_project.yml", REPOSITORY_ROOT / "profiles.yml"]
    for folder in ("dbt_project", "seeds"):
        files += [path for path in (REPOSITORY_ROOT / folder).rglob("*") if path.is_file()]
    return files


def manifest_is_stale() -> bool:
    """True when a dbt file changed after the manifest was written: @dbt_assets would describe old models
    and the run would fail on the first new one."""
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    written = manifest.stat().st_mtime
    return any(path.stat().st_mtime > written for path in _dbt_inputs())


def prepare_manifest_if_stale() -> bool:
    """`dbt parse` into a scratch folder, then swap manifest.json in atomically (safe for parallel callers).

    Must run before `orchestration.definitions` is imported. Returns whether it parsed.
    """
    if not manifest_is_stale():
        return False
    dbt = VENV_DBT
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix="parse-") as scratch:
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        subprocess.run(
            [str(dbt) if dbt.exists() else "dbt", "parse", "--quiet", "--project-dir", str(REPOSITORY_ROOT),
             "--profiles-dir", str(REPOSITORY_ROOT), "--target-path", scratch],
            check=True, cwd=REPOSITORY_ROOT, env=env,
        )
        os.replace(Path(scratch) / "manifest.json", dbt_project.manifest_path)
    return True


def keep_partial_parse(invocation_target: Path, project: DbtProject = dbt_project) -> None:
    """Make a finished dbt invocation's parse state the project's, for the next invocation to start from.

    dagster-dbt seeds each invocation's fresh target folder with target/partial_parse.msgpack, and dbt
    discards that file whenever the profile differs from the one it was parsed with; the warehouse path is
    part of the profile. So every run against another warehouse than `make dbt-parse` saw (the demo's, a
    shop's own) parsed the whole project again, once per dbt step. dbt checks the file before trusting it:
    a stale copy costs a parse, never a wrong build.
    """
    # dagster-dbt names the folder relative to the project (dbt runs there), not to this process's cwd
    parsed = project.project_dir / invocation_target / "partial_parse.msgpack"
    if not parsed.is_file():
        return
    kept = project.project_dir / project.target_path / "partial_parse.msgpack"
    # copied beside it, then renamed (as the manifest above): a concurrent invocation reads either file whole
    with tempfile.TemporaryDirectory(dir=kept.parent, prefix="keep-") as scratch:
        os.replace(shutil.copy(parsed, scratch), kept)
