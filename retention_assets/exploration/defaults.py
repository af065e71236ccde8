"""Defaults derived from the data: the label horizon, the activity window and the feature windows that
fit an event log's observed span and its customers' cadence, each with the evidence that chose it.

A fixed 30-day horizon and 90-day activity window quietly change the question on data whose customers
come back every few days or every few months, or whose span is shorter than the windows. The proposal
is pure arithmetic on three numbers measured in SQL (`event_cadence`), so it is unit-tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retention_assets.settings import DEFAULT_WINDOWS

if TYPE_CHECKING:
    from retention_assets.engine.base import Engine

HORIZON_GAPS = 4.0  # a customer silent for this many median gaps has probably left
ACTIVE_P90_GAPS = 2.0  # the population: an event within twice the 90th percentile gap before a cutoff
TRAINING_CUTOFFS = 2  # the latest is the out-of-time validation set
DAY = 86_400.0


@dataclass(frozen=True)
class Cadence:
    """An event log's span and the gaps between consecutive events of one customer (days)."""

    span_days: float
    median_gap_days: float | None
    p90_gap_days: float | None
    date_only: bool  # every timestamp is a midnight (UTC)


@dataclass(frozen=True)
class Proposal:
    """What the starter settings propose, and why (one line of evidence per choice)."""

    horizon_days: int
    active_within_days: int
    windows: list[str]
    training_cutoffs: int
    evidence: dict[str, str]


def _window_days(window: str) -> float:
    if window == "all_time":
        return 0.0
    return float(window[:-1]) / (24 if window.endswith("h") else 1)


def propose_defaults(cadence: Cadence) -> Proposal:
    """Horizon ~ HORIZON_GAPS median gaps, bounded so that TRAINING_CUTOFFS cutoffs (one horizon apart) plus the
    horizon fit in the span with at least one horizon of history before the earliest: (cutoffs + 1) * horizon <=
    span; active_within from the 90th percentile gap, at least the horizon; the standard windows that fit."""
    span = max(cadence.span_days, 0.0)
    gap = cadence.median_gap_days
    longest = max(1, math.floor(span / (TRAINING_CUTOFFS + 1)))
    wanted = max(1, math.ceil(HORIZON_GAPS * gap)) if gap else 30
    horizon = min(wanted, longest)
    p90 = cadence.p90_gap_days or gap
    active = max(horizon, math.ceil(ACTIVE_P90_GAPS * p90)) if p90 else max(horizon, 90)
    active = max(1, min(active, max(1, math.floor(span)))) if span >= 1 else max(1, active)
    windows = [w for w in DEFAULT_WINDOWS if _window_days(w) <= span] or ["all_time"]
    gap_text = f"{gap:.1f} days" if gap else "unknown (no customer has two events)"
    evidence = {
        "horizon_days": f"median gap between a customer's events: {gap_text}; span {span:.0f} days; "
                        f"{HORIZON_GAPS:g} median gaps = {wanted} days"
                        + (f", bounded to {horizon} so {TRAINING_CUTOFFS} cutoffs plus the horizon fit in the span"
                           if horizon < wanted else ""),
        "active_within_days": f"90th percentile gap between a customer's events: "
                              f"{f'{p90:.1f} days' if p90 else 'unknown'}; twice that, at least the horizon, "
                              f"at most the span, keeps most active customers in the population",
        "windows": f"the standard windows no longer than the span ({span:.0f} days)",
    }
    return Proposal(horizon, active, windows, TRAINING_CUTOFFS, evidence)


def event_cadence(engine: Engine, relation: str, key: str, stamp: str) -> Cadence:
    """Measure `relation`'s span, gaps between consecutive events per key and whether every time is a midnight,
    in SQL; `key` and `stamp` are SQL expressions of the key (as text) and the UTC timestamp."""
    from retention_assets.exploration.profiling import _numbers, _quantiles

    d = engine.dialect
    epoch = d.epoch_seconds("t")
    events = f"(SELECT {key} AS k, {stamp} AS t FROM {relation}) AS e"
    low, high, off_midnight = engine.rows(
        f"SELECT min({epoch}), max({epoch}), "
        f"sum(CASE WHEN {epoch} - {DAY} * floor({epoch} / {DAY}) <> 0 THEN 1 ELSE 0 END) "
        f"FROM {events} WHERE t IS NOT NULL AND k IS NOT NULL")[0]
    span = (float(high) - float(low)) / DAY if low is not None else 0.0
    gaps = (f"(SELECT CAST(s - p AS DOUBLE) / {DAY} AS c0 FROM (SELECT s, LAG(s) OVER (PARTITION BY k ORDER BY s) AS p "
            f"FROM (SELECT k, {epoch} AS s FROM {events} WHERE t IS NOT NULL AND k IS NOT NULL) AS stamped) AS lagged "
            f"WHERE p IS NOT NULL) AS gaps")
    numbers = _numbers(engine, gaps)
    median = p90 = None
    if numbers.count:
        median, p90 = _quantiles(engine, numbers, (0.5, 0.9))
    return Cadence(span, median, p90, low is not None and not int(off_midnight or 0))
