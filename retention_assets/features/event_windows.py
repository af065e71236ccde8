"""Window aggregates of one event source, as SQL generated from the settings.

One query computes every window of a source in a single scan of its events (conditional
aggregation, `agg(CASE WHEN in_window THEN value END)`), for every snapshot timestamp at once. The
result has exactly one row per (customer in the spine, snapshot): customers without events get counts and sums of 0 and nulls for
means, extremes, spreads and recency. Every aggregate only sees events at or before its row's
`feature_timestamp`, which is what makes the features leakage-safe by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from retention_assets.core.columns import FEATURE_TIMESTAMP
from retention_assets.core.timeline import Window
from retention_assets.engine.base import Engine
from retention_assets.engine.dialect import Dialect

KEY = "__key"
TS = "__ts"
AS_OF = "__as_of"

_SQL_AGG = {"sum": "sum", "mean": "avg", "min": "min", "max": "max", "std": "stddev_samp", "count": "count"}
_ZERO_WHEN_EMPTY = {"count", "sum"}


def slug(value: object) -> str:
    """A lower-case identifier fragment for a category value."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(value)).strip("_").lower()
    return text or "blank"


@dataclass(frozen=True)
class EventFeatureSpec:
    """What to aggregate for one event source."""

    source: str
    entity_key: str
    timestamp_column: str
    value_columns: tuple[str, ...] = ()
    aggregations: tuple[str, ...] = ("count", "sum", "mean", "min", "max", "std")
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)  # column -> values counted


@dataclass(frozen=True)
class FeatureColumn:
    name: str
    window: str
    expression: str  # aggregate over the joined relation
    zero_when_empty: bool


def lower_bound_column(hours: int) -> str:
    """The column holding `feature_timestamp - hours`, computed once per snapshot (not per event row)."""
    return f"__lo_{hours}h"


def _conditional(function: str, value: str, condition: str | None) -> str:
    """`function` over `value` where `condition` holds, as a CASE inside the aggregate.

    Aggregates skip nulls, so this equals `function(value) FILTER (WHERE condition)`; DuckDB runs
    the CASE form several times faster at 10M events (`bench/bench_windows.py`), and it is plain
    SQL on every engine.
    """
    if condition is None:
        return f"{function}({value})"
    return f"{function}(CASE WHEN {condition} THEN {value} END)"


def feature_columns(spec: EventFeatureSpec, windows: list[Window], dialect: Dialect) -> list[FeatureColumn]:
    """Every output feature of the source, in a stable order, with its aggregate expression."""
    columns: list[FeatureColumn] = []
    ts, as_of = dialect.ident(TS), dialect.ident(AS_OF)
    for window in windows:
        condition = None if window.hours is None else f"{ts} > {dialect.ident(lower_bound_column(window.hours))}"
        prefix = f"{spec.source}_{window.name}"

        def add(name: str, expr: str, zero: bool) -> None:
            columns.append(FeatureColumn(f"{prefix}_{name}", window.name, expr, zero))

        add("count", _conditional("count", "1", condition), True)
        for value in spec.value_columns:
            col = dialect.ident(f"v__{value}")
            for agg in spec.aggregations:
                add(f"{value}_{agg}", _conditional(_SQL_AGG[agg], col, condition), agg in _ZERO_WHEN_EMPTY)
        for cat_column, values in spec.categories.items():
            col = dialect.ident(f"c__{cat_column}")
            for value in values:
                is_value = f"{col} = {dialect.string(value)}"
                cond = is_value if condition is None else f"{condition} AND {is_value}"
                add(f"{cat_column}_{slug(value)}_count", _conditional("count", "1", cond), True)
        last = _conditional("max", ts, condition)
        first = _conditional("min", ts, condition)
        add("days_since_last", dialect.days_between(as_of, last), False)
        add("days_since_first", dialect.days_between(as_of, first), False)
    names = [c.name for c in columns]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"event source {spec.source!r} yields duplicate feature names {sorted(duplicates)}")
    return columns


def window_features_sql(
    spec: EventFeatureSpec,
    windows: list[Window],
    dialect: Dialect,
    events: str,
    spine: str,
    spine_key: str,
) -> str:
    """SQL for all windows of one source.

    `events` is a relation holding the source's columns; `spine` a relation of (`spine_key`,
    feature_timestamp) rows, one per customer and snapshot. Output: the spine's columns plus every
    feature column, one row per spine row.
    """
    q = dialect.ident
    cols = feature_columns(spec, windows, dialect)
    value_cols = "".join(f", e.{q(v)} AS {q('v__' + v)}" for v in spec.value_columns)
    cat_cols = "".join(f", {dialect.as_string('e.' + q(c))} AS {q('c__' + c)}" for c in spec.categories)
    lengths = [w.hours for w in windows]
    bounded = sorted({h for h in lengths if h is not None})
    # Window bounds are computed once per snapshot here; computing them per event row in the filters
    # cost a third of the query's time at 10M events.
    bounds = "".join(
        f", {dialect.minus_hours(q(FEATURE_TIMESTAMP), h)} AS {q(lower_bound_column(h))}" for h in bounded
    )
    carried = "".join(f", sn.{q(lower_bound_column(h))}" for h in bounded)
    lower = ""
    if None not in lengths:
        # No all_time window: events older than the longest window are never needed.
        lower = f" AND ev.{q(TS)} > sn.{q(lower_bound_column(max(bounded)))}"
    aggregates = ",\n    ".join(f"{c.expression} AS {q(c.name)}" for c in cols)
    outputs = ",\n  ".join(
        f"coalesce(a.{q(c.name)}, 0) AS {q(c.name)}" if c.zero_when_empty else f"a.{q(c.name)}" for c in cols
    )
    return f"""
WITH sn AS (SELECT {q(FEATURE_TIMESTAMP)}{bounds} FROM (SELECT DISTINCT {q(FEATURE_TIMESTAMP)} FROM {spine})),
ev AS (
  SELECT {dialect.as_string('e.' + q(spec.entity_key))} AS {q(KEY)}, e.{q(spec.timestamp_column)} AS {q(TS)}{value_cols}{cat_cols}
  FROM {events} e
),
joined AS (
  SELECT ev.*, sn.{q(FEATURE_TIMESTAMP)} AS {q(AS_OF)}{carried}
  FROM ev JOIN sn ON ev.{q(TS)} <= sn.{q(FEATURE_TIMESTAMP)}{lower}
),
agg AS (
  SELECT {q(KEY)}, {q(AS_OF)},
    {aggregates}
  FROM joined
  GROUP BY {q(KEY)}, {q(AS_OF)}
)
SELECT s.{q(spine_key)}, s.{q(FEATURE_TIMESTAMP)},
  {outputs}
FROM {spine} s
LEFT JOIN agg a ON a.{q(KEY)} = s.{q(spine_key)} AND a.{q(AS_OF)} = s.{q(FEATURE_TIMESTAMP)}
ORDER BY s.{q(FEATURE_TIMESTAMP)}, s.{q(spine_key)}
"""


def top_categories_sql(dialect: Dialect, events: str, column: str, limit: int) -> str:
    """The most frequent values of a categorical column (ties broken by value, for determinism)."""
    c = dialect.ident(column)
    return (
        f"SELECT {dialect.as_string(c)} AS value, count(*) AS n FROM {events} "
        f"WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY n DESC, value LIMIT {int(limit)}"
    )


def resolve_categories(engine: Engine, spec: EventFeatureSpec, events: str, columns: list[str] | tuple[str, ...],
                       limit: int) -> EventFeatureSpec:
    """The spec with each categorical column's most frequent values filled in from the data."""
    categories = {
        column: tuple(row[0] for row in engine.rows(top_categories_sql(engine.dialect, events, column, limit)))
        for column in columns
    }
    return replace(spec, categories=categories)


def snapshot_spine_sql(dialect: Dialect, entity: str, entity_key: str, snapshots: list) -> str:
    """Every distinct entity key at every snapshot timestamp."""
    q = dialect.ident
    return (
        f"(SELECT DISTINCT {dialect.as_string('k.' + q(entity_key))} AS {q(entity_key)}, sn.{q(FEATURE_TIMESTAMP)} "
        f"FROM {entity} k CROSS JOIN {dialect.snapshot_values(FEATURE_TIMESTAMP, snapshots)} sn)"
    )


def window_columns(columns: list[FeatureColumn]) -> dict[str, list[str]]:
    """Feature names per window, in output order."""
    by_window: dict[str, list[str]] = {}
    for column in columns:
        by_window.setdefault(column.window, []).append(column.name)
    return by_window


@dataclass(frozen=True)
class WindowTables:
    """What `write_window_tables` wrote: one table per window, and the spec it resolved."""

    spec: EventFeatureSpec
    tables: dict[str, str]  # window -> table
    columns: dict[str, list[str]]  # window -> feature columns


def write_window_tables(
    engine: Engine,
    spec: EventFeatureSpec,
    windows: list[Window],
    *,
    events: str,
    entity: str,
    entity_key: str,
    snapshots: list,
    tables: dict[str, str],
    max_categories: int = 12,
    categorical_columns: list[str] | tuple[str, ...] = (),
) -> WindowTables:
    """Every window of one source in a single scan of its events, written as one table per window.

    The single query's result is written once to a staging table, and each window table is a
    projection of it (a cheap scan), so the events are read once however many windows there are.
    `tables` maps each window name to the table that receives it.
    """
    spec = resolve_categories(engine, spec, events, list(categorical_columns), max_categories)
    spine = snapshot_spine_sql(engine.dialect, entity, entity_key, snapshots)
    sql = window_features_sql(spec, windows, engine.dialect, events=events, spine=spine, spine_key=entity_key)
    columns = window_columns(feature_columns(spec, windows, engine.dialect))
    staging = f"{next(iter(tables.values()))}__all_windows"
    engine.write_table(staging, sql)
    try:
        write_projections(engine, staging, entity_key, {tables[w]: cols for w, cols in columns.items()})
    finally:
        engine.drop(staging)
    return WindowTables(spec, dict(tables), columns)


def write_projections(engine: Engine, source: str, key: str, targets: dict[str, list[str]]) -> None:
    """Write each target table as the key, the feature timestamp and its columns of `source`."""
    q = engine.dialect.ident
    relation = engine.relation(source)
    for table, names in targets.items():
        selected = ", ".join(q(c) for c in (key, FEATURE_TIMESTAMP, *names))
        engine.write_table(table, f"SELECT {selected} FROM {relation} ORDER BY {q(FEATURE_TIMESTAMP)}, {q(key)}")


def write_spine_tables(engine: Engine, entity: str, entity_key: str, snapshots: list, tables: list[str]) -> None:
    """Keys-only tables (every customer at every snapshot, no features): a deselected source's windows."""
    q = engine.dialect.ident
    spine = snapshot_spine_sql(engine.dialect, entity, entity_key, snapshots)
    for table in tables:
        engine.write_table(table, f"SELECT * FROM {spine} ORDER BY {q(FEATURE_TIMESTAMP)}, {q(entity_key)}")


def orphan_events_sql(dialect: Dialect, events: str, event_key: str, entity: str, entity_key: str) -> str:
    """Count of events whose key is not in the entity table (they cannot be attributed to a customer)."""
    q = dialect.ident
    return (
        f"SELECT count(*) FROM {events} e WHERE NOT EXISTS (SELECT 1 FROM {entity} k "
        f"WHERE {dialect.as_string('k.' + q(entity_key))} = {dialect.as_string('e.' + q(event_key))})"
    )
