"""`retention`: run the whole graph from a terminal, or write a sample dataset.

    retention quickstart [--settings FILE] [--profile local|production]
                                             materialize every asset and print where the outputs are
    retention score ID [ID ...] [--json]     champion probabilities and reasons in words from the online store
    retention serve [--port 8080]            the same over HTTP: GET /score?customer_id=ID
    retention services [--profile production]  create the production databases, show the endpoints
    retention sample --out DIR [--customers N] [--period stable|drift|performance_drop]
                                             write a sample dataset and its settings file (or a later period)
    retention explore FILE [FILE ...] --out DIR  profile new files; write findings and starter settings
    retention champion list|set VERSION|clear  the registry's versions and their validation; move or remove
                                             the champion alias (recorded in iterations.yaml)
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from pathlib import Path

from retention_assets.settings import SETTINGS_ENV_VAR, SettingsError, load_settings


def _instance():
    """The project's Dagster instance when run from the project root (so `dagster dev` shows the runs);
    on the production profile, the Postgres-backed instance of deploy/production."""
    import dagster as dg

    from retention_assets.profiles import (
        DAGSTER_URL_ENV_VAR,
        PRODUCTION_DAGSTER_HOME,
        dagster_postgres_url,
        profile_name,
    )

    if profile_name() == "production" and "DAGSTER_HOME" not in os.environ:
        os.environ["DAGSTER_HOME"] = str(PRODUCTION_DAGSTER_HOME)
        os.environ.setdefault(DAGSTER_URL_ENV_VAR, dagster_postgres_url())
    if "DAGSTER_HOME" not in os.environ and Path("dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _failure_messages(result) -> list[str]:
    from retention_assets.assets.failures import failure_sentences

    return failure_sentences(result.all_events)


def _select(settings_path: str | None, profile: str | None):
    """Settings and profile for this command, exported so every process of a run agrees."""
    from retention_assets.profiles import PROFILE_ENV_VAR, profile_name

    if settings_path:
        if not Path(settings_path).expanduser().is_file():
            raise SettingsError(f"settings file {settings_path} not found (relative paths are from {Path.cwd()}; "
                                "write one with `retention sample --out DIR` or `retention explore`)")
        os.environ[SETTINGS_ENV_VAR] = str(Path(settings_path).resolve())
    if profile:
        os.environ[PROFILE_ENV_VAR] = profile_name(profile)
    return load_settings(settings_path)


def run_pipeline(settings_path: str | None, profile: str | None = None) -> int:
    import uuid

    from retention_assets.automation import FULL_JOB, job_page_tags
    from retention_assets.core.run_lock import data_dir_lock
    from retention_assets.progress import RunProgress
    from retention_assets.definitions import build_definitions
    from retention_assets.profiles import profile_name

    settings = _select(settings_path, profile)
    if profile_name() == "production":
        services(None, None)
    defs = build_definitions(settings)

    def waiting(holder: str) -> None:
        print(f"Another run (pid {holder}) is using {settings.data_path}; waiting for it to finish ...", flush=True)

    with data_dir_lock(settings.data_path, on_wait=waiting):
        print(f"Materializing the asset graph for {settings.base_dir} (outputs in {settings.data_path}) ...",
              flush=True)
        instance = _instance()
        run_id = str(uuid.uuid4())
        print(f"Running job {FULL_JOB} (run {run_id}); one line per step as it starts and ends:", flush=True)
        with RunProgress(instance, run_id):
            result = defs.resolve_job_def(FULL_JOB).execute_in_process(
                instance=instance, raise_on_error=False, run_id=run_id, tags=job_page_tags(),
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
        _record_outcome(settings, result)
        if not result.success:  # what the failed run staged goes now, not at the next run's start
            _recover(settings, instance)
    if not result.success:
        print("The run failed:", file=sys.stderr)
        for message in _failure_messages(result) or ["see the Dagster logs above"]:
            print(f"  - {message}", file=sys.stderr)
        return 1
    _print_summary(settings, settings_path)
    return 0


def _recover(settings, instance) -> None:
    from retention_assets.definitions import build_resources
    from retention_assets.profiles import build_profile

    try:
        guard = build_resources(settings, build_profile(settings))["compute"].guard
        done = guard.recover(None, instance=instance)
    except Exception as exc:  # noqa: BLE001 - the next run recovers; the run's own failure is the news
        print(f"(cleaning up after the failed run did not finish: {exc}; the next run will)", file=sys.stderr)
        return
    if done.changed:
        print(f"Nothing was published; cleaned up: {done.describe()}.", file=sys.stderr)


def _record_outcome(settings, result) -> None:
    """What retrain_outcome_sensor does for runs the daemon launches: in-process runs record it here."""
    from retention_assets.exploration.iterations import HISTORY_FILE, record_outcome
    from retention_assets.model.tracking import champion_version
    from retention_assets.profiles import build_profile

    tracking = build_profile(settings).tracking()
    try:
        champion = champion_version(tracking)
    except Exception:  # noqa: BLE001 - no tracking store yet (the run failed before any model)
        champion = None
    record_outcome(settings.findings_path / HISTORY_FILE, result.run_id, "success" if result.success else "failure",
                   champion)


def _print_summary(settings, settings_path: str | None) -> None:
    import joblib

    from retention_assets.model.business import NO_VALUE_COLUMN, flag_warning, flagged_share, threshold_source
    from retention_assets.core.names import CAMPAIGN, SCORES
    from retention_assets.definitions import build_resources
    from retention_assets.feature_store.training_set import describe_population
    from retention_assets.model.scoring import campaign_summary, score_summary
    from retention_assets.profiles import build_profile
    from retention_assets.publication.generations import require_release

    services = build_profile(settings)
    tables = settings.data_path / "tables"
    release = require_release(settings.data_path)
    model = joblib.load(tables / "churn_model.joblib")
    with build_resources(settings, services)["compute"].engine() as engine:
        scores = score_summary(engine, SCORES)
        contacts, value = campaign_summary(engine, CAMPAIGN)
        flagged = flagged_share(engine, SCORES, model.threshold)
        scores_at, campaign_at = release.tables[SCORES], release.tables[CAMPAIGN]
        first_ids = [str(i) for i in scores.top_customers[:2]]
    m = model.metrics
    print(f"\nDone. Published generation {release.generation} (model version {release.model_version}"
          f"{', promoted' if release.promoted else ''}). Outputs:")
    print(f"  tables and model : {tables}")
    print(f"  scores           : {scores_at} ({scores.rows} customers, as of {model.trained_as_of})")
    print(f"\nModel: {model.model_name}, validated {model.validation.replace('_', ' ')} "
          f"on {m['n_validation']} rows (trained on {m['n_train']})")
    from retention_assets.core.timeline import training_rows_warning

    if few_rows := training_rows_warning(int(m["n_train"])):
        print(f"  WARNING: {few_rows}")
    if getattr(model, "validation_reason", ""):
        print(f"  validation: {model.validation_reason}")
    population = getattr(model, "population", {})
    if population:
        print(f"  training population: {describe_population(population, population.get('rules', ''))}")
    print(f"  ROC AUC {m['roc_auc']:.3f} | PR AUC {m['pr_auc']:.3f} (base rate {m['base_rate']:.3f}) | "
          f"Brier {m['brier']:.4f}")
    chosen_by = threshold_source(settings.model.threshold)
    print(f"  at threshold {m['threshold']:.3f} ({chosen_by}): precision {m['precision']:.3f}, "
          f"recall {m['recall']:.3f}, F1 {m['f1']:.3f}; flags {flagged:.0%} of the active scored customers")
    warning = flag_warning(flagged, m["threshold"], chosen_by, settings.business.warn_flagged_share)
    if warning:
        print(f"  WARNING: {warning}")
    tiers = scores.tiers
    print(f"  risk tiers: high {tiers['high']}, medium {tiers['medium']}, low {tiers['low']} "
          f"(inactive at the as-of time: {tiers['inactive']})")
    if value is None:
        print(f"  campaign: {contacts} customers to contact, {NO_VALUE_COLUMN} ({campaign_at})")
    else:
        print(f"  campaign: {contacts} customers to contact, expected net value ${value:,.0f} ({campaign_at})")
    print(f"  findings and recommendations to review: {settings.findings_path}")
    print(f"  MLflow runs and registered models: mlflow ui --backend-store-uri {services.mlflow_tracking_uri}")
    print(f"  Feast repository ({services.name} profile, project {release.feast['project']}): "
          f"feast -c {release.feast['repo_path']} feature-views list")
    print("  online scores: retention score " + " ".join(first_ids))
    select = f"RETENTION_SETTINGS={Path(settings_path).resolve()} " if settings_path else ""
    home = "DAGSTER_HOME=$PWD"
    if services.name == "production":
        select += "RETENTION_PROFILE=production "
        home = "DAGSTER_HOME=$PWD/deploy/production"
    print(f"\nOpen the UI with `{select}{home} dagster dev` to browse every asset, its metadata and checks.")


def champion_command(action: str, version: str | None, settings_path: str | None, profile: str | None) -> int:
    """Show the registry's versions, or move (clear) the champion alias by hand: the way out of a bad
    champion. The next run's gate compares its challenger with the chosen version (none: it is promoted)."""
    import getpass
    from datetime import datetime, timezone

    from retention_assets.exploration.iterations import HISTORY_FILE, record_champion_change
    from retention_assets.model.tracking import (
        CANDIDATE,
        champion_version,
        override_champion,
        registry_versions,
        store_exists,
    )
    from retention_assets.profiles import build_profile

    settings = _select(settings_path, profile)
    tracking = build_profile(settings).tracking()
    versions = registry_versions(tracking) if store_exists(tracking) else []
    if action == "list":
        if not versions:
            print(f"no registered versions of {tracking.registered_model_name} yet")
            return 0
        print(f"{'version':>7}  {'ROC AUC':>7}  {'validation':14}  {'trained as of':26}  state")
        for v in versions:
            auc = f"{v.roc_auc:.4f}" if v.roc_auc is not None else "-"
            state = (v.state or "-") + (" (alias: champion)" if v.champion else "")
            print(f"{v.version:>7}  {auc:>7}  {v.validation or '-':14}  {v.trained_as_of or '-':26}  {state}")
        return 0
    previous = champion_version(tracking) if versions else None
    if action == "set":
        chosen = next((v for v in versions if v.version == str(version)), None)
        if chosen is None:
            raise ValueError(f"{tracking.registered_model_name} has no version {version}; versions: "
                             f"{', '.join(v.version for v in versions) or 'none'} (retention champion list)")
        if chosen.state == CANDIDATE:
            raise ValueError(f"version {version} is a candidate of a run that has not published: choose a "
                             "published version (retention champion list)")
        override_champion(tracking, chosen.version)
        done = f"champion alias: version {previous or 'none'} -> {chosen.version}"
    else:
        if versions:
            override_champion(tracking, None)
        done = f"champion alias removed (was version {previous or 'none'}); the next run's model is promoted"
        chosen = None
    change = record_champion_change(settings.findings_path / HISTORY_FILE, action,
                                    chosen.version if chosen else None, previous, by=getpass.getuser(),
                                    at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    print(done)
    print(f"recorded in {settings.findings_path / HISTORY_FILE} after {change['after_iteration'] or 'no iteration'}; "
          "the next run's gate compares its challenger with "
          + (f"version {chosen.version}" if chosen else "no champion (it is promoted)")
          + "; scores and serving keep the published release until then")
    return 0


def write_sample(out: str, customers: int, events_per_customer: float, seed: int, period: str | None = None) -> int:
    import yaml

    from retention_assets.sample.generator import generate_later_period, generate_sample
    from retention_assets.settings import sample_settings_path

    out_dir = Path(out).resolve()
    if period:  # a later export of the same world replaces the files; the settings file stays as it is
        paths = generate_later_period(out_dir, period, n_customers=customers, seed=seed,
                                      events_per_customer=events_per_customer)
        print(f"wrote the later period ({period}) to {paths.customers}, {paths.transactions}, {paths.support_tickets}")
        return 0
    paths = generate_sample(out_dir, n_customers=customers, seed=seed, events_per_customer=events_per_customer)
    settings = yaml.safe_load(sample_settings_path().read_text())
    settings["entity"]["path"] = paths.customers.name
    settings["events"]["transactions"]["path"] = paths.transactions.name
    settings["events"]["support_tickets"]["path"] = paths.support_tickets.name
    target = out_dir / "settings.yaml"
    target.write_text(yaml.safe_dump(settings, sort_keys=False))
    print(f"wrote {paths.customers}, {paths.transactions}, {paths.support_tickets} and {target}")
    return 0


def explore(files: list[str], out: str) -> int:
    import tempfile

    from retention_assets.engine.duckdb_engine import DuckDBEngine
    from retention_assets.exploration.bootstrap import explore_files

    # the engine's tables and spill files are scratch space: nothing of them outlives the command
    with tempfile.TemporaryDirectory(prefix="retention-explore-") as scratch, \
            DuckDBEngine(tables_dir=Path(scratch) / "tables") as engine:
        settings_path, findings_dir = explore_files([Path(f) for f in files], Path(out), engine)
    print(f"findings: {findings_dir}")
    print(f"settings: {settings_path}")
    print(f"Review them, then: retention quickstart --settings {settings_path}")
    return 0


def services(settings_path: str | None, profile: str | None) -> int:
    """Create the production databases if missing, check Redis, print the endpoints in use."""
    from retention_assets.profiles import build_profile, ensure_production_services

    settings = _select(settings_path, profile)
    chosen = build_profile(settings)
    if chosen.name != "production":
        print(f"profile {chosen.name}: MLflow {chosen.mlflow_tracking_uri}; Feast registry and SQLite online store "
              f"in each generation under {settings.data_path / 'generations'} (embedded, nothing to create)")
        return 0
    for name, endpoint in ensure_production_services(chosen).items():
        print(f"  {name:15}: {endpoint}")
    return 0


def databricks_deploy(code_root: str | None) -> int:
    """Build the project's wheel and upload it with the Pipes entry point (to the databricks profile's
    code root, RETENTION_DATABRICKS_CODE), using DATABRICKS_HOST and DATABRICKS_TOKEN (or OAuth)."""
    from databricks.sdk import WorkspaceClient

    from retention_assets.profiles import DatabricksCompute
    from retention_assets.remote.deploy import deploy

    compute = DatabricksCompute.from_environment()
    target = deploy(WorkspaceClient(), code_root or compute.code_root,
                    pipes_volume=compute.volume_path if compute.compute == "serverless" else None)
    print(f"deployed {target.wheel} and {target.entry_point}")
    return 0


def score(ids: list[str], settings_path: str | None, profile: str | None, as_json: bool = False) -> int:
    """Each customer's score and reasons, for people (or as JSON lines, for programs)."""
    from retention_assets.serving import Scorer, readable, records

    settings = _select(settings_path, profile)
    started = time.monotonic()

    def progress(line: str) -> None:  # stderr: stdout keeps only the scores
        print(f"[{time.monotonic() - started:5.1f}s] {line}", file=sys.stderr, flush=True)

    progress("loading the champion model ...")
    scorer = Scorer.load(settings)
    progress(f"champion version {scorer.release.model_version} loaded; reading {len(ids)} customer(s) "
             "from the online store ...")
    scores = scorer.predict(ids)
    progress(f"scored {len(scores)} customer(s)")
    if as_json:
        for record in records(scores):
            print(json.dumps(record))
    else:
        print(readable(scores, settings.entity.entity_key))
    return 0


class PortInUse(ValueError):
    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is in use (another `retention serve`?); choose another with --port N")


def _require_free_port(port: int, host: str = "127.0.0.1") -> None:
    """Bind the port as the HTTP server will (address reuse on), so a busy port fails in a line, not a traceback."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise


def serve_http(port: int, settings_path: str | None, profile: str | None) -> int:
    from retention_assets.serving import serve

    settings = _select(settings_path, profile)
    _require_free_port(port)  # before the seconds of loading the champion
    print("loading the champion model ...", file=sys.stderr, flush=True)
    try:
        server = serve(port, settings)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise
    print(f"serving churn scores on http://127.0.0.1:{port}/score?customer_id=... (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
    return 0


EXAMPLES = {
    "quickstart": "retention quickstart\n  retention quickstart --settings my_data/settings.yaml\n"
                  "  RETENTION_DATA_DIR=/tmp/out retention quickstart --profile production",
    "score": "retention score 1042 2210\n  retention score 1042 --json | jq .churn_probability",
    "serve": "retention serve --port 8081 &\n  curl 'http://127.0.0.1:8081/score?customer_id=1042'",
    "services": "retention services --profile production",
    "champion": "retention champion list\n  retention champion set 3\n  retention champion clear",
    "list": "retention champion list --settings my_data/settings.yaml",
    "set": "retention champion set 3   # the next run's gate compares its challenger with version 3",
    "clear": "retention champion clear   # the next run's model is promoted",
    "sample": "retention sample --out my_data --customers 3000\n"
              "  retention sample --out my_data --period drift   # the same world's later, drifted export",
    "explore": "retention explore exports/customers.csv exports/orders.parquet --out my_project",
    "databricks-deploy": "DATABRICKS_HOST=... DATABRICKS_TOKEN=... retention databricks-deploy",
}


def _command(parent, name: str, help_text: str, **kwargs):
    """A subcommand whose --help ends with examples (EXAMPLES[name])."""
    return parent.add_parser(name, help=help_text, description=help_text, epilog="example:\n  " + EXAMPLES[name],
                             formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retention", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = _command(commands, "quickstart", "materialize the whole asset graph (job full_refresh), printing one "
                                           "line per step", aliases=["run"])
    settings_help = f"settings file (default: ${SETTINGS_ENV_VAR}, else the embedded sample)"
    profile_help = ("services: local (embedded, default), production (Postgres and Redis) or databricks "
                    "(Pipes jobs, Unity Catalog; see README)")
    run.add_argument("--settings", help=settings_help)
    run.add_argument("--profile", help=profile_help)
    score_cmd = _command(commands, "score", "score customers from the online store with the champion")
    score_cmd.add_argument("ids", nargs="+", metavar="ID")
    score_cmd.add_argument("--json", action="store_true", help="JSON lines (reasons as records) instead of text")
    serve_cmd = _command(commands, "serve", "HTTP endpoint: GET /score?customer_id=ID")
    serve_cmd.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    services_cmd = _command(commands, "services", "create the production profile's databases; show endpoints")
    champion_cmd = _command(commands, "champion", "the registry's versions; set or clear the champion alias")
    champion_actions = champion_cmd.add_subparsers(dest="action", required=True)
    list_cmd = _command(champion_actions, "list", "versions with validation ROC AUC, validation mode, as-of, state")
    set_cmd = _command(champion_actions, "set", "move the champion alias to VERSION")
    set_cmd.add_argument("version", metavar="VERSION")
    clear_cmd = _command(champion_actions, "clear", "remove the alias: the next run's model is promoted")
    for command in (score_cmd, serve_cmd, services_cmd, list_cmd, set_cmd, clear_cmd):
        command.add_argument("--settings", help=settings_help)
        command.add_argument("--profile", help=profile_help)
    sample = _command(commands, "sample", "write a sample dataset and its settings file")
    sample.add_argument("--out", required=True, help="directory for the files and settings.yaml")
    sample.add_argument("--customers", type=int, default=3000)
    sample.add_argument("--events-per-customer", type=float, default=100.0)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--period", choices=["stable", "drift", "performance_drop"],
                        help="write the later period of the same world (same --customers/--seed) over the files")
    explore_cmd = _command(commands, "explore", "profile new files; write findings and a starter settings file")
    explore_cmd.add_argument("files", nargs="+")
    explore_cmd.add_argument("--out", default=".", help="directory for settings.yaml and findings/ (default: here)")
    deploy_cmd = _command(commands, "databricks-deploy", "upload the wheel and the Pipes entry point to the "
                                                         "workspace in DATABRICKS_HOST")
    deploy_cmd.add_argument("--code-root", help="dbfs:/... or /Volumes/... (default: $RETENTION_DATABRICKS_CODE, "
                                                "else dbfs:/retention/code)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from retention_assets.core.errors import DataValidationError
    from retention_assets.model.serving import ServingError

    try:
        if args.command in ("quickstart", "run"):
            return run_pipeline(args.settings, args.profile)
        if args.command == "score":
            return score(args.ids, args.settings, args.profile, args.json)
        if args.command == "services":
            return services(args.settings, args.profile)
        if args.command == "serve":
            return serve_http(args.port, args.settings, args.profile)
        if args.command == "champion":
            return champion_command(args.action, getattr(args, "version", None), args.settings, args.profile)
        if args.command == "explore":
            return explore(args.files, args.out)
        if args.command == "databricks-deploy":
            return databricks_deploy(args.code_root)
        return write_sample(args.out, args.customers, args.events_per_customer, args.seed, args.period)
    except (SettingsError, DataValidationError, ServingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
