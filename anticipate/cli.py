"""The `anticipate` command: demo data, ingestion, the daily run, and the warehouse's status.

Heavy imports (dagster, dbt, pandas) are deferred into the commands so `anticipate --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from anticipate.config import DEFAULT_LANDING_DIR, DEFAULT_WAREHOUSE, LANDING_DIR_VAR, PROJECT_ROOT, WAREHOUSE_VAR, Settings

EXAMPLE_QUERIES = (
    "select count(*) as customers, count(*) filter (where is_placeholder) as placeholders from marts.dim_customers;",
    "select as_of_date, count(*) as customers, round(avg(purchase_orders_365d), 2) as avg_orders_365d\n"
    "  from marts.customer_features_snapshot group by 1 order by 1 desc limit 6;",
    "select source, reason, count(*) as rows from raw.rejected_rows group by all order by rows desc;",
    "select churn_risk_band, count(*) as customers, round(avg(churn_probability), 3) as avg_churn_probability,\n"
    "       round(sum(expected_revenue)) as expected_revenue_90d\n"
    "  from predictions.customer_predictions where churn_risk_band is not null group by 1 order by 3 desc;",
)


#: The demo trains with a smaller hyper-parameter search than `anticipate run` (ModelTraining's defaults),
#: on its latest 6 monthly as-of dates instead of all ~20, so it finishes in minutes; its model results are
#: never quoted anyway (generated data). Its fits run two at a time (nothing else runs beside the demo):
#: training the three customer models on the demo warehouse took 14.0-15.0 s against 19.2-20.9 s one at a
#: time (2 cores, two runs each, alternated), with the same fitted models.
DEMO_MODEL_TRAINING = {"n_iter": 2, "cv_folds": 2, "time_budget_seconds": 15, "max_train_dates": 6,
                       "n_jobs": min(os.cpu_count() or 1, 2)}


class CliError(Exception):
    """A failure the user can fix; printed as one `error:` line without a traceback."""


def _print(message: str = "") -> None:
    print(message, flush=True)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace, *, landing_dir: str | None = None, warehouse: str | None = None) -> Settings:
    settings = Settings.from_env(landing_dir=getattr(args, "landing_dir", None) or landing_dir,
                                 warehouse=getattr(args, "warehouse", None) or warehouse)
    resolved = Settings(landing_dir=settings.landing_dir.resolve(), warehouse=settings.warehouse.resolve())
    # dbt (a subprocess) and Dagster resources read the same variables: make them agree with the CLI.
    os.environ[LANDING_DIR_VAR] = str(resolved.landing_dir)
    os.environ[WAREHOUSE_VAR] = str(resolved.warehouse)
    return resolved


def _prepare_dagster_home() -> Path:
    """Runs are recorded where `make dev` looks, so the UI shows CLI runs too."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text((PROJECT_ROOT / "orchestration" / "dagster.yaml").read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DBT_PROFILES_DIR", str(PROJECT_ROOT))
    return home


# --- commands ---------------------------------------------------------------------------------


def cmd_demo_data(args: argparse.Namespace) -> int:
    from anticipate.demo_data import generate_demo_data

    out = Path(args.out or Settings.from_env().landing_dir)
    started = time.perf_counter()
    summary = generate_demo_data(out, customers=args.customers, seed=args.seed, progress=_progress)
    _print(f"demo data for {args.customers:,} customers (seed {args.seed}) written to {out} in {time.perf_counter() - started:.1f}s")
    for name, rows in summary.rows_by_file.items():
        _print(f"  {name:<32} {rows:>12,} rows")
    dirty = ", ".join(f"{count} {kind}" for kind, count in summary.dirty_rows.items() if count)
    _print(f"  deliberately damaged rows, for ingestion to quarantine: {dirty or 'none'}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from anticipate.ingest import ingest

    settings = _settings(args)
    result = ingest(settings.landing_dir, settings.warehouse, mapping_path=_mapping(args), progress=_progress)
    _print_ingest_result(result)
    return 0


def _mapping(args: argparse.Namespace) -> Path | None:
    return Path(args.mapping).resolve() if getattr(args, "mapping", None) else None


def _print_ingest_result(result) -> None:
    _print(f"batch {result.batch_id}")
    for entry in result.files:
        _print(
            f"  {entry.status:<8} {entry.source:<24} {Path(entry.file).name:<32} "
            f"read {entry.rows_read or 0:>10,}  loaded {entry.rows_loaded or 0:>10,}  rejected {entry.rows_rejected or 0:>8,}"
        )
        if entry.warnings:
            _print(f"           warning: {'; '.join(entry.warnings)}")
    for reason, count in sorted(result.rejects_by_reason.items(), key=lambda item: -item[1]):
        _print(f"  rejected {count:>8,}  {reason}")


def run_daily_job(settings: Settings, *, mapping: Path | None = None, debug: bool = False,
                  model_training: dict | None = None):
    """Execute the `daily_refresh` job in this process: the job the schedule runs, recorded in DAGSTER_HOME.

    `model_training` overrides fields of the ModelTraining resource (e.g. a smaller search in tests)."""
    _prepare_dagster_home()
    import dagster as dg
    from dagster._core.errors import DagsterExecutionStepExecutionError

    from orchestration.project import prepare_manifest_if_stale

    if prepare_manifest_if_stale():  # a dbt model changed since the last parse
        _progress("dbt project changed: manifest re-parsed")
    from orchestration.definitions import defs
    from orchestration.loggers import cli_console_logger

    job = defs.resolve_job_def("daily_refresh").with_logger_defs({"console": cli_console_logger})
    run_config = {
        "resources": {
            "settings": {
                "config": {
                    "landing_dir": str(settings.landing_dir),
                    "warehouse": str(settings.warehouse),
                    "mapping_path": str(mapping) if mapping else None,
                }
            },
            "model_training": {"config": dict(model_training or {})},
        },
        "loggers": {"console": {"config": {"log_level": "INFO", "tracebacks": debug}}},
    }
    with dg.DagsterInstance.get() as instance:
        try:
            return job.execute_in_process(run_config=run_config, instance=instance)
        except DagsterExecutionStepExecutionError as error:
            # Surface the user's own error (a FileError, a failed dbt test), not Dagster's wrapper.
            raise error.user_exception from error


def _report_run(result, started: float, *, prefix: str = "") -> bool:
    """Print the run's outcome and each failed data test; True when the run and every test passed."""
    checks = result.get_asset_check_evaluations()
    failed = [check for check in checks if not check.passed]
    _print(f"{prefix}done in {time.perf_counter() - started:.0f}s: run {'succeeded' if result.success else 'FAILED'}, "
           f"{len(checks) - len(failed)} of {len(checks)} data tests passed (run {result.run_id})")
    for check in failed:
        _print(f"  failed test: {check.asset_key.to_user_string()} {check.check_name}")
    return result.success and not failed


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = time.perf_counter()
    result = run_daily_job(settings, mapping=_mapping(args), debug=args.debug)
    return 0 if _report_run(result, started) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from anticipate.status import warehouse_status

    settings = _settings(args)
    if args.published_path:
        import duckdb

        from anticipate.publish import MANIFEST_TABLE, default_published_path

        published = default_published_path(settings.warehouse).resolve()
        if not published.exists():
            raise CliError(f"{published}: nothing published yet; a successful `anticipate run` publishes it")
        with duckdb.connect(str(published), read_only=True) as connection:
            when, tables = connection.execute(f"select max(published_at), count(*) from {MANIFEST_TABLE}").fetchone()
        _print(f"published {tables} tables at {when:%Y-%m-%d %H:%M:%S %Z}; open it read-only:")
        _print(str(published))  # the last line: scripts take the path from here
        return 0
    _print(warehouse_status(settings.warehouse))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List every registered version, or roll a model back to an earlier one."""
    import duckdb

    from ml.registry import model_history, rollback, status_history

    settings = _settings(args)
    if not settings.warehouse.exists():
        raise CliError(f"{settings.warehouse}: no warehouse yet; run `anticipate run` first")
    if args.action == "rollback":
        if not args.model:
            raise CliError("models rollback needs a model name, e.g. `anticipate models rollback churn_model`")
        with duckdb.connect(str(settings.warehouse)) as connection:
            try:
                restored = rollback(connection, args.model, args.to)
            except (ValueError, FileNotFoundError) as error:
                raise CliError(str(error)) from error
        _print(f"{args.model}: champion is now {restored.model_version} ({restored.status_reason}); "
               "the next scoring run uses it")
        return 0
    with duckdb.connect(str(settings.warehouse), read_only=True) as connection:
        registered = connection.execute(
            "select count(*) from information_schema.tables where table_schema = 'ml' and table_name = 'model_registry'"
        ).fetchone()[0]
        names = [] if not registered else [args.model] if args.model else [row[0] for row in connection.execute(
            "select distinct model_name from ml.model_registry order by 1").fetchall()]
        if not names:
            _print("no models registered yet")
        for name in names:
            _print(f"{name}:")
            for record in model_history(connection, name):
                _print(f"  {record.model_version:<31} {record.status:<10} trained {record.trained_at:%Y-%m-%d %H:%M} UTC  "
                       f"{record.status_reason or ''}")
            if args.history:
                for version, status, changed_at, reason in status_history(connection, name):
                    _print(f"    {changed_at:%Y-%m-%d %H:%M:%S} {version} -> {status}: {reason or ''}")
    return 0


def demo_settings(args: argparse.Namespace) -> Settings:
    """The demo's own paths, never ANTICIPATE_*: a shop's exports and warehouse must not be overwritten by demo data."""
    return _settings(args, landing_dir=DEFAULT_LANDING_DIR, warehouse=DEFAULT_WAREHOUSE)


def cmd_demo(args: argparse.Namespace) -> int:
    from anticipate.demo_data import generate_demo_data
    from anticipate.status import last_dbt_build, mart_row_counts, model_champions, rejected_rows_by_rule

    settings = demo_settings(args)
    _print(f"1/3 generating demo data for {args.customers:,} customers into {settings.landing_dir}")
    if settings.warehouse.exists() and args.fresh:
        settings.warehouse.unlink()
    generate_demo_data(settings.landing_dir, customers=args.customers, seed=args.seed, progress=_progress)
    _print("2/3 running the daily job: ingest -> dbt build (models + tests) -> downstream assets")
    started = time.perf_counter()
    result = run_daily_job(settings, debug=args.debug, model_training=DEMO_MODEL_TRAINING)
    passed = _report_run(result, started, prefix="3/3 ")
    _print(last_dbt_build(settings.warehouse))
    _print()
    _print("rows per mart:")
    for table, rows in mart_row_counts(settings.warehouse):
        _print(f"  {table:<45} {rows:>12,}")
    _print()
    _print("rows quarantined by ingestion (raw.rejected_rows), by rule:")
    for source, rule, rows in rejected_rows_by_rule(settings.warehouse)[:8]:
        _print(f"  {rows:>8,}  {source:<24} {rule}")
    _print()
    for line in model_champions(settings.warehouse):
        _print(line)
    _print()
    _print(f"warehouse: {settings.warehouse}")
    _print("query it with any DuckDB client, e.g.:")
    _print(f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{settings.warehouse}', read_only=True).sql('select * from marts.dim_customers limit 5'))\"")
    for query in EXAMPLE_QUERIES:
        _print()
        _print("  " + query.replace("\n", "\n  "))
    return 0 if passed else 1


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anticipate", description="Predictive-personalization analytics warehouse.")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    def add_paths(command: argparse.ArgumentParser, *, mapping: bool = True) -> None:
        add_debug(command)
        command.add_argument("--landing-dir", help=f"landing files (default ${LANDING_DIR_VAR} or data/landing)")
        command.add_argument("--warehouse", help=f"DuckDB file (default ${WAREHOUSE_VAR} or warehouse/anticipate.duckdb)")
        if mapping:
            command.add_argument("--mapping", help="mapping.yml to use (default <landing-dir>/mapping.yml when present)")

    def add_debug(command: argparse.ArgumentParser) -> None:
        # Accepted after the command too (`anticipate run --debug`).
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    demo_data = commands.add_parser("demo-data", help="write deterministic demo landing files")
    add_debug(demo_data)
    demo_data.add_argument("--customers", type=_positive_int, default=5_000)
    demo_data.add_argument("--seed", type=int, default=42)
    demo_data.add_argument("--out", help="folder to write (default: the landing directory)")
    demo_data.set_defaults(handler=cmd_demo_data)

    ingest = commands.add_parser("ingest", help="load new landing files into raw (rejects quarantined)")
    add_paths(ingest)
    ingest.set_defaults(handler=cmd_ingest)

    run = commands.add_parser("run", help="the daily job: ingest + dbt build + every asset")
    add_paths(run)
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="row counts per schema, last run, rejects by reason")
    add_paths(status, mapping=False)
    status.add_argument("--published-path", action="store_true",
                        help="print where the published read-only copy is (its path is the last line)")
    status.set_defaults(handler=cmd_status)

    models = commands.add_parser("models", help="registered model versions; `models rollback NAME [--to VERSION]`")
    add_paths(models, mapping=False)
    models.add_argument("action", nargs="?", choices=("list", "rollback"), default="list")
    models.add_argument("model", nargs="?", help="churn_model, propensity_model or clv_model")
    models.add_argument("--to", help="version to restore (default: the previous champion)")
    models.add_argument("--history", action="store_true", help="also print every status change")
    models.set_defaults(handler=cmd_models)

    demo = commands.add_parser("demo", help="demo data + the daily job + a summary (what `make demo` runs)")
    add_debug(demo)
    # Unlike the other commands, ANTICIPATE_* do not apply: the demo writes only where it is told to.
    demo.add_argument("--landing-dir", help=f"where to write demo landing files (default {DEFAULT_LANDING_DIR})")
    demo.add_argument("--warehouse", help=f"demo DuckDB file, replaced unless --keep-warehouse (default {DEFAULT_WAREHOUSE})")
    demo.add_argument("--customers", type=_positive_int, default=5_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--keep-warehouse", dest="fresh", action="store_false", help="keep the existing warehouse file")
    demo.set_defaults(handler=cmd_demo)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except Exception as error:  # one line for the user; the traceback only on request
        if args.debug:
            traceback.print_exc()
        print(f"error: {_describe(error)}", file=sys.stderr)
        return 2


def _describe(error: BaseException) -> str:
    from anticipate.ingest import FileError

    if isinstance(error, (FileError, CliError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    sys.exit(main())
