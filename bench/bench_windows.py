"""Benchmark 1: the seven windows of one event source, the project's way vs a hand-written query vs pandas.

What is measured: the time and peak memory to turn the raw `transactions` table (10M events for
100k customers at full size) into per-customer features for every window (24h, 7d, 30d, 90d, 180d,
365d, all_time) as of one timestamp: event count, and count/sum/mean/min/max of `amount`, plus the
two recency columns (days since last/first event) that the project always emits, so all three
methods produce the same 56 columns and the comparison is like for like.

1. project      `retention_assets.features.event_windows.write_window_tables`, i.e. what the
                bronze_event asset runs: the single-scan SQL on a `DuckDBEngine` with the
                `DuckDBEngineResource` defaults (memory limit, threads), written to one Parquet table per
                window.
2. hand-written one DuckDB query, one scan, conditional aggregation with constant window bounds,
                left-joined from the distinct customer keys, same connection settings, written to one
                Parquet file with COPY (both DuckDB methods end with their result on disk).
3. pandas       `read_parquet` then one boolean filter + groupby per window (single-threaded).
                The read is timed separately; the table shows pandas without and with it (the
                DuckDB methods always include reading the Parquet).

Why: the issue asks for the project path to stay within 1.3x of the hand-written query and under
1.5 GB peak RSS at this size. Timing is reported, never asserted; wrong results fail the run.

Every timed run is a fresh child process (this script with `--child METHOD`), so each method's peak
RSS is its own (VmHWM of that child, see bench/_peak.py). Rounds alternate the method order. Both
wall and CPU seconds (user + system, all threads) are recorded: on a shared 2-core machine the
wall time swings with other load, the CPU time much less. Input is the Parquet written by the
project's raw layer (`validate_and_write`), prepared once, untimed.

    python bench/bench_windows.py                      # 100k customers, 10M events, best of 3
    python bench/bench_windows.py --customers 2000     # smoke test
    python bench/bench_windows.py --profile            # also print DuckDB per-operator timings
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_sample, format_table, package_version, run_measured  # noqa: E402

SOURCE = "transactions"
KEY = "customer_id"
TS = "event_ts"
VALUE = "amount"
WINDOWS = ["24h", "7d", "30d", "90d", "180d", "365d", "all_time"]
AGGREGATIONS = ("count", "sum", "mean", "min", "max")
METHODS = ("project", "hand-written", "pandas")
TIME_GOAL = 1.3  # project / hand-written
MEMORY_GOAL_MB = 1.5 * 1024  # 1.5 GiB, in MiB like every RSS figure here
RTOL, ATOL = 1e-9, 1e-6


# ------------------------------------------------------------------------------------------------
# inputs (prepared once by the parent, untimed)


def window_hours(name: str) -> int | None:
    """Hours in a window name, written independently of the project's parser."""
    if name == "all_time":
        return None
    amount, unit = re.fullmatch(r"(\d+)([hd])", name).groups()
    return int(amount) * (24 if unit == "d" else 1)


def prepare_raw(settings_path: Path) -> tuple[Path, Path]:
    """Write raw_customers / raw_transactions exactly as the raw assets do; return their paths."""
    from retention_assets.core.names import raw_name
    from retention_assets.engine.duckdb_engine import DuckDBEngine
    from retention_assets.features.raw import source_specs, validate_and_write
    from retention_assets.settings import load_settings

    settings = load_settings(settings_path)
    specs = source_specs(settings)
    raw_dir = settings_path.parent / "raw"
    memory_limit, threads = duckdb_settings()
    paths = []
    with DuckDBEngine(raw_dir, memory_limit=memory_limit, threads=threads) as engine:
        for name in (settings.entity.name, SOURCE):
            start = time.perf_counter()
            report = validate_and_write(engine, specs[name], raw_name(name))
            target = Path(engine.location(raw_name(name)))
            print(f"  raw step: {target.name} ({report.rows:,} rows) in {time.perf_counter() - start:.1f}s",
                  flush=True)
            paths.append(target)
    return paths[1], paths[0]


def duckdb_settings() -> tuple[str | None, int | None]:
    """Memory limit and threads of the project's `DuckDBEngineResource` defaults."""
    from retention_assets.resources.compute import DuckDBEngineResource

    resource = DuckDBEngineResource(tables_dir=".")
    return resource.memory_limit, resource.threads


def latest_event(events: Path) -> tuple[datetime, int]:
    """The as-of timestamp (the latest event, as `timeline.as_of: auto` would pick) and the event count."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(f"SELECT max({TS}), count(*) FROM read_parquet('{events}')").fetchone()


# ------------------------------------------------------------------------------------------------
# the three methods; each returns (wide frame: KEY + feature columns, {timing name: seconds})


class Timer:
    """Wall and CPU seconds (CPU = user + system of every thread of this process) of a block."""

    def __enter__(self) -> "Timer":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def timings(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}seconds": self.wall, f"{prefix}cpu_seconds": self.cpu}


def run_project(events: Path, entity: Path, as_of: datetime, memory_limit, threads):
    import tempfile

    from retention_assets.core.timeline import parse_windows
    from retention_assets.engine.duckdb_engine import DuckDBEngine
    from retention_assets.features.event_windows import EventFeatureSpec, write_window_tables

    spec = EventFeatureSpec(source=SOURCE, entity_key=KEY, timestamp_column=TS,
                            value_columns=(VALUE,), aggregations=AGGREGATIONS)
    with tempfile.TemporaryDirectory(dir=events.parent) as out, \
            DuckDBEngine(out, memory_limit=memory_limit, threads=threads) as engine:
        ev, ent = engine.file_relation(events, "parquet"), engine.file_relation(entity, "parquet")
        with Timer() as timer:
            written = write_window_tables(engine, spec, parse_windows(WINDOWS), events=ev, entity=ent, entity_key=KEY,
                                          snapshots=[as_of], tables={w: f"{SOURCE}_{w}" for w in WINDOWS})
        frames = {w: engine.frame(f"SELECT * FROM {engine.relation(t)}") for w, t in written.tables.items()}  # untimed
    return frames, timer.timings()


def project_to_wide(frames: dict, as_of: datetime):
    """The project's per-window frames as one frame (untimed; for the comparison only)."""
    import pandas as pd

    wide = None
    for frame in frames.values():
        stamps = pd.to_datetime(frame["feature_timestamp"], utc=True).unique()
        if len(stamps) != 1 or stamps[0] != pd.Timestamp(as_of):
            raise AssertionError(f"project: feature_timestamp {list(stamps)} is not the as-of time {as_of}")
        frame = frame.drop(columns=["feature_timestamp"])
        wide = frame if wide is None else wide.merge(frame, on=KEY, how="outer", validate="one_to_one")
    return wide


def feature_names() -> list[tuple[str, str, str]]:
    """(output column, window, statistic) in the project's naming."""
    stats = ["count", *(f"{VALUE}_{agg}" for agg in AGGREGATIONS), "days_since_last", "days_since_first"]
    return [(f"{SOURCE}_{w}_{s}", w, s) for w in WINDOWS for s in stats]


def hand_written_sql(events: Path, entity: Path, as_of: datetime) -> str:
    """One scan, conditional aggregation, constant window bounds, all customers kept."""
    as_of_sql = f"TIMESTAMPTZ '{as_of.isoformat()}'"
    sql_agg = {"count": "count", "sum": "sum", "mean": "avg", "min": "min", "max": "max"}
    aggregates, outputs = [], []
    for name, window, stat in feature_names():
        hours = window_hours(window)
        cond = "TRUE" if hours is None else f"{TS} > {as_of_sql} - INTERVAL {hours} HOURS"
        if stat == "count":
            aggregates.append(f"count(*) FILTER (WHERE {cond}) AS {name}")
        elif stat.startswith("days_since_"):
            extreme = "max" if stat.endswith("last") else "min"
            aggregates.append(f"{extreme}({TS}) FILTER (WHERE {cond}) AS {name}")
            outputs.append(f"(epoch({as_of_sql}) - epoch(a.{name})) / 86400.0 AS {name}")
            continue
        else:
            agg = stat.removeprefix(f"{VALUE}_")
            aggregates.append(f"{sql_agg[agg]}({VALUE}) FILTER (WHERE {cond}) AS {name}")
        zero = stat == "count" or stat.endswith(("_count", "_sum"))
        outputs.append(f"coalesce(a.{name}, 0) AS {name}" if zero else f"a.{name}")
    return f"""
WITH a AS (
  SELECT {KEY}, {', '.join(aggregates)}
  FROM read_parquet('{events}')
  WHERE {TS} <= {as_of_sql}
  GROUP BY {KEY}
)
SELECT k.{KEY}, {', '.join(outputs)}
FROM (SELECT DISTINCT {KEY} FROM read_parquet('{entity}')) k
LEFT JOIN a USING ({KEY})
"""


def run_hand_written(events: Path, entity: Path, as_of: datetime, memory_limit, threads):
    import tempfile

    import pandas as pd

    from retention_assets.engine.duckdb_engine import connect

    con = connect(memory_limit=memory_limit, threads=threads)
    sql = hand_written_sql(events, entity, as_of)
    with tempfile.TemporaryDirectory(dir=events.parent) as out:
        target = Path(out) / "hand_written.parquet"
        with Timer() as timer:
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT PARQUET, COMPRESSION ZSTD)")
        frame = pd.read_parquet(target)  # untimed
    return frame, timer.timings()


def run_pandas(events: Path, entity: Path, as_of: datetime, memory_limit, threads):
    import pandas as pd

    with Timer() as read:
        ev = pd.read_parquet(events, columns=[KEY, TS, VALUE])
        keys = pd.read_parquet(entity, columns=[KEY])[KEY].drop_duplicates()
    with Timer() as compute:
        out = pandas_windows(ev, keys, pd.Timestamp(as_of))
    return out, {**compute.timings(), **read.timings("read_")}


def pandas_windows(ev, keys, as_of_ts):
    """One boolean filter and one groupby per window, re-indexed to every customer."""
    import pandas as pd

    ev = ev[ev[TS] <= as_of_ts]
    out = pd.DataFrame({KEY: keys.to_numpy()})
    for window in WINDOWS:
        hours = window_hours(window)
        sub = ev if hours is None else ev[ev[TS] > as_of_ts - pd.Timedelta(hours=hours)]
        agg = sub.groupby(KEY, sort=False).agg(
            count=(VALUE, "size"), **{f"{VALUE}_{a}": (VALUE, a) for a in AGGREGATIONS},
            last=(TS, "max"), first=(TS, "min"),
        ).reindex(out[KEY])
        prefix = f"{SOURCE}_{window}_"
        for stat in ("count", f"{VALUE}_count", f"{VALUE}_sum"):
            out[prefix + stat] = agg[stat].fillna(0).to_numpy()
        for stat in (f"{VALUE}_mean", f"{VALUE}_min", f"{VALUE}_max"):
            out[prefix + stat] = agg[stat].to_numpy()
        out[prefix + "days_since_last"] = ((as_of_ts - agg["last"]).dt.total_seconds() / 86400.0).to_numpy()
        out[prefix + "days_since_first"] = ((as_of_ts - agg["first"]).dt.total_seconds() / 86400.0).to_numpy()
    return out


RUNNERS = {"project": run_project, "hand-written": run_hand_written, "pandas": run_pandas}


# ------------------------------------------------------------------------------------------------
# child process: run one method once, print its timings as JSON, optionally save its output


def child_main(args: argparse.Namespace) -> int:
    as_of = datetime.fromisoformat(args.as_of)
    threads = args.threads or None
    result, timings = RUNNERS[args.child](Path(args.events), Path(args.entity), as_of, args.memory_limit, threads)
    print(json.dumps(timings), flush=True)  # before the (untimed) output write, which adds no peak worth noting
    if args.out:
        wide = project_to_wide(result, as_of) if args.child == "project" else result
        wide.to_parquet(args.out, index=False)
    return 0


def measure(method: str, events: Path, entity: Path, as_of: datetime, memory_limit, threads,
            out: Path | None) -> dict:
    cmd = [__file__, "--child", method, "--events", str(events), "--entity", str(entity),
           "--as-of", as_of.isoformat(), "--memory-limit", memory_limit or "", "--threads", str(threads or 0)]
    if out:
        cmd += ["--out", str(out)]
    run = run_measured(cmd)
    if run.returncode != 0:
        raise SystemExit(f"{method} failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    timings = json.loads(run.stdout.strip().splitlines()[-1])
    return {**timings, "peak_rss_mb": run.peak_rss_mb, "process_seconds": run.seconds}


# ------------------------------------------------------------------------------------------------
# correctness: the three outputs must agree


def check_agreement(outputs: dict[str, Path], n_customers: int, n_events: int) -> None:
    """Fail loudly unless every method gives the same value (within float tolerance) for every cell."""
    import numpy as np
    import pandas as pd

    expected = [name for name, _, _ in feature_names()]
    frames = {}
    for method, path in outputs.items():
        frame = pd.read_parquet(path)
        columns = sorted(set(frame.columns) - {KEY})
        if columns != sorted(expected):
            raise AssertionError(f"{method}: feature columns differ from the expected ones:\n"
                                 f"  missing {sorted(set(expected) - set(columns))}\n"
                                 f"  extra   {sorted(set(columns) - set(expected))}")
        if frame[KEY].duplicated().any() or len(frame) != n_customers:
            raise AssertionError(f"{method}: {len(frame)} rows for {n_customers} customers (or repeated keys)")
        frames[method] = frame.set_index(KEY).sort_index()[expected]

    total = frames["hand-written"][f"{SOURCE}_all_time_count"].sum()
    if total != n_events:
        raise AssertionError(f"hand-written: all_time counts add up to {total}, the file has {n_events} events")
    reference = frames["hand-written"]
    problems = []
    for method, frame in frames.items():
        if not frame.index.equals(reference.index):
            raise AssertionError(f"{method}: customer keys differ from the hand-written query's")
        for column in expected:
            a = frame[column].to_numpy(dtype="float64")
            b = reference[column].to_numpy(dtype="float64")
            bad = ~((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=RTOL, atol=ATOL))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problems.append(f"  {method} vs hand-written, {column}: {int(bad.sum())} customer(s) differ, "
                                f"e.g. {reference.index[i]}: {a[i]!r} vs {b[i]!r}")
    if problems:
        raise AssertionError("the methods disagree:\n" + "\n".join(problems))
    print(f"results agree: {len(expected)} features x {n_customers:,} customers, "
          f"project = hand-written = pandas (rtol {RTOL:g}, atol {ATOL:g})", flush=True)


# ------------------------------------------------------------------------------------------------
# report


def summarize(runs: dict[str, list[dict]]) -> tuple[str, dict]:
    """Best and median wall and CPU seconds per method, ratios to the hand-written query, peak RSS."""
    def series(method: str, with_read: bool, cpu: bool) -> list[float]:
        key = "cpu_seconds" if cpu else "seconds"
        return [r[key] + (r["read_" + key] if with_read else 0.0) for r in runs[method]]

    hand_wall, hand_cpu = series("hand-written", False, False), series("hand-written", False, True)
    variants = [("project", "project", False), ("hand-written", "hand-written", False),
                ("pandas (compute only)", "pandas", False), ("pandas (read + compute)", "pandas", True)]
    rows, summary = [], {}
    for label, method, with_read in variants:
        wall, cpu = series(method, with_read, False), series(method, with_read, True)
        peak = max(r["peak_rss_mb"] for r in runs[method])
        entry = {
            "best": min(wall), "median": statistics.median(wall), "cpu_best": min(cpu),
            "ratio_best": min(wall) / min(hand_wall),
            "ratio_median": statistics.median(wall) / statistics.median(hand_wall),
            "ratio_cpu": min(cpu) / min(hand_cpu), "peak_rss_mb": peak,
        }
        summary[label] = entry
        rows.append([label, entry["best"], entry["median"], f"{entry['ratio_best']:.2f}x",
                     f"{entry['ratio_median']:.2f}x", entry["cpu_best"], f"{entry['ratio_cpu']:.2f}x", peak])
    headers = ["method", "best s", "median s", "x hand (best)", "x hand (median)", "best CPU s",
               "x hand (CPU)", "peak RSS MiB"]
    return format_table(headers, rows), summary


def goals(summary: dict) -> list[str]:
    project = summary["project"]
    time_ok = project["ratio_best"] <= TIME_GOAL
    memory_ok = project["peak_rss_mb"] <= MEMORY_GOAL_MB
    return [
        f"goal: project within {TIME_GOAL}x of hand-written: {'MET' if time_ok else 'NOT MET'} "
        f"({project['ratio_best']:.2f}x best-of wall, {project['ratio_median']:.2f}x median wall, "
        f"{project['ratio_cpu']:.2f}x best-of CPU)",
        f"goal: project peak RSS under {MEMORY_GOAL_MB:.0f} MiB: {'MET' if memory_ok else 'NOT MET'} "
        f"({project['peak_rss_mb']:.0f} MiB)",
        f"pandas vs hand-written: {summary['pandas (compute only)']['ratio_best']:.2f}x without the read, "
        f"{summary['pandas (read + compute)']['ratio_best']:.2f}x with it (best-of)",
    ]


# ------------------------------------------------------------------------------------------------
# optional: where DuckDB spends its time (EXPLAIN ANALYZE of both queries, per operator)


def profile(events: Path, entity: Path, as_of: datetime, memory_limit, threads, out_dir: Path) -> None:
    from retention_assets.core.timeline import parse_windows
    from retention_assets.engine.dialect import DUCKDB
    from retention_assets.engine.duckdb_engine import connect
    from retention_assets.features.event_windows import EventFeatureSpec, snapshot_spine_sql, window_features_sql

    def parquet_relation(path: Path) -> str:
        return f"read_parquet('{path}')"

    spec = EventFeatureSpec(source=SOURCE, entity_key=KEY, timestamp_column=TS,
                            value_columns=(VALUE,), aggregations=AGGREGATIONS)
    spine = snapshot_spine_sql(DUCKDB, parquet_relation(entity), KEY, [as_of])
    queries = {
        "project": window_features_sql(spec, parse_windows(WINDOWS), DUCKDB, events=parquet_relation(events),
                                       spine=spine, spine_key=KEY),
        "hand-written": hand_written_sql(events, entity, as_of),
    }
    con = connect(memory_limit=memory_limit, threads=threads)
    for method, sql in queries.items():
        slug = method.replace("-", "_")
        (out_dir / f"query_{slug}.sql").write_text(sql)
        plan = con.execute("EXPLAIN ANALYZE " + sql).fetchall()[0][1]
        (out_dir / f"explain_analyze_{slug}.txt").write_text(plan)
        json_path = out_dir / f"profile_{slug}.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{json_path}'")
        con.execute(sql).fetchall()
        con.execute("PRAGMA disable_profiling")
        print(f"\n{method}: EXPLAIN ANALYZE in {out_dir / f'explain_analyze_{slug}.txt'}; operators by CPU time "
              "(summed over threads):")
        print(format_table(["operator", "rows", "CPU s", "detail"], top_operators(json_path)))


def top_operators(json_path: Path, limit: int = 8) -> list[list[object]]:
    try:
        tree = json.loads(json_path.read_text())
        root = tree.get("operator") or tree
    except (OSError, ValueError):
        return [["(profile unreadable)", "", "", str(json_path)]]
    flat = []

    def walk(node):
        info = node.get("extra_info") or {}
        parts = [info.get(k, "") for k in ("Projections", "Conditions", "Groups", "Function")]
        detail = " ".join(", ".join(map(str, p)) if isinstance(p, list) else str(p) for p in parts)
        flat.append([node.get("name", node.get("operator_name", "?")),
                     int(node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0),
                     float(node.get("timing", node.get("operator_timing", 0.0)) or 0.0),
                     re.sub(r"\s+", " ", detail).strip()[:90]])
        for child in node.get("children", []):
            walk(child)

    for node in root if isinstance(root, list) else [root]:
        walk(node)
    return sorted(flat, key=lambda r: -r[2])[:limit]


# ------------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events-per-customer", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (fresh process each)")
    parser.add_argument("--profile", action="store_true", help="also EXPLAIN ANALYZE both DuckDB queries")
    # internal: one method in this (child) process
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--entity", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)

    print(package_version(), flush=True)
    settings_path = ensure_sample(args.customers, args.events_per_customer)
    events, entity = prepare_raw(settings_path)
    as_of, n_events = latest_event(events)
    memory_limit, threads = duckdb_settings()
    print(f"{n_events:,} events, {args.customers:,} customers, as of {as_of.isoformat()}; "
          f"DuckDB memory_limit={memory_limit} threads={threads or 'default (all cores)'}", flush=True)

    out_dir = settings_path.parent / "windows_out"
    out_dir.mkdir(exist_ok=True)
    outputs = {m: out_dir / f"{m}.parquet" for m in METHODS}
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for round_no in range(args.repeats):
        order = METHODS[round_no % len(METHODS):] + METHODS[:round_no % len(METHODS)]
        for method in order:
            out = outputs[method] if round_no == 0 else None  # save each method's result once
            result = measure(method, events, entity, as_of, memory_limit, threads, out)
            runs[method].append(result)
            extra = f" (+ read {result['read_seconds']:.2f}s)" if "read_seconds" in result else ""
            print(f"  round {round_no + 1}: {method:<12} {result['seconds']:6.2f}s{extra}, "
                  f"CPU {result['cpu_seconds']:6.2f}s  "
                  f"peak RSS {result['peak_rss_mb']:,.0f} MiB", flush=True)
        if round_no == 0:
            check_agreement(outputs, args.customers, n_events)

    table, summary = summarize(runs)
    print(f"\nWindows of one source ({SOURCE}: {n_events:,} events, {args.customers:,} customers, "
          f"{len(WINDOWS)} windows), best of {args.repeats}, each run in a fresh process:\n")
    print(table)
    print()
    print("\n".join(goals(summary)))
    if args.profile:
        profile(events, entity, as_of, memory_limit, threads, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
