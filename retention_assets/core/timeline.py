"""Time windows and the timeline of a run.

A window of length w as of T covers the half-open interval (T - w, T]: an event exactly at T is in,
an event exactly at T - w is out, so "24h" and "7d" never overlap their predecessor period.
`all_time` covers (-inf, T]. Every timestamp is tz-aware UTC.

Date-only events (`timeline.date_only_events`): events stamped with a date only sit at midnight UTC,
and a snapshot date D is stored as D 00:00. With (T - w, T] that instant holds exactly the events of
days D - w + 1 ... D and a label window (c, c + h] exactly the days c + 1 ... c + h: the date means
the END of day D (its events in, the next day's out) with no shifted timestamps, so windows stay exact
and "days since" features count whole days. The stored timeline states this (`day_boundary`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


class TimelineError(ValueError):
    """A timeline that cannot be built (a cutoff whose label window ends after the as-of time, ...)."""


INSTANT_SEMANTICS = "instant: a snapshot T holds the events at or before T; an event exactly at T is in"
DATE_ONLY_SEMANTICS = ("date_only: a snapshot date D (stored as D 00:00 UTC) is the end of day D: the events "
                       "stamped D are in, those stamped D + 1 out; a label window (c, c + h] holds days c+1 ... c+h")


@dataclass(frozen=True)
class Timeline:
    """The as-of timestamps of one run, shared by every source.

    `cutoffs` are the training snapshots (oldest first); each has its label observed in
    (cutoff, cutoff + horizon], which always ends at or before `as_of`. `as_of` is the scoring snapshot.
    `validation_cutoffs` are the cutoffs the model is validated on out of time (fitted on the others);
    empty: no out-of-time validation is possible (a single cutoff).
    """

    as_of: datetime
    cutoffs: tuple[datetime, ...]
    horizon: timedelta
    as_of_source: str  # "settings", "data" or "undated" (`undated_timeline`)
    validation_cutoffs: tuple[datetime, ...] = ()
    date_only: bool = False
    cutoffs_source: str = "spacing"  # "spacing" (as_of - horizon - k * spacing) or "settings" (listed)

    @property
    def snapshots(self) -> tuple[datetime, ...]:
        return (*self.cutoffs, self.as_of)

    @property
    def day_boundary(self) -> str:
        return DATE_ONLY_SEMANTICS if self.date_only else INSTANT_SEMANTICS

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "cutoffs": [c.isoformat() for c in self.cutoffs],
            "horizon_days": self.horizon.total_seconds() / 86400,
            "as_of_source": self.as_of_source,
            "validation_cutoffs": [c.isoformat() for c in self.validation_cutoffs],
            "date_only_events": self.date_only,
            "day_boundary": self.day_boundary,
            "cutoffs_source": self.cutoffs_source,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Timeline":
        cutoffs = tuple(datetime.fromisoformat(c) for c in data["cutoffs"])
        if "validation_cutoffs" in data:
            validation = tuple(datetime.fromisoformat(c) for c in data["validation_cutoffs"])
        else:  # a timeline stored before validation cutoffs were recorded: the latest cutoff, as then
            validation = cutoffs[-1:] if len(cutoffs) >= 2 else ()
        return cls(
            as_of=datetime.fromisoformat(data["as_of"]),
            cutoffs=cutoffs,
            horizon=timedelta(days=data["horizon_days"]),
            as_of_source=data["as_of_source"],
            validation_cutoffs=validation,
            date_only=bool(data.get("date_only_events", False)),
            cutoffs_source=data.get("cutoffs_source", "spacing"),
        )


def build_timeline(
    as_of: datetime, horizon_days: int, n_cutoffs: int | Sequence[datetime], spacing_days: int | None,
    as_of_source: str, validation_cutoffs: Sequence[datetime] | None = None, date_only: bool = False,
) -> Timeline:
    """The run's timeline: `n_cutoffs` spaced cutoffs before `as_of`, or the listed cutoffs (each checked to
    have its label window (cutoff, cutoff + horizon] end at or before `as_of`). `validation_cutoffs` default
    to the latest cutoff when there are two or more."""
    as_of = ensure_utc(as_of)
    horizon = timedelta(days=horizon_days)
    if isinstance(n_cutoffs, int):
        spacing = timedelta(days=spacing_days or horizon_days)
        latest = as_of - horizon
        cutoffs = tuple(sorted(latest - k * spacing for k in range(n_cutoffs)))
        origin = "spacing"
    else:
        cutoffs = tuple(sorted({ensure_utc(c) for c in n_cutoffs}))
        if not cutoffs:
            raise TimelineError("timeline.training_cutoffs lists no cutoff")
        late = [c for c in cutoffs if c + horizon > as_of]
        if late:
            raise TimelineError(
                f"timeline.training_cutoffs: the label window (cutoff, cutoff + {horizon_days} days] of "
                f"{', '.join(c.isoformat() for c in late)} ends after the as-of time {as_of.isoformat()}: its "
                f"labels are not observed yet; list cutoffs at or before {(as_of - horizon).isoformat()} or move "
                "timeline.as_of later")
        origin = "settings"
    if validation_cutoffs is None:
        validation = cutoffs[-1:] if len(cutoffs) >= 2 else ()
    else:
        validation = tuple(sorted({ensure_utc(c) for c in validation_cutoffs}))
        unknown = [c.isoformat() for c in validation if c not in cutoffs]
        if unknown:
            raise TimelineError(f"timeline.validation_cutoffs {unknown} are not training cutoffs "
                                f"{[c.isoformat() for c in cutoffs]}")
        if len(validation) >= len(cutoffs):
            raise TimelineError("timeline.validation_cutoffs must leave at least one training cutoff to fit on")
    return Timeline(as_of=as_of, cutoffs=cutoffs, horizon=horizon, as_of_source=as_of_source,
                    validation_cutoffs=validation, date_only=date_only, cutoffs_source=origin)


MIN_PLAUSIBLE_TRAINING_ROWS = 1000  # fewer and a churn model's validation says little (the case: 209)


def history_warnings(timeline: Timeline, earliest_event: datetime | None, windows: Sequence[Window]) -> list[str]:
    """Cutoffs with less history before them than the longest finite window: such a window's features
    cannot be told apart from a shorter one's at that cutoff (one day of history makes every window equal)."""
    finite = [w for w in windows if w.length is not None]
    if earliest_event is None or not finite:
        return []
    longest = max(finite, key=lambda w: w.length)
    earliest = ensure_utc(earliest_event)
    short = [(c, c - earliest) for c in timeline.cutoffs if c - earliest < longest.length]
    return [f"training cutoff {c.isoformat()} has {max(history.total_seconds(), 0) / 86400:.1f} day(s) of event "
            f"history before it (the first event is at {earliest.isoformat()}), less than the longest window "
            f"{longest.name}: that window's features there hold less than they say; list later "
            "timeline.training_cutoffs or shorter windows" for c, history in short]


def training_rows_warning(rows: int, minority: int | None = None) -> str | None:
    """A warning when the model is trained on very few rows (its validation then says little)."""
    if rows >= MIN_PLAUSIBLE_TRAINING_ROWS and (minority is None or minority >= 50):
        return None
    smaller = "" if minority is None else f", {minority} of the smaller class"
    return (f"the model is trained on only {rows:,} row(s){smaller} (fewer than {MIN_PLAUSIBLE_TRAINING_ROWS:,} "
            "rows or 50 of a class): its validation metrics are noisy and its campaign should not be trusted; add "
            "training cutoffs (timeline.training_cutoffs) or data")


def boundary_warnings(timeline: Timeline, source: str, at_snapshots: dict[datetime, int],
                      midnight_only: bool) -> list[str]:
    """What the day boundary means for one event source's stamps.

    Without `date_only_events`, a snapshot that lands exactly on date-only stamps (midnight) takes in the
    whole day those stamps stand for; with it, stamps that carry a time of day are not what it assumes."""
    if timeline.date_only:
        if midnight_only:
            return []
        return [(f"{source}: timeline.date_only_events is true but the source's timestamps carry times of day: "
                 "a snapshot date D holds only its events up to D 00:00 UTC, not the rest of day D; set "
                 "date_only_events: false for timestamped events")]
    if not midnight_only:
        return []
    landed = [(t, n) for t, n in sorted(at_snapshots.items()) if n]
    if not landed:
        return []
    shown = ", ".join(f"{t.isoformat()} ({n:,} event(s))" for t, n in landed)
    return [(f"{source}: snapshot(s) land exactly on event timestamps: {shown}; the source's timestamps are dates "
             "only (midnight), so each such snapshot takes in the whole day its date stands for. If a date means its "
             "whole day, set timeline.date_only_events: true (a date then means the end of that day); to leave that "
             "day out, use the previous date")]


UNDATED_CUTOFF = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the training cutoff of undated data without any date
UNDATED = "undated"  # Timeline.as_of_source of `undated_timeline`


def is_static_target(label_kind: str, label_timestamp_column: str | None) -> bool:
    """A target column without label timestamps: every snapshot of a customer has the same label."""
    return label_kind == "target_column" and not label_timestamp_column


def static_target_cutoffs(cutoffs: int | Sequence[datetime], has_events: bool, static_target: bool
                          ) -> tuple[int | list[datetime], str | None]:
    """The training cutoffs a run gets (a count or a list, as in the settings), and the warning when it gets
    fewer than the settings ask for.

    Without events and with a static target, the rows of a customer at several cutoffs are identical
    (only "days since" dates shift) and carry the same label: copies that would validate each other and
    weigh every customer several times. Such a run uses one training cutoff (one row per customer): the
    latest of a listed set."""
    n = cutoffs if isinstance(cutoffs, int) else len(cutoffs)
    if has_events or not static_target or n <= 1:
        return cutoffs, None
    kept = 1 if isinstance(cutoffs, int) else [max(ensure_utc(c) for c in cutoffs)]
    return kept, (f"timeline.training_cutoffs asks for {n} cutoffs but there are no event sources and the label is a "
                  "static target column (no label.label_timestamp_column): every cutoff would copy each customer "
                  "with an identical row and label, so one training cutoff is used (validation is "
                  "cross-validation); set timeline.training_cutoffs: 1 to silence this")


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
    timeline = Timeline(as_of=cutoff + horizon, cutoffs=(cutoff,), horizon=horizon, as_of_source=UNDATED,
                        cutoffs_source=UNDATED)
    message = (f"undated data (no event sources, label from a target column without timestamps): one training "
               f"cutoff at {cutoff.isoformat()} ({origin}), as-of {timeline.as_of.isoformat()} = cutoff + horizon; "
               "set timeline.as_of to choose the dates")
    return timeline, message
