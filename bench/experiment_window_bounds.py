"""Experiment: how much of the project's window SQL time is the per-row window-bound arithmetic?

`window_features_sql` filters each window with `__ts > (__as_of - INTERVAL 'N hours')`, where
`__as_of` is a column coming from the join with the snapshots. DuckDB therefore evaluates the
TIMESTAMPTZ - INTERVAL subtraction for every joined event row and every window (it cannot
constant-fold a join column), while a hand-written query with a literal as-of folds it once.

This script runs, in one process and alternating, the project's SQL as generated and the same SQL
with the bounds precomputed once per snapshot in the `sn` CTE (`feature_timestamp - INTERVAL ...
AS __lo_N`, compared as `__ts > __lo_N`), checks that both give identical frames, and prints the
timings. Two cases: the benchmark's (1 snapshot, no categories, no std) and the pipeline's
(3 snapshots: as-of and two 30-day cutoffs, event_type categories, all aggregations).

    python bench/experiment_window_bounds.py [--customers N] [--repeats R]

Requires bench_windows.py to have prepared the raw tables for that size.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, package_version, sample_dir  # noqa: E402

BOUND = re.compile(r"""\("__as_of" - INTERVAL '(\d+) hours'\)""")


def precompute_bounds(sql: str) -> str | None:
    """The same query with every window bound computed once per snapshot; None if there is none."""
    hours = sorted({int(h) for h in BOUND.findall(sql)})
    if not hours:
        return None
    head = 'WITH sn AS (SELECT DISTINCT "feature_timestamp" FROM'
    assert head in sql, "the generated SQL changed shape; update this experiment"
    bounds = ", ".join(f'"feature_timestamp" - INTERVAL \'{h} hours\' AS "__lo_{h}"' for h in hours)
    sql = sql.replace(head, 'WITH sn0 AS (SELECT DISTINCT "feature_timestamp" FROM', 1)
    sql = sql.replace("ev AS (", f'sn AS (SELECT "feature_timestamp", {bounds} FROM sn0),\nev AS (', 1)
    sql = sql.replace('sn."feature_timestamp" AS "__as_of"',
                      'sn."feature_timestamp" AS "__as_of", ' + ", ".join(f'sn."__lo_{h}"' for h in hours), 1)
    return BOUND.sub(lambda m: f'"__lo_{m.group(1)}"', sql)


def case_sql(events: str, entity: str, as_of, pipeline: bool) -> str:
    from retention_assets.lib.event_features import (EventFeatureSpec, resolve_categories, snapshot_spine_sql,
                                                     window_features_sql)
    from retention_assets.lib.duck import connect
    from retention_assets.lib.sql_dialect import DUCKDB
    from retention_assets.lib.windows import parse_windows
    from bench_windows import AGGREGATIONS, WINDOWS

    aggregations = (*AGGREGATIONS, "std") if pipeline else AGGREGATIONS
    spec = EventFeatureSpec("transactions", "customer_id", "event_ts", ("amount",), aggregations)
    snapshots = [as_of]
    if pipeline:
        spec = resolve_categories(connect(), spec, events, ["event_type"], 12, DUCKDB)
        snapshots = [as_of - timedelta(days=60), as_of - timedelta(days=30), as_of]
    spine = snapshot_spine_sql(DUCKDB, entity, "customer_id", snapshots)
    return window_features_sql(spec, parse_windows(WINDOWS), DUCKDB, events=events, spine=spine,
                               spine_key="customer_id")


def main(argv=None) -> int:
    import pandas as pd

    from bench_windows import duckdb_settings
    from retention_assets.lib.duck import connect, parquet_relation

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    print(package_version())
    raw = sample_dir(args.customers, args.events_per_customer) / "raw"
    events, entity = parquet_relation(raw / "raw_transactions.parquet"), parquet_relation(raw / "raw_customers.parquet")
    con = connect(*duckdb_settings())
    as_of = con.execute(f"SELECT max(event_ts) FROM {events}").fetchone()[0]
    rows = []
    for label, pipeline in (("benchmark: 1 snapshot", False), ("pipeline: 3 snapshots, categories, std", True)):
        generated = case_sql(events, entity, as_of, pipeline)
        fixed = precompute_bounds(generated)
        if fixed is None:
            print(f"{label}: the generated SQL has no per-row window bounds any more; nothing to compare")
            continue
        pd.testing.assert_frame_equal(con.execute(generated).df(), con.execute(fixed).df())
        times = {"as generated": [], "bounds per snapshot": []}
        for i in range(args.repeats):
            order = list(times.items()) if i % 2 == 0 else list(times.items())[::-1]
            for name, values in order:
                start = time.perf_counter()
                con.execute(generated if name == "as generated" else fixed).df()
                values.append(time.perf_counter() - start)
        base = min(times["as generated"])
        for name, values in times.items():
            rows.append([label, name, min(values), statistics.median(values), f"{min(values) / base:.2f}x"])
    print(f"\nidentical results; best of {args.repeats}, alternating, one process:\n")
    print(format_table(["case", "window SQL", "best s", "median s", "x generated"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
