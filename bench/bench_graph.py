"""Benchmark 2: materialize the whole asset graph, one step per fresh process; time and peak RSS per step.

What is measured: for every step of the graph (an asset, or a multi-asset such as
`bronze_event_<source>` whose window assets are computed together), in topological order:

* step s     - the step's own duration as Dagster records it (STEP_START to STEP_SUCCESS);
* process s  - the wall time of the whole `dagster asset materialize` process (interpreter start,
               imports, loading the definitions, the run, and any asset checks of the asset);
* peak RSS   - the high-water mark of that process's resident memory (VmHWM, see bench/_peak.py).

Each step runs as `dagster asset materialize -m retention_assets.definitions --select <its assets>`
with the in-process executor, so the step executes inside the measured process and its peak is not
mixed with any other step's. Asset checks of a selected asset run in the same process (listed under
their asset). A baseline row shows a process that only loads the definitions.

Why: to see which steps dominate time and memory at 100k customers / 10M events, the size the issue
targets. Inputs: `retention sample` data cached under bench/.data/; outputs and the Dagster instance
go to a temporary directory (RETENTION_DATA_DIR, DAGSTER_HOME with a dagster.yaml that only turns
telemetry off), removed afterwards unless --keep.

    python bench/bench_graph.py                      # 100k customers, 10M events
    python bench/bench_graph.py --customers 2000     # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_DIR, Measured, ensure_sample, format_table, package_version, run_measured  # noqa: E402

DEFINITIONS_MODULE = "retention_assets.definitions"
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})


@dataclass
class Step:
    name: str  # the op / step key
    assets: list[str]


@dataclass
class StepResult:
    step: Step
    process: Measured
    step_seconds: dict[str, float] = field(default_factory=dict)  # step key -> seconds (asset and checks)
    failed_checks: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# the plan: steps in topological order


def plan_steps(settings_path: Path) -> list[Step]:
    """Every step of the graph (assets grouped by the op that computes them), in topological order."""
    from retention_assets.definitions import build_definitions
    from retention_assets.settings import load_settings

    defs = build_definitions(load_settings(settings_path))
    steps: dict[str, Step] = {}
    for key in defs.resolve_asset_graph().toposorted_asset_keys:
        op_name = defs.resolve_assets_def(key).node_def.name
        steps.setdefault(op_name, Step(op_name, [])).assets.append(key.to_user_string())
    return list(steps.values())


def environment(settings_path: Path, work: Path) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {**os.environ, "RETENTION_SETTINGS": str(settings_path), "RETENTION_DATA_DIR": str(work / "data"),
            "DAGSTER_HOME": str(home)}


# ------------------------------------------------------------------------------------------------
# running and reading back one step


def run_step(step: Step, env: dict[str, str]) -> Measured:
    cmd = ["-m", "dagster", "asset", "materialize", "-m", DEFINITIONS_MODULE,
           "--select", ",".join(step.assets), "--config-json", IN_PROCESS]
    return run_measured(cmd, env=env, cwd=PROJECT_DIR)


def run_baseline(env: dict[str, str]) -> Measured:
    """A process that imports the code location and builds its definitions, then exits."""
    return run_measured(["-m", DEFINITIONS_MODULE], env=env, cwd=PROJECT_DIR)


def read_latest_run(home: str) -> tuple[str, dict[str, float], list[str]]:
    """(status, step durations, failed checks) of the most recent run in the instance at `home`."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(home)
    run = instance.get_runs(limit=1)[0]
    durations = {s.step_key: (s.end_time or 0.0) - (s.start_time or 0.0)
                 for s in instance.get_run_step_stats(run.run_id)}
    failed = []
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if not evaluation.passed:
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} "
                          f"({evaluation.description or 'no description'})")
    instance.dispose()
    return run.status.value, durations, failed


def execute(steps: list[Step], env: dict[str, str]) -> list[StepResult]:
    results = []
    for step in steps:
        process = run_step(step, env)
        if process.returncode != 0:
            raise SystemExit(f"step {step.name} failed (exit {process.returncode}):\n{process.stderr[-6000:]}")
        status, durations, failed = read_latest_run(env["DAGSTER_HOME"])
        if status != "SUCCESS":
            raise SystemExit(f"step {step.name}: the run ended {status}")
        result = StepResult(step, process, durations, failed)
        results.append(result)
        print(f"  {step.name:<32} step {durations.get(step.name, float('nan')):7.1f}s  "
              f"process {process.seconds:7.1f}s  peak RSS {process.peak_rss_mb:7,.0f} MiB"
              + (f"  FAILED CHECKS: {failed}" if failed else ""), flush=True)
    return results


# ------------------------------------------------------------------------------------------------
# report


def model_metrics(data_dir: Path) -> dict:
    import joblib

    model = joblib.load(data_dir / "tables" / "churn_model.joblib")
    return {"model": model.model_name, "validation": model.validation, **model.metrics}


def report(baseline: Measured, results: list[StepResult]) -> str:
    rows = [["(baseline: load definitions only)", "", "", baseline.seconds, baseline.peak_rss_mb]]
    for r in results:
        assets = r.step.assets[0] if len(r.step.assets) == 1 else f"{len(r.step.assets)} assets"
        rows.append([r.step.name, assets, r.step_seconds.get(r.step.name, float("nan")), r.process.seconds,
                     r.process.peak_rss_mb])
        for check_step, seconds in r.step_seconds.items():
            if check_step != r.step.name:
                rows.append([f"  + check {check_step}", "", seconds, "(same process)", ""])
    total_step = sum(sum(r.step_seconds.values()) for r in results)
    total_process = sum(r.process.seconds for r in results)
    peak = max(r.process.peak_rss_mb for r in results)
    rows.append(["TOTAL (sum; max for RSS)", "", total_step, total_process, peak])
    return format_table(["step", "assets", "step s", "process s", "peak RSS MiB"], rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary outputs and Dagster instance")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(package_version(), flush=True)
    settings_path = ensure_sample(args.customers, args.events_per_customer)
    work = Path(tempfile.mkdtemp(prefix="retention_bench_graph_"))
    try:
        env = environment(settings_path, work)
        steps = plan_steps(settings_path)
        print(f"{len(steps)} steps, outputs in {work}; each step in a fresh `dagster asset materialize` "
              "process (in-process executor):", flush=True)
        baseline = run_baseline(env)
        if baseline.returncode != 0:
            raise SystemExit(f"loading the definitions failed:\n{baseline.stderr[-4000:]}")
        results = execute(steps, env)
        metrics = model_metrics(work / "data")
        print(f"\nWhole graph, {args.customers:,} customers, {args.events_per_customer:g} events per customer:\n")
        print(report(baseline, results))
        print(f"\nmodel: {metrics['model']} ({metrics['validation']}), ROC AUC {metrics['roc_auc']:.4f}, "
              f"PR AUC {metrics['pr_auc']:.4f}, base rate {metrics['base_rate']:.3f}, "
              f"{metrics['n_train']:,} training rows, {metrics['n_validation']:,} validation rows")
        failed = [c for r in results for c in r.failed_checks]
        if failed:
            print("FAILED CHECKS:\n  " + "\n  ".join(failed))
            return 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
