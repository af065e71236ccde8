"""Benchmark 7: the databricks profile (Pipes jobs, Unity Catalog) against the local track, in the same run.

What is measured: `retention quickstart` on the same sample, each in a fresh process with its own data
directory and Dagster instance, on three tracks:

    local        DuckDB in the Dagster process (the reference)
    spark        the same steps in the Dagster process on Spark (Sail through Spark Connect, Delta tables)
    databricks   the databricks profile: every set-based step one job run through the real
                 PipesDatabricksClient against the test suite's stand-in workspace, whose "cluster" is a
                 subprocess on the same Sail server (Unity Catalog through the stand-in)

Per step, Dagster's recorded duration. `databricks - spark` on a Pipes step is what the submission costs
(a job run, the cluster process starting Python and importing the project, the Pipes context and
messages over DBFS, Dagster's polling and its 10 s wait for late driver logs), since both run the same
SQL on the same engine. The point is that overhead per step, not Spark's speed: on a workspace the
job cluster's start-up (minutes) dominates instead, which is why each step is one submission and not
many. Engine start-up: the Sail server (its own process here) and the first session.

    python bench/bench_databricks.py                  # the embedded sample's size (3,000 customers)
    python bench/bench_databricks.py --customers 1000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import ensure_sample, format_table
from bench_graph import quickstart_measured

PIPES_ASSETS = ("bronze_entity", "silver_joined", "churn_labels", "gold_features", "churn_scores")


def pipes_steps(settings_path: Path) -> set[str]:
    """The steps submitted as Databricks jobs: raw and bronze_event of each source, and the other set-based layers."""
    import yaml

    data = yaml.safe_load(settings_path.read_text())
    sources = [data["entity"].get("name", "customers"), *data["events"]]
    return {*PIPES_ASSETS, *(f"raw_{s}" for s in sources), *(f"bronze_event_{s}" for s in data["events"])}


def databricks_settings(settings_path: Path, work: Path, lake_root: str) -> Path:
    """The sample's settings with absolute source paths and a Unity Catalog layout of its own."""
    import yaml

    data = yaml.safe_load(settings_path.read_text())
    base = settings_path.parent
    data["entity"]["path"] = str((base / data["entity"]["path"]).resolve())
    for event in data["events"].values():
        event["path"] = str((base / event["path"]).resolve())
    data["unity_catalog"] = {"catalog": "main", "storage_root": lake_root}
    target = work / "settings.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    args = parser.parse_args(argv)
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    from retention_assets.remote.deploy import deploy
    from retention_assets_tests.databricks.sail import SailServer
    from retention_assets_tests.databricks.workspace import StandInWorkspace

    settings_path = ensure_sample(args.customers, args.events_per_customer)
    work = Path(tempfile.mkdtemp(prefix="retention_bench_databricks_"))
    token = "dapi-bench-token"
    workspace = StandInWorkspace(work / "workspace", token).start()
    sail = SailServer(f"{workspace.host}/api/2.1/unity-catalog", token, work / "sail.log")
    try:
        started = time.perf_counter()
        sail.start()
        sail_start = time.perf_counter() - started
        workspace.spark_remote = sail.remote
        workspace.cluster_env.update(DATABRICKS_HOST=workspace.host, DATABRICKS_TOKEN=token)
        client = WorkspaceClient(config=Config(host=workspace.host, token=token, retry_timeout_seconds=15))
        started = time.perf_counter()
        deploy(client, "dbfs:/retention/code")
        deploy_seconds = time.perf_counter() - started
        (work / "lake").mkdir()
        remote_settings = databricks_settings(settings_path, work, (work / "lake").as_uri())
        measured = {
            "local": quickstart_measured("local", settings_path, work / "local", {}),
            "spark": quickstart_measured("spark", settings_path, work / "spark", {"RETENTION_ENGINE": "spark"}),
            "databricks": quickstart_measured("databricks", remote_settings, work / "databricks", {
                "RETENTION_PROFILE": "databricks", "DATABRICKS_HOST": workspace.host, "DATABRICKS_TOKEN": token,
                "RETENTION_SPARK_REMOTE": sail.remote,
                "RETENTION_MLFLOW_TRACKING_URI": f"sqlite:///{work / 'databricks' / 'mlflow.db'}",
                "RETENTION_DATABRICKS_POLL_SECONDS": "1"}),
        }
        jobs = len(workspace.runs)
    finally:
        workspace.stop()
        sail.stop()
        shutil.rmtree(work, ignore_errors=True)
    local, spark, remote = (measured[t][1] for t in ("local", "spark", "databricks"))
    piped_steps = pipes_steps(settings_path)
    nan = float("nan")
    rows = []
    for step in sorted(local, key=lambda s: -remote.get(s, 0.0)):
        piped = step in piped_steps
        rows.append([step + (" (Pipes job)" if piped else ""), local[step], spark.get(step, nan), remote.get(step, nan),
                     remote.get(step, nan) - spark.get(step, nan), remote.get(step, nan) / local[step]
                     if local[step] else nan])
    piped = [s for s in local if s in piped_steps]
    overhead = [remote[s] - spark[s] for s in piped if s in remote and s in spark]
    rows.append(["TOTAL step time", sum(local.values()), sum(spark.values()), sum(remote.values()),
                 sum(remote.values()) - sum(spark.values()), sum(remote.values()) / sum(local.values())])
    for label, index in (("process wall time", "seconds"), ("peak RSS MiB (Dagster process)", "peak_rss_mb")):
        values = [getattr(measured[t][0], index) for t in ("local", "spark", "databricks")]
        rows.append([label, *values, values[2] - values[1], values[2] / values[0]])
    print(f"{args.customers:,} customers x {args.events_per_customer:g} events, `retention quickstart` per track "
          f"({jobs} Databricks job runs):")
    print(format_table(["step", "local s", "spark s", "databricks s", "databricks - spark s", "databricks / local"],
                       rows))
    print(f"Pipes overhead per job step: median {sorted(overhead)[len(overhead) // 2]:.1f} s, "
          f"min {min(overhead):.1f} s, max {max(overhead):.1f} s over {len(overhead)} steps")
    print(f"engine start-up: Sail server {sail_start:.1f} s; deploy (build and upload the wheel) {deploy_seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
