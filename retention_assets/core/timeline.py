"""Time windows and the timeline of a run.

A window of length w as of T covers the half-open interval (T - w, T]: an event exactly at T is in,
an event exactly at T - w is out, so "24h" and "7d" never overlap their predecessor period.
`all_time` covers (-inf, T]. Every timestamp is tz-aware UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_WINDOW = re.compile(r"^(\d+)(h|d)$")


@dataclass(frozen=True)
class Window:
    """A named look-back window; `length` is None for all_time."""

    name: str
    length: timedelta | None

    @property
    def hours(self) -> int | None:
        return None if self.length is None else int(self.length.total_seconds() // 3600)

    def contains(self, event_ts: datetime, as_of: datetime) -> bool:
        """The reference semantics: as_of - length < event_ts <= as_of."""
        if event_ts > as_of:
            return False
        return self.length is None or event_ts > as_of - self.length


def parse_window(name: str) -> Window:
    if name == "all_time":
        return Window(name, None)
    match = _WINDOW.match(name)
    if not match:
        raise ValueError(f"window {name!r} must look like '24h', '7d' or 'all_time'")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"window {name!r} must be positive")
    return Window(name, timedelta(hours=amount) if unit == "h" else timedelta(days=amount))


def parse_windows(names: list[str]) -> list[Window]:
    return [parse_window(name) for name in names]


def ensure_utc(ts: datetime) -> datetime:
    """A tz-aware UTC datetime; naive input is taken to be UTC already."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


@dataclass(frozen=True)
class Timeline:
    """The as-of timestamps of one run, shared by every source.

    `cutoffs` are the training snapshots (oldest first); each has its label observed in
    (cutoff, cutoff + horizon], which always ends at or before `as_of`. `as_of` is the scoring snapshot.
    """

    as_of: datetime
    cutoffs: tuple[datetime, ...]
    horizon: timedelta
    as_of_source: str  # "settings", "data" or "undated" (`undated_timeline`)

    @property
    def snapshots(self) -> tuple[datetime, ...]:
        return (*self.cutoffs, self.as_of)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "cutoffs": [c.isoformat() for c in self.cutoffs],
            "horizon_days": self.horizon.total_seconds() / 86400,
            "as_of_source": self.as_of_source,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Timeline":
        return cls(
            as_of=datetime.fromisoformat(data["as_of"]),
            cutoffs=tuple(datetime.fromisoformat(c) for c in data["cutoffs"]),
            horizon=timedelta(days=data["horizon_days"]),
            as_of_source=data["as_of_source"],
        )


def build_timeline(
    as_of: datetime, horizon_days: int, n_cutoffs: int, spacing_days: int | None, as_of_source: str
) -> Timeline:
    as_of = ensure_utc(as_of)
    horizon = timedelta(days=horizon_days)
    spacing = timedelta(days=spacing_days or horizon_days)
    latest = as_of - horizon
    cutoffs = tuple(sorted(latest - k * spacing for k in range(n_cutoffs)))
    return Timeline(as_of=as_of, cutoffs=cutoffs, horizon=horizon, as_of_source=as_of_source)


UNDATED_CUTOFF = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the training cutoff of undated data without any date
UNDATED = "undated"  # Timeline.as_of_source of `undated_timeline`


def is_static_target(label_kind: str, label_timestamp_column: str | None) -> bool:
    """A target column without label timestamps: every snapshot of a customer has the same label."""
    return label_kind == "target_column" and not label_timestamp_column


def static_target_cutoffs(n_cutoffs: int, has_events: bool, static_target: bool) -> tuple[int, str | None]:
    """How many training cutoffs a run gets, and the warning when it gets fewer than the settings ask for.

    Without events and with a static target, the rows of a customer at several cutoffs are identical
    (only "days since" dates shift) and carry the same label: copies that would validate each other and
    weigh every customer several times. Such a run uses one training cutoff (one row per customer)."""
    if has_events or not static_target or n_cutoffs <= 1:
        return n_cutoffs, None
    return 1, (f"timeline.training_cutoffs is {n_cutoffs} but there are no event sources and the label is a "
               "static target column (no label.label_timestamp_column): every cutoff would copy each customer with "
               "an identical row and label, so one training cutoff is used (validation is cross-validation); "
               "set timeline.training_cutoffs: 1 to silence this")


def undated_timeline(latest_entity_date: datetime | None, horizon_days: int) -> tuple[Timeline, str]:
    """The timeline of undated data (no event sources, a static target, as_of 'auto'), and its log line.

    There is no event time to take the as-of from, and no wall clock is used: the single training
    cutoff is the latest value of the entity table's date columns (so no customer is after it), or
    `UNDATED_CUTOFF` (2000-01-01T00:00Z) when the table has no dates; `as_of` is that cutoff plus the
    horizon, so the static target counts as observed at the as-of. The scores describe the same customers
    at as_of; their "days since" features are `horizon` days larger than in training."""
    horizon = timedelta(days=horizon_days)
    cutoff = ensure_utc(latest_entity_date) if latest_entity_date is not None else UNDATED_CUTOFF
    origin = ("the latest entity date" if latest_entity_date is not None
              else f"no dates in the data: the fixed cutoff {UNDATED_CUTOFF.date().isoformat()}")
    timeline = Timeline(as_of=cutoff + horizon, cutoffs=(cutoff,), horizon=horizon, as_of_source=UNDATED)
    message = (f"undated data (no event sources, label from a target column without timestamps): one training "
               f"cutoff at {cutoff.isoformat()} ({origin}), as-of {timeline.as_of.isoformat()} = cutoff + horizon; "
               "set timeline.as_of to choose the dates")
    return timeline, message
