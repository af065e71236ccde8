"""The per-feature drift history across monitoring runs, and what a person reads first on feature_drift."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pandas as pd

from retention_assets.core.plots import drift_contribution_png
from retention_assets.monitoring.drift import EXPECTED
from retention_assets.monitoring.drift_history import (
    append_drift_history,
    history_markdown,
    history_path,
    history_rows,
    read_drift_history,
    recent_top,
)
from retention_assets.monitoring.drift_report import summary_markdown


def _table(psi: dict[str, float], calendar: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame({"feature": list(psi), "psi": list(psi.values()),
                         "weighted_psi": [v / 10 for v in psi.values()],
                         "severity": ["significant" if v >= 0.2 else "none" for v in psi.values()],
                         "calendar": [f in calendar for f in psi], "importance_share": 0.1,
                         "raw_psi": [v + (2.5 if f in calendar else 0.0) for f, v in psi.items()]})


def test_history_appends_runs_in_order_and_replaces_a_retried_run(tmp_path):
    assert read_drift_history(tmp_path).empty
    append_drift_history(tmp_path, history_rows(_table({"fee": 0.01, "tenure": 0.02}), "r1",
                                                "2026-08-01T00:00:00+00:00", "1"))
    # a later export with the same as-of time (a corrected re-export) is a run of its own
    append_drift_history(tmp_path, history_rows(_table({"fee": 0.30, "tenure": 0.01}), "r2",
                                                "2026-08-01T00:00:00+00:00", "1"))
    append_drift_history(tmp_path, history_rows(_table({"fee": 0.05, "tenure": 0.01}), "r3",
                                                "2026-07-01T00:00:00+00:00", "1"))
    retried = history_rows(_table({"fee": 0.40, "tenure": 0.01}), "r2", "2026-08-01T00:00:00+00:00", "1")
    history = append_drift_history(tmp_path, retried)
    assert history_path(tmp_path).exists()
    assert history["run_id"].drop_duplicates().tolist() == ["r1", "r3", "r2"] and len(history) == 6
    assert history[history["run_id"] == "r2"].set_index("feature").loc["fee", "psi"] == 0.40
    assert read_drift_history(tmp_path).equals(history)


def test_recent_top_lists_the_latest_runs_most_drifted_features_over_the_last_runs(tmp_path):
    for month, fee in [(5, 0.01), (6, 0.05), (7, 0.12), (8, 0.45)]:
        rows = history_rows(_table({"fee": fee, "count": 0.02, "tenure": 0.01}, calendar=("tenure",)),
                            f"run{month}", f"2026-{month:02d}-01T00:00:00+00:00", "1" if month < 8 else "2")
        history = append_drift_history(tmp_path, rows)
    top = recent_top(history, runs=3, top=2)
    assert top["feature"].tolist() == ["fee", "count"]
    assert list(top.columns) == ["feature", "calendar", "2026-06-01 v1", "2026-07-01 v1", "2026-08-01 v2"]
    assert top.iloc[0, 2:].tolist() == [0.05, 0.12, 0.45]  # the trend of the feature that drifts
    markdown = history_markdown(recent_top(history, runs=2, top=3))
    assert "| fee | 0.12 | 0.45 |" in markdown and "| tenure (calendar) | 0.01 | 0.01 |" in markdown
    assert history_markdown(recent_top(read_drift_history(tmp_path / "none"))) == "No drift recorded yet."
    same = append_drift_history(tmp_path, history_rows(_table({"fee": 0.5}), "again", "2026-08-01T00:00:00+00:00",
                                                       "2"))
    assert list(recent_top(same, runs=2).columns)[2:] == ["2026-08-01 v2", "2026-08-01 v2 #2"]


def test_summary_rounds_for_display_and_says_how_calendar_features_were_compared():
    table = _table({"monthly_fee": 4.538497, "tenure": 0.015301}, calendar=("tenure",))
    table.loc[1, "severity"] = "none"
    markdown = summary_markdown(table, names={"monthly_fee": "monthly fee"})  # the model's readable names
    assert "| monthly_fee | monthly fee | 4.538 | 10.0% | 0.4538 | significant |" in markdown
    assert "| tenure |  | 0.015 (raw 2.52) | 10.0% | 0.0015 | none (calendar, vs aged reference) |" in markdown
    table.loc[1, "severity"] = EXPECTED
    assert "expected ageing (calendar)" in summary_markdown(table)
    assert "4.538497" not in markdown
    plans = pd.DataFrame([{"feature": "plan", "psi": 0.5, "importance_share": 0.2, "weighted_psi": 0.1,
                           "severity": "significant", "calendar": False, "raw_psi": 0.5,
                           "new_categories": ["enterprise"], "vanished_categories": ["premium"]}])
    assert "| significant; new: enterprise; gone: premium |" in summary_markdown(plans)
    plans["new_categories"] = [np.array([], dtype=object)]  # as read back from Parquet
    assert "| significant; gone: premium |" in summary_markdown(plans)


def _png_size(png_base64: str) -> tuple[int, int]:
    header = base64.b64decode(png_base64)[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_drift_plot_is_wide_enough_to_read_at_1x_and_grows_with_the_features():
    names = [f"transactions_{i}d_amount_mean" for i in range(15)]
    values = np.linspace(0.02, 0.001, 15)
    width, height = _png_size(drift_contribution_png(names, values, values * 10, ["significant"] * 15,
                                                     [i == 3 for i in range(15)]))
    small = _png_size(drift_contribution_png(names[:3], values[:3], values[:3], ["none"] * 3, [False] * 3))
    assert width >= 800 and height > small[1]
