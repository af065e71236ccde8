"""Benchmark 2: materialize the whole asset graph, one step per fresh process; time and peak RSS per step.

What is measured: for every step of the graph (an asset, or a multi-asset such as
`bronze_event_<source>` whose window assets are computed together), in topological order:

* step s     - the step's own duration as Dagster records it (STEP_START to STEP_SUCCESS);
* process s  - the wall time of the whole `dagster asset materialize` process (interpreter start,
               imports, loading the definitions, the run, and any asset checks of the asset);
* peak RSS   - the high-water mark of that process's resident memory (VmHWM, see bench/_peak.py).

Each step runs as `dagster asset materialize -m retention_assets.definitions --select <its assets>`
with the in-process executor, so the step executes inside the measured process and its peak is not
mixed with any other step's. The exception: `champion_model` and every step after it run in one
process (one run), because a champion decision is published by the run that made it (the release
contract: scores, online features and the release of a run come from that run's own gate). Asset checks of a selected asset run in the same process (listed under
their asset). A baseline row shows a process that only loads the definitions.

Why: to see which steps dominate time and memory, and whether the whole graph meets its goals: at
1M customers / 100M events under 30 minutes of step time and 8 GiB peak RSS in any process; at
100k / 10M under 150 s and 2 GiB. Inputs: `retention sample` data cached under bench/.data/;
outputs and the Dagster instance go to a temporary directory (RETENTION_DATA_DIR, DAGSTER_HOME with
a dagster.yaml that only turns telemetry off), removed afterwards unless --keep.

`--baseline-ref REF` also runs the same steps with the package as it was at git REF (checked out in
a temporary worktree), in the same run on the same machine, and prints the ratios of the totals.
`--profile production` runs on the production profile (MLflow and the Feast registry on Postgres,
the online store on Redis), in databases and a Feast project made for the run and dropped after it.

    python bench/bench_graph.py                                  # 100k customers, 10M events
    python bench/bench_graph.py --customers 1000000              # 1M customers, 100M events
    python bench/bench_graph.py --baseline-ref 576c6bd           # and the code at 576c6bd, same run
    python bench/bench_graph.py --profile production             # Postgres + Redis services
    python bench/bench_graph.py --customers 2000                 # smoke test
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
# Code before the engine issue chose the executor per run (multi_or_in_process); it needs asking for in-process.
LEGACY_IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})
GOAL_SECONDS = {1_000_000: 30 * 60, 100_000: 150}
GOAL_PEAK_MIB = {1_000_000: 8 * 1024, 100_000: 2 * 1024}
PRODUCTION_CREATE = """
from pathlib import Path
import os
from retention_assets.profiles import build_profile, ensure_production_services
ensure_production_services(build_profile(Path(os.environ["RETENTION_DATA_DIR"]), "production"))
"""
PRODUCTION_DROP = """
import os
import psycopg, redis
server = os.environ.get("RETENTION_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
with psycopg.connect(server + "/postgres", autocommit=True) as connection:
    for db in (os.environ["RETENTION_MLFLOW_DB"], os.environ["RETENTION_FEAST_DB"]):
        connection.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
client = redis.Redis(host="127.0.0.1", port=6379)
tag = os.environ["RETENTION_FEAST_PROJECT"].encode()
batch = []
for key in client.scan_iter(match=b"*" + tag + b"*", count=10_000):  # every generation's project <tag>_<id>
    batch.append(key)
    if len(batch) >= 10_000:
        client.delete(*batch); batch = []
if batch:
    client.delete(*batch)
"""
METRICS_SCRIPT = """
import json, sys, joblib
model = joblib.load(sys.argv[1])
print(json.dumps({"model": model.model_name, "validation": model.validation, **model.metrics}))
"""
PLAN_SCRIPT = """
import json, sys
from retention_assets.definitions import build_definitions
from retention_assets.settings import load_settings
defs = build_definitions(load_settings(sys.argv[1]))
steps = {}
for key in defs.resolve_asset_graph().toposorted_asset_keys:
    steps.setdefault(defs.resolve_assets_def(key).node_def.name, []).append(key.to_user_string())
print(json.dumps(steps))
"""


@dataclass
class Code:
    """Which package a run measures: the working tree, or a checkout of an earlier commit."""

    label: str
    root: Path
    legacy: bool = False  # needs the explicit in-process run config

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "PYTHONPATH": str(self.root)}


@dataclass
class Step:
    name: str  # the op / step key (of the first op, for steps that run together)
    assets: list[str]
    ops: list[str] = field(default_factory=list)  # the step keys run in this process (default: [name])

    def __post_init__(self) -> None:
        self.ops = self.ops or [self.name]


SAME_RUN_FROM = "champion_model"  # this step and every later one run in one run (see the docstring)


def same_run_tail(steps: list[Step]) -> list[Step]:
    """The steps with `SAME_RUN_FROM` and everything after it merged into one process."""
    names = [s.name for s in steps]
    if SAME_RUN_FROM not in names:
        return steps
    at = names.index(SAME_RUN_FROM)
    tail = steps[at:]
    return [*steps[:at], Step(f"{tail[0].name} .. {tail[-1].name}", [a for s in tail for a in s.assets],
                              [s.name for s in tail])]


@dataclass
class StepResult:
    step: Step
    process: Measured
    step_seconds: dict[str, float] = field(default_factory=dict)  # step key -> seconds (asset and checks)
    failed_checks: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# the plan: steps in topological order


def plan_steps(settings_path: Path, code: Code, env: dict[str, str]) -> list[Step]:
    """Every step of the graph (assets grouped by the op that computes them), in topological order, as the
    measured code defines it (asked in a subprocess, so each code version plans its own graph)."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", PLAN_SCRIPT, str(settings_path)], env=code.env(env), cwd=code.root,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{code.label}: planning the steps failed:\n{out.stderr[-3000:]}")
    return same_run_tail([Step(name, assets) for name, assets in json.loads(out.stdout.strip().splitlines()[-1]).items()])


def environment(settings_path: Path, work: Path, profile: str) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "RETENTION_SETTINGS": str(settings_path), "RETENTION_DATA_DIR": str(work / "data"),
           "DAGSTER_HOME": str(home), "RETENTION_EXECUTOR": "in_process", "RETENTION_PROFILE": profile}
    if profile == "production":
        tag = f"bench_{os.getpid()}_{work.name}"
        env.update(RETENTION_MLFLOW_DB=f"{tag}_mlflow", RETENTION_FEAST_DB=f"{tag}_feast", RETENTION_FEAST_PROJECT=tag)
    return env


def production_services(env: dict[str, str], code: Code, create: bool) -> None:
    """Create (or drop, with the run's Redis keys) the run's own production databases, in a subprocess
    of the measured code so its profile decides the names."""
    import subprocess

    script = PRODUCTION_CREATE if create else PRODUCTION_DROP
    out = subprocess.run([sys.executable, "-c", script], env=code.env(env), cwd=code.root, capture_output=True,
                         text=True)
    if out.returncode != 0 and create:
        raise SystemExit(f"{code.label}: the production services are not reachable:\n{out.stderr[-3000:]}")


# ------------------------------------------------------------------------------------------------
# running and reading back one step


def run_step(step: Step, code: Code, env: dict[str, str]) -> Measured:
    cmd = ["-m", "dagster", "asset", "materialize", "-m", DEFINITIONS_MODULE, "--select", ",".join(step.assets)]
    if code.legacy:
        cmd += ["--config-json", LEGACY_IN_PROCESS]
    return run_measured(cmd, env=code.env(env), cwd=code.root)


def run_load_only(code: Code, env: dict[str, str]) -> Measured:
    """A process that imports the code location and builds its definitions, then exits."""
    return run_measured(["-m", DEFINITIONS_MODULE], env=code.env(env), cwd=code.root)


def quickstart_measured(track: str, settings_path: Path, work: Path, extra_env: dict[str, str]):
    """`retention quickstart` in a fresh process with its own data directory and Dagster instance under `work`
    (no RETENTION_* or DATABRICKS_* variable of this shell leaks in): (measured process, step durations)."""
    from _common import PROJECT_DIR, run_measured

    home = work / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETENTION_", "DATABRICKS_"))}
    env.update({"RETENTION_SETTINGS": str(settings_path), "RETENTION_DATA_DIR": str(work / "data"),
                "DAGSTER_HOME": str(home), "RETENTION_EXECUTOR": "in_process", **extra_env})
    process = run_measured(["-m", "retention_assets.cli", "quickstart"], env=env, cwd=PROJECT_DIR)
    if process.returncode != 0:
        raise SystemExit(f"{track}: the quickstart failed:\n{process.stderr[-4000:]}")
    status, durations, _ = read_latest_run(str(home))
    if status != "SUCCESS":
        raise SystemExit(f"{track}: the run ended {status}")
    return process, durations


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


def execute(steps: list[Step], code: Code, env: dict[str, str]) -> list[StepResult]:
    results = []
    for step in steps:
        process = run_step(step, code, env)
        if process.returncode != 0:
            raise SystemExit(f"step {step.name} failed (exit {process.returncode}):\n{process.stderr[-6000:]}")
        status, durations, failed = read_latest_run(env["DAGSTER_HOME"])
        if status != "SUCCESS":
            raise SystemExit(f"step {step.name}: the run ended {status}")
        result = StepResult(step, process, durations, failed)
        results.append(result)
        print(f"  {step.name:<32} step {sum(durations.get(op, float('nan')) for op in step.ops):7.1f}s  "
              f"process {process.seconds:7.1f}s  peak RSS {process.peak_rss_mb:7,.0f} MiB"
              + (f"  FAILED CHECKS: {failed}" if failed else ""), flush=True)
    return results


# ------------------------------------------------------------------------------------------------
# report


def model_metrics(data_dir: Path, code: Code, env: dict[str, str]) -> dict:
    """The trained model's metrics, unpickled by the code that trained it (in a subprocess)."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", METRICS_SCRIPT, str(data_dir / "tables" / "churn_model.joblib")],
                         env=code.env(env), cwd=code.root, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{code.label}: reading the model's metrics failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def totals(results: list[StepResult]) -> tuple[float, float, float]:
    """(step seconds, process seconds, peak RSS MiB) of a whole run."""
    return (sum(sum(r.step_seconds.values()) for r in results), sum(r.process.seconds for r in results),
            max(r.process.peak_rss_mb for r in results))


def report(baseline: Measured, results: list[StepResult]) -> str:
    rows = [["(load definitions only)", "", "", baseline.seconds, baseline.peak_rss_mb]]
    for r in results:
        for i, op in enumerate(r.step.ops):
            assets = r.step.assets[0] if len(r.step.assets) == 1 else f"{len(r.step.assets)} assets"
            rows.append([op, assets if i == 0 else "", r.step_seconds.get(op, float("nan")),
                         r.process.seconds if i == 0 else "(same process)", r.process.peak_rss_mb if i == 0 else ""])
        for check_step, seconds in r.step_seconds.items():
            if check_step not in r.step.ops:
                rows.append([f"  + check {check_step}", "", seconds, "(same process)", ""])
    total_step, total_process, peak = totals(results)
    rows.append(["TOTAL (sum; max for RSS)", "", total_step, total_process, peak])
    return format_table(["step", "assets", "step s", "process s", "peak RSS MiB"], rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary outputs and Dagster instance")
    parser.add_argument("--baseline-ref", help="also measure the package at this git commit, in the same run")
    parser.add_argument("--profile", choices=("local", "production"), default="local",
                        help="services: embedded (local) or Postgres + Redis (production)")
    return parser.parse_args(argv)


def measure_graph(code: Code, settings_path: Path, work: Path, profile: str
                  ) -> tuple[Measured, list[StepResult], dict]:
    env = environment(settings_path, work, profile)
    if profile == "production":
        production_services(env, code, create=True)
    try:
        steps = plan_steps(settings_path, code, env)
        print(f"{code.label}: {len(steps)} steps on the {profile} profile, outputs in {work}; each step in a fresh "
              "`dagster asset materialize` process (in-process executor):", flush=True)
        load = run_load_only(code, env)
        if load.returncode != 0:
            raise SystemExit(f"{code.label}: loading the definitions failed:\n{load.stderr[-4000:]}")
        results = execute(steps, code, env)
        return load, results, model_metrics(work / "data", code, env)
    finally:
        if profile == "production":
            production_services(env, code, create=False)


def checkout(ref: str, into: Path) -> Code:
    import subprocess

    subprocess.run(["git", "worktree", "add", "--detach", str(into), ref], cwd=PROJECT_DIR, check=True,
                   capture_output=True)
    profiles = into / "retention_assets" / "profiles.py"  # code before the engine issue chose its executor per run
    return Code(f"git {ref}", into, legacy=not profiles.exists() or "EXECUTOR_ENV_VAR" not in profiles.read_text())


def remove_checkout(path: Path) -> None:
    import subprocess

    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=PROJECT_DIR, capture_output=True)


def goal_lines(customers: int, step_seconds: float, peak_mib: float) -> list[str]:
    lines = []
    if customers in GOAL_SECONDS:
        goal = GOAL_SECONDS[customers]
        lines.append(f"goal: whole graph under {goal:,} s of step time: {'MET' if step_seconds < goal else 'NOT MET'} "
                     f"({step_seconds:,.0f} s)")
        cap = GOAL_PEAK_MIB[customers]
        lines.append(f"goal: peak RSS under {cap:,} MiB in any process: {'MET' if peak_mib < cap else 'NOT MET'} "
                     f"({peak_mib:,.0f} MiB)")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    print(package_version(), flush=True)
    settings_path = ensure_sample(args.customers, args.events_per_customer)
    work = Path(tempfile.mkdtemp(prefix="retention_bench_graph_"))
    current = Code("working tree", PROJECT_DIR)
    baseline_code = checkout(args.baseline_ref, work / "baseline_code") if args.baseline_ref else None
    try:
        load, results, metrics = measure_graph(current, settings_path, work / "current", args.profile)
        compared = (measure_graph(baseline_code, settings_path, work / "baseline", args.profile)
                    if baseline_code else None)
        print(f"\nWhole graph, {args.customers:,} customers, {args.events_per_customer:g} events per customer, "
              f"{args.profile} profile ({current.label}):\n")
        print(report(load, results))
        print(f"\nmodel: {metrics['model']} ({metrics['validation']}), ROC AUC {metrics['roc_auc']:.4f}, "
              f"PR AUC {metrics['pr_auc']:.4f}, base rate {metrics['base_rate']:.3f}, "
              f"{metrics['n_train']:,} training rows, {metrics['n_validation']:,} validation rows")
        step_seconds, process_seconds, peak = totals(results)
        print("\n".join(goal_lines(args.customers, step_seconds, peak)))
        if compared:
            old_load, old_results, old_metrics = compared
            print(f"\nThe same graph at {baseline_code.label}:\n")
            print(report(old_load, old_results))
            print(f"\nmodel at {baseline_code.label}: ROC AUC {old_metrics['roc_auc']:.4f}, "
                  f"PR AUC {old_metrics['pr_auc']:.4f}")
            old_step, old_process, old_peak = totals(old_results)
            print(f"\nratio working tree / {baseline_code.label}: step time {step_seconds / old_step:.2f}x "
                  f"({step_seconds:,.0f} s vs {old_step:,.0f} s), process time {process_seconds / old_process:.2f}x, "
                  f"peak RSS {peak / old_peak:.2f}x ({peak:,.0f} vs {old_peak:,.0f} MiB)")
        failed = [c for r in results for c in r.failed_checks]
        if failed:
            print("FAILED CHECKS:\n  " + "\n  ".join(failed))
            return 1
    finally:
        if baseline_code:
            remove_checkout(baseline_code.root)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
