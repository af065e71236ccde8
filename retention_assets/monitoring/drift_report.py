"""What a person reads first on `feature_drift`: one summary table of the features that matter, with
display-rounded numbers (the full-precision values stay in the asset's table and numeric metadata).
This module must not import dagster."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from retention_assets.monitoring.drift import EXPECTED

SHOWN = 15


def status(severity: str, calendar: bool) -> str:
    """The severity in words; calendar features say how they were compared."""
    if severity == EXPECTED:
        return "expected ageing (calendar)"
    return f"{severity} (calendar, vs aged reference)" if calendar else severity


def _changes(row) -> str:
    """`; new: a, b; gone: c` for a categorical whose categories appeared or vanished."""
    def listed(name: str) -> list:
        value = getattr(row, name, None)
        return [] if value is None else list(value)  # a list in memory, an array when read from Parquet

    new, gone = listed("new_categories"), listed("vanished_categories")
    return (f"; new: {', '.join(map(str, new))}" if new else "") + (f"; gone: {', '.join(map(str, gone))}" if gone else "")


def summary_markdown(table: pd.DataFrame, shown: int = SHOWN, names: Mapping[str, str] | None = None) -> str:
    """The `shown` features with the most importance-weighted drift: PSI, importance share, weighted
    contribution and status (a calendar feature's PSI before ageing in brackets, a categorical's new
    and vanished categories after its status). The full table, with tests and missing rates, is the
    asset's value. `names` are the model's readable names of the features (its glossary), shown beside them."""
    names = names or {}
    lines = ["| feature | meaning | PSI | importance share | weighted contribution | status |",
             "|---|---|---|---|---|---|"]
    for r in table.head(shown).itertuples():
        calendar = bool(getattr(r, "calendar", False))
        psi = f"{r.psi:.3f}" + (f" (raw {r.raw_psi:.2f})" if calendar else "")
        lines.append(f"| {r.feature} | {names.get(r.feature, '')} | {psi} | {r.importance_share:.1%} | "
                     f"{r.weighted_psi:.4f} | {status(r.severity, calendar)}{_changes(r)} |")
    return "\n".join(lines)
