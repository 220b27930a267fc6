"""The Dagster code location loads and wires ingestion to dbt, as `dagster dev` and the CLI see it."""

from __future__ import annotations

import importlib.metadata

import dagster as dg


def load_defs() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


def test_definitions_load_and_validate():
    defs = load_defs()
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("daily_refresh") is not None
    assert defs.resolve_schedule_def("daily_refresh_schedule").cron_schedule == "0 5 * * *"
    assert defs.resolve_schedule_def("weekly_retrain_schedule").cron_schedule == "0 7 * * 1"


def test_the_retraining_job_forces_training_and_rescores_and_publishes_downstream():
    from orchestration.jobs import RETRAIN_RUN_CONFIG

    job = load_defs().resolve_job_def("retrain_models")
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert selected == {"churn_model", "propensity_model", "clv_model", "recommender_ranker", "recommender_candidates",
                        "predictions/churn_scores", "predictions/purchase_propensity",
                        "predictions/customer_lifetime_value", "predictions/next_best_products",
                        "predictions/similar_products", "predictions/customer_predictions",
                        "predictions/customer_next_best_products", "model_monitoring", "published_warehouse"}
    assert RETRAIN_RUN_CONFIG["resources"]["model_training"]["config"]["force"] is True


def test_dbt_staging_models_depend_on_the_ingested_raw_tables():
    graph = load_defs().resolve_asset_graph()
    produced_by_ingestion = {
        key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "ingestion"
    }
    assert dg.AssetKey(["raw", "customers"]) in produced_by_ingestion
    staging_customers = next(key for key in graph.get_all_asset_keys() if key.path[-1] == "stg_customers")
    assert dg.AssetKey(["raw", "customers"]) in graph.get(staging_customers).parent_keys


def test_dbt_tests_are_asset_checks():
    graph = load_defs().resolve_asset_graph()
    assert len(list(graph.asset_check_keys)) > 20


def test_daily_job_materializes_every_asset_in_the_code_location():
    defs = load_defs()
    job = defs.resolve_job_def("daily_refresh")
    every_asset = set(defs.resolve_asset_graph().materializable_asset_keys)
    assert dg.AssetKey(["raw", "order_items"]) in every_asset
    assert set(job.asset_layer.selected_asset_keys) == every_asset


def test_a_dbt_change_after_the_last_parse_is_detected_and_reparsed():
    """`anticipate run` re-parses a stale manifest instead of failing on a model Dagster does not know."""
    import os

    from orchestration.project import dbt_project, manifest_is_stale, prepare_manifest_if_stale

    manifest = dbt_project.manifest_path
    os.utime(manifest, (0, 0))  # as if every dbt file had changed since the parse
    assert manifest_is_stale()
    assert prepare_manifest_if_stale()
    assert not manifest_is_stale()
    assert not prepare_manifest_if_stale()


def test_a_dbt_steps_parse_is_kept_so_the_next_step_against_the_same_warehouse_does_not_reparse(tmp_path):
    """The warehouse path is part of dbt's profile: the parse `make dbt-parse` made for the default one was
    thrown away whole by every dbt step of a run against another warehouse."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from dagster_dbt import DbtProject

    from orchestration.project import REPOSITORY_ROOT, _dbt_inputs, keep_partial_parse

    for path in _dbt_inputs():  # the dbt project's own files, as the staleness check sees them
        copy = tmp_path / path.relative_to(REPOSITORY_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    project = DbtProject(project_dir=tmp_path, profiles_dir=tmp_path)

    def parse(target: str) -> str:
        env = {**os.environ, "ANTICIPATE_WAREHOUSE": str(tmp_path / "shop.duckdb"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run([str(Path(sys.executable).with_name("dbt")), "parse", "--project-dir", str(tmp_path),
                               "--profiles-dir", str(tmp_path), "--target-path", target],
                              cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        return done.stdout

    parse("target/first_step")  # a full parse: its folder starts empty
    keep_partial_parse(Path("target/first_step"), project)
    # what dagster-dbt does for each invocation: seed its fresh folder with the project's parse state
    (tmp_path / "target/second_step").mkdir()
    shutil.copy(tmp_path / "target/partial_parse.msgpack", tmp_path / "target/second_step/partial_parse.msgpack")
    second = parse("target/second_step")
    assert "Unable to do partial parsing" not in second
    target = tmp_path / "target"
    # nothing else left behind: no scratch copy; the kept file has the mode dbt gave the original
    assert sorted(path.name for path in target.iterdir()) == ["first_step", "partial_parse.msgpack", "second_step"]
    kept, parsed = target / "partial_parse.msgpack", target / "first_step/partial_parse.msgpack"
    assert kept.stat().st_mode == parsed.stat().st_mode


def test_the_dbt_resource_knows_the_installed_dbt_version_as_dbt_itself_reports_it():
    import subprocess

    from packaging import version

    from orchestration.resources import dbt_cli_resource

    resource = dbt_cli_resource()
    reported = subprocess.run([resource.dbt_executable, "--version"], capture_output=True, text=True, check=True).stdout
    assert f"installed: {resource._cli_version}" in reported
    assert resource._cli_version == version.parse(importlib.metadata.version("dbt-core"))


def test_another_dbt_executable_is_still_asked_for_its_version(tmp_path):
    from orchestration.resources import LocalDbtCliResource, dbt_cli_resource

    other_dbt = tmp_path / "dbt"
    other_dbt.write_text("#!/bin/sh\necho 'Core:'\necho '  - installed: 2.0.7'\n")
    other_dbt.chmod(0o755)
    resource = LocalDbtCliResource(project_dir=dbt_cli_resource().project_dir, dbt_executable=str(other_dbt))
    assert str(resource._cli_version) == "2.0.7"
