"""Benchmark 4: a very wide customer file (20,004 columns) through raw validation, time and peak RSS.

What is measured, each in a fresh process (`_peak.py`), on one generated CSV:

* project      `validate_and_write` as the raw asset calls it: a file with more undeclared columns than
               `entity.max_undeclared_columns` (default 1,000) is read by its declared columns only
               (streamed copy, then the engine validates the narrow copy);
* every column the same call told to keep every column (`max_other_columns=None`): what the raw layer
               did before, every scan of the engine's CSV reader parsing 20,004 columns.

The settings name three columns (key, a date, a category); the rest are integers. Reported: seconds,
peak RSS, whether it finished, and the ratio of the project to the every-column run.

    python bench/bench_wide.py                    # 20,004 columns x 1,000 rows (58 MB)
    python bench/bench_wide.py --rows 10000       # x 10,000 rows (580 MB)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_DIR, format_table, package_version, run_measured

CHILD = """
import sys, time
from pathlib import Path
from retention_assets.core.errors import DataValidationError
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.raw import SourceSpec, validate_and_write
path, tables, wide = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "all"
spec = SourceSpec(name="customers", path=path, file_format="csv", entity_key="customer_id",
                  date_columns=("signup_date",), string_columns=("plan",), unique_key=True, keep_other_columns=True,
                  row_numbers=True, settings_prefix="entity", max_other_columns=None if wide else 1000)
start = time.perf_counter()
try:
    with DuckDBEngine(tables) as engine:  # the engine's default memory limit (3 GB)
        report = validate_and_write(engine, spec, "raw_customers")
    print(f"OK {time.perf_counter() - start:.1f} {len(report.columns)} {report.rows}")
except DataValidationError as exc:
    print(f"FAILED {time.perf_counter() - start:.1f} {str(exc)[:160]}")
"""


def generate(path: Path, rows: int, columns: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with path.open("w") as out:
        out.write(",".join(["customer_id", "signup_date", "plan", *(f"x{j}" for j in range(columns - 3))]) + "\n")
        for start in range(0, rows, 500):
            values = rng.integers(0, 100, size=(min(500, rows - start), columns - 3))
            for offset, row in enumerate(values):
                out.write(f"C{start + offset:07d},2025-01-01,basic," + ",".join(map(str, row)) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20_004)
    args = parser.parse_args(argv)
    print(package_version(), flush=True)
    with tempfile.TemporaryDirectory(prefix="retention_bench_wide_") as work:
        path = Path(work) / "customers.csv"
        generate(path, args.rows, args.columns)
        print(f"{path.name}: {args.columns:,} columns x {args.rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB",
              flush=True)
        child = Path(work) / "child.py"
        child.write_text(CHILD)
        results = {}
        for method, mode in (("project", "declared"), ("every column", "all")):
            measured = run_measured([str(child), str(path), str(Path(work) / method.replace(" ", "_")), mode],
                                    cwd=PROJECT_DIR, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
            outcome = (measured.stdout.strip().splitlines() or ["FAILED (no output)"])[-1]
            results[method] = (measured, outcome)
            print(f"  {method:<13} {measured.seconds:6.1f} s  peak RSS {measured.peak_rss_mb or 0:6,.0f} MiB  {outcome}",
                  flush=True)
    rows = [[m, r.seconds, r.peak_rss_mb, o.split()[0]] for m, (r, o) in results.items()]
    print("\n" + format_table(["method", "process s", "peak RSS MiB", "outcome"], rows))
    project, every = results["project"][0], results["every column"][0]
    print(f"\nproject / every column: {project.seconds / every.seconds:.2f}x time, "
          f"{(project.peak_rss_mb or 0) / (every.peak_rss_mb or 1):.2f}x peak RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
