"""Benchmark 3: the same job launched the way the UI and sensors launch it, against the CLI, in one run.

What is measured, for the `full_refresh` job on the same data, each in a fresh data directory:

* cli          `retention quickstart`: the job executed in one process (`execute_in_process`), as the
               README's quickstart runs it;
* launched     `dagster job launch`: the instance's run launcher starts a run worker process, exactly as
               "Materialize all" in the UI or a sensor's RunRequest does (the UI adds only the queue's
               dequeue interval), with the project's default executor (all steps in that one worker);
* launched, multiprocess   the same with `RETENTION_EXECUTOR=multiprocess` (one process per step,
               each re-importing the code location): what the UI did before the executor choice.

Reported: the run's wall time (launch to the run's end, read from the Dagster instance) and the ratio to
the CLI run measured in the same invocation. Goal: launched within 1.2x of the CLI. Methods alternate
order across rounds; timings are noisy on a shared 2-core machine, so compare the ratios.

    python bench/bench_launch.py                    # the embedded sample, one round
    python bench/bench_launch.py --repeats 2
    python bench/bench_launch.py --customers 20000  # a generated sample of that size
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_DIR, ensure_sample, format_table, package_version  # noqa: E402

JOB = "full_refresh"
GOAL = 1.2
METHODS = ("cli", "launched", "launched, multiprocess")
# The default run launcher; the DefaultRunCoordinator hands the run to it at once (Dagster's default queued
# coordinator waits for the daemon to dequeue it, which only adds the daemon's polling interval).
DAGSTER_YAML = ("telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster.core.run_coordinator\n"
                "  class: DefaultRunCoordinator\n")


def environment(work: Path, settings: Path | None, executor: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    home = work / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env.update(DAGSTER_HOME=str(home), RETENTION_DATA_DIR=str(work / "data"), RETENTION_EXECUTOR=executor)
    if settings:
        env["RETENTION_SETTINGS"] = str(settings)
    return env


def run_cli(env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(["retention", "quickstart"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cli failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def run_launched(env: dict[str, str], timeout: float = 3600) -> float:
    import dagster as dg

    start = time.perf_counter()
    done = subprocess.run(["dagster", "job", "launch", "-m", "retention_assets.definitions", "-j", JOB],
                          env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"launch failed:\n{done.stderr[-3000:]}")
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        while time.perf_counter() - start < timeout:
            runs = instance.get_runs(limit=1)
            if runs and runs[0].is_finished:
                if runs[0].status != dg.DagsterRunStatus.SUCCESS:
                    raise SystemExit(f"launched run {runs[0].run_id} ended {runs[0].status.value}")
                return time.perf_counter() - start  # within one polling interval of the run's end
            time.sleep(0.25)
    finally:
        instance.dispose()
    raise SystemExit("the launched run did not finish in time")


def measure(method: str, settings: Path | None) -> float:
    work = Path(tempfile.mkdtemp(prefix="retention_bench_launch_"))
    try:
        if method == "cli":
            return run_cli(environment(work, settings, "in_process"))
        executor = "multiprocess" if method.endswith("multiprocess") else "in_process"
        return run_launched(environment(work, settings, executor))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=None, help="a generated sample (default: the embedded one)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-multiprocess", action="store_true")
    args = parser.parse_args(argv)
    print(package_version(), flush=True)
    settings = ensure_sample(args.customers, 100.0) if args.customers else None
    methods = [m for m in METHODS if not (args.skip_multiprocess and m.endswith("multiprocess"))]
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    for round_no in range(args.repeats):
        order = methods[round_no % len(methods):] + methods[:round_no % len(methods)]
        for method in order:
            seconds[method].append(measure(method, settings))
            print(f"  round {round_no + 1}: {method:<24} {seconds[method][-1]:7.1f} s", flush=True)
    cli = min(seconds["cli"])
    rows = [[m, min(v), statistics.median(v), f"{min(v) / cli:.2f}x"] for m, v in seconds.items()]
    print(f"\n{JOB} on {'the embedded sample' if settings is None else settings.parent.name}, "
          f"best of {args.repeats}:\n")
    print(format_table(["method", "best s", "median s", "x cli (best)"], rows))
    ratio = min(seconds["launched"]) / cli
    print(f"\ngoal: a launched run (UI, sensors) within {GOAL}x of the CLI: {'MET' if ratio <= GOAL else 'NOT MET'} "
          f"({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
