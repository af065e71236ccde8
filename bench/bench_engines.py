"""Benchmark 6: the whole graph on DuckDB and on Spark (Sail, Delta tables), in the same run.

What is measured: `retention quickstart` on the same sample, once per engine (`RETENTION_ENGINE`),
each in a fresh process with its own data directory and Dagster instance: the process's wall time and
peak RSS (client and the embedded Sail server share the process), and every step's duration as Dagster
records it. The Spark engine's start-up (an embedded Sail server, the first Spark Connect session) is in
its first step. The point is what moving the set-based layers to a Spark engine costs per step on one
machine, not Spark's speed at scale.

    python bench/bench_engines.py                       # 10k customers, 100 events each
    python bench/bench_engines.py --customers 2000      # smoke test
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_sample, format_table  # noqa: E402
from bench_graph import quickstart_measured  # noqa: E402

ENGINES = ("duckdb", "spark")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    args = parser.parse_args(argv)
    settings_path = ensure_sample(args.customers, args.events_per_customer)
    work = Path(tempfile.mkdtemp(prefix="retention_bench_engines_"))
    try:
        measured = {engine: quickstart_measured(engine, settings_path, work / engine, {"RETENTION_ENGINE": engine})
                    for engine in ENGINES}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (duck_process, duck), (spark_process, spark) = measured["duckdb"], measured["spark"]
    rows = [[step, duck.get(step, float("nan")), spark.get(step, float("nan")),
             spark.get(step, float("nan")) / duck[step] if duck.get(step) else float("nan")]
            for step in sorted(duck, key=lambda s: -duck[s])]
    rows.append(["TOTAL step time", sum(duck.values()), sum(spark.values()), sum(spark.values()) / sum(duck.values())])
    rows.append(["process wall time", duck_process.seconds, spark_process.seconds,
                 spark_process.seconds / duck_process.seconds])
    rows.append(["peak RSS MiB", duck_process.peak_rss_mb, spark_process.peak_rss_mb,
                 spark_process.peak_rss_mb / duck_process.peak_rss_mb])
    print(f"{args.customers:,} customers x {args.events_per_customer:g} events, `retention quickstart` per engine:")
    print(format_table(["step", "duckdb s", "spark (Sail) s", "spark / duckdb"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
