"""Per-feature drift across monitoring runs: one small Parquet table that every `feature_drift`
materialization appends to, so a feature that creeps up run after run shows as a trend rather than
one number that is overwritten.

Rows: run_id (the materialization's run), as_of (the scoring time), model_version, feature, psi,
weighted_psi, severity, calendar, in the order the runs were recorded: two exports can share an
as-of time (a corrected re-export) and still differ. A run recorded again (a retried step) replaces
its rows. This module must not import dagster.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retention_assets.core.files import atomic_write

HISTORY_FILE = Path("monitoring") / "feature_drift_history.parquet"
COLUMNS = ("run_id", "as_of", "model_version", "feature", "psi", "weighted_psi", "severity", "calendar")


def history_path(data_path: Path) -> Path:
    return Path(data_path) / HISTORY_FILE


def read_drift_history(data_path: Path) -> pd.DataFrame:
    """Every recorded run's per-feature drift, in the order recorded (empty with the columns when none)."""
    path = history_path(data_path)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.read_parquet(path)


def history_rows(table: pd.DataFrame, run_id: str, as_of: str, model_version: str) -> pd.DataFrame:
    """One run's rows, from a `drift_table` (the predicted-score row is not a feature and is left out)."""
    rows = table.loc[:, ["feature", "psi", "weighted_psi", "severity", "calendar"]].copy()
    rows.insert(0, "model_version", str(model_version))
    rows.insert(0, "as_of", str(as_of))
    rows.insert(0, "run_id", str(run_id))
    rows["calendar"] = rows["calendar"].astype(bool)
    return rows.reset_index(drop=True)


def append_drift_history(data_path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Add one run's rows after the others (replacing any earlier rows of the same run), written
    atomically; returns the whole history."""
    history = read_drift_history(data_path)
    if len(rows):
        history = history[~history["run_id"].isin(set(rows["run_id"]))]
        history = pd.concat([history, rows], ignore_index=True) if len(history) else rows.reset_index(drop=True)
    atomic_write(history_path(data_path), lambda tmp: history.to_parquet(tmp, index=False))
    return history


def recent_top(history: pd.DataFrame, runs: int = 6, top: int = 10) -> pd.DataFrame:
    """PSI of the `top` features with the most importance-weighted drift in the latest run, one column
    per run (the last `runs` runs, oldest first, named `<as_of date> v<version>`, numbered when two
    runs would share a name)."""
    if history.empty:
        return pd.DataFrame(columns=["feature"])
    keys = history[["run_id", "as_of", "model_version"]].drop_duplicates("run_id").tail(runs)
    latest = history[history["run_id"] == keys["run_id"].iloc[-1]]
    features = latest.sort_values(["weighted_psi", "psi"], ascending=False, kind="stable")["feature"].head(top)
    out = pd.DataFrame({"feature": features.to_numpy()})
    out["calendar"] = out["feature"].map(latest.set_index("feature")["calendar"]).fillna(False).astype(bool)
    for position, (run_id, as_of, version) in enumerate(keys.itertuples(index=False), start=1):
        name = f"{str(as_of)[:10]} v{version}"
        name = f"{name} #{position}" if name in out.columns else name
        run = history[history["run_id"] == run_id].set_index("feature")
        out[name] = out["feature"].map(run["psi"]).to_numpy()
    return out


def history_markdown(frame: pd.DataFrame) -> str:
    """`recent_top` as a Markdown table, PSI to two decimals ("-" where a run lacked the feature)."""
    if frame.empty:
        return "No drift recorded yet."
    runs = [c for c in frame.columns if c not in ("feature", "calendar")]
    lines = ["| feature | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for row in frame.itertuples(index=False):
        name = f"{row[0]} (calendar)" if row[1] else str(row[0])
        values = ["-" if pd.isna(v) else f"{v:.2f}" for v in row[2:]]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)
