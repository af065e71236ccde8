"""Helpers shared by the benchmarks: cached sample data, measured subprocesses, table printing.

Nothing here imports dagster, so the measured child processes stay lean.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"  # git-ignored
MIB = 1024 * 1024


def sample_dir(customers: int, events_per_customer: float) -> Path:
    return DATA_DIR / f"sample_c{customers}_e{events_per_customer:g}"


def ensure_sample(customers: int, events_per_customer: float, seed: int = 7) -> Path:
    """The settings file of a cached sample dataset, generating it when missing or out of date.

    Same as `retention sample --out DIR --customers N --events-per-customer E` (the project's
    `cli.write_sample`, which calls `generate_sample(out_dir, n_customers=N, events_per_customer=E,
    seed=7)` and writes the embedded sample's settings pointing at the files). The cache is keyed
    on the generator's source and the embedded settings, which the package changes from time to time.
    """
    out = sample_dir(customers, events_per_customer)
    settings, stamp = out / "settings.yaml", out / ".stamp"
    wanted = [settings, out / "customers.csv", out / "transactions.parquet", out / "support_tickets.csv"]
    key = _sample_key(seed)
    if all(p.exists() for p in wanted) and stamp.exists() and stamp.read_text() == key:
        print(f"reusing sample data in {out}", flush=True)
        return settings
    from retention_assets.cli import write_sample

    start = time.perf_counter()
    print(f"generating sample data ({customers} customers, {events_per_customer:g} events each) in {out} ...", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):
        write_sample(str(out), customers, events_per_customer, seed)
    stamp.write_text(key)
    print(f"  generated in {time.perf_counter() - start:.1f}s", flush=True)
    return settings


def _sample_key(seed: int) -> str:
    from retention_assets.sample import generator as sample_data
    from retention_assets.settings import sample_settings_path

    digest = hashlib.sha256(Path(sample_data.__file__).read_bytes() + sample_settings_path().read_bytes())
    return f"seed={seed} {digest.hexdigest()}"


@dataclass
class Measured:
    """One child process: its exit code, wall time, peak RSS and captured output."""

    returncode: int
    seconds: float
    peak_rss_mb: float | None  # MiB
    stdout: str
    stderr: str


def run_measured(target: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run a Python script or `-m module` (`target`) in a fresh process; return its wall time and peak RSS.

    The child runs under `_peak.py`, which records its own VmHWM at exit (see there for why
    `ru_maxrss` cannot be used). The wall time includes interpreter start-up and imports.
    """
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    report = DATA_DIR / f".peak_{os.getpid()}.json"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, str(BENCH_DIR / "_peak.py"), str(report), *target]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = None
    if report.exists():
        kib = json.loads(report.read_text()).get("peak_rss_kib")
        peak = kib * 1024 / MIB if kib else None
        report.unlink()
    if peak is None and proc.returncode == 0:
        raise RuntimeError(f"{target} exited without reporting its peak RSS (did it call os._exit?)")
    return Measured(proc.returncode, seconds, peak, proc.stdout, proc.stderr)


def package_version() -> str:
    """The commit the package was measured at (the package is edited in parallel), and whether it had local edits."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "retention_assets")
    return f"retention_assets at git {commit}" + (" + uncommitted edits" if dirty else "")


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (readable in a terminal and pasteable into RESULTS.md)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)) + " |"
              for r in cells[1:]]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("x", "").replace("-", "", 1).isdigit()
