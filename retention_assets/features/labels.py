"""The churn label of every (customer, snapshot), kept apart from the features: one definition, in SQL.

For a cutoff c and horizon h the label is observed in (c, c + h]; `label_timestamp` is c + h and
`label_available` says whether that moment lies at or before the run's as-of time. The scoring
snapshot (the as-of time itself) has no label yet. Labels read events after a cutoff by definition,
which is why nothing in this module is ever joined into a feature.

`labels_sql` is the only label definition: the `churn_labels` asset writes it, and monitoring asks
it for the labels of matured scoring cohorts, so training and judging use the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from retention_assets.core.columns import ELIGIBLE, FEATURE_TIMESTAMP, LABEL, LABEL_AVAILABLE, LABEL_TIMESTAMP
from retention_assets.engine.base import Engine, TableInfo
from retention_assets.engine.dialect import Dialect
from retention_assets.features.event_windows import snapshot_spine_sql


@dataclass(frozen=True)
class ActivitySource:
    """An event relation whose events count as activity for the inactivity label."""

    relation: str
    key: str
    timestamp: str


@dataclass(frozen=True)
class LabelDefinition:
    """How churn is decided (from the settings and the run plan's chosen target)."""

    kind: Literal["inactivity", "target_column"]
    key: str
    horizon: timedelta
    active_within: timedelta | None = None
    signup_column: str | None = None
    target_column: str | None = None
    label_timestamp_column: str | None = None
    duplicate_policy: Literal["error", "keep_first", "keep_last"] = "error"
    order_by: str | None = None
    min_class_rows: int = 10  # target_column: fewer rows of either class fail before training
    valid_from_column: str | None = None  # a time-versioned entity table (entity.valid_from_column)

    @property
    def horizon_hours(self) -> int:
        return int(self.horizon.total_seconds() // 3600)


def inactivity_labels_sql(
    dialect: Dialect,
    activity: Sequence[ActivitySource],
    spine: str,
    key: str,
    horizon_hours: int,
    active_within_hours: int | None,
    signup: str | None,
) -> str:
    """Raw label SQL for the inactivity definition: (key, feature_timestamp, churned, eligible).

    `spine` is a relation of (key, feature_timestamp[, signup]) rows. churned = no activity in
    (t, t + horizon]; eligible = signed up at or before t and (if configured) active in the
    `active_within` hours up to t.
    """
    q = dialect.ident
    union = "\nUNION ALL\n".join(
        f"SELECT {dialect.as_string(q(a.key))} AS k, {q(a.timestamp)} AS ts FROM {a.relation}" for a in activity
    )
    window_hi = dialect.plus_hours("sn.t", horizon_hours)
    # Only events in (t - active_within, t + horizon] can matter to either column.
    join_lo = "" if active_within_hours is None else f" AND act.ts > {dialect.minus_hours('sn.t', active_within_hours)}"
    signed_up = f"(s.{q(signup)} IS NULL OR s.{q(signup)} <= s.{q(FEATURE_TIMESTAMP)})" if signup else "TRUE"
    active = "TRUE" if active_within_hours is None else "coalesce(agg.before_n, 0) > 0"
    return f"""
WITH act AS ({union}),
sn AS (SELECT DISTINCT {q(FEATURE_TIMESTAMP)} AS t FROM {spine}),
a AS (
  SELECT act.k, sn.t, act.ts FROM act JOIN sn ON act.ts <= {window_hi}{join_lo}
),
agg AS (
  SELECT a.k, a.t,
    count(*) FILTER (WHERE a.ts > a.t) AS after_n,
    count(*) FILTER (WHERE a.ts <= a.t) AS before_n
  FROM a GROUP BY a.k, a.t
)
SELECT s.{q(key)}, s.{q(FEATURE_TIMESTAMP)},
  coalesce(agg.after_n, 0) = 0 AS {q(LABEL)},
  ({signed_up} AND {active}) AS {q(ELIGIBLE)}
FROM {spine} s
LEFT JOIN agg ON agg.k = s.{q(key)} AND agg.t = s.{q(FEATURE_TIMESTAMP)}
"""


def finalize_labels_sql(dialect: Dialect, raw: str, key: str, as_of: datetime, horizon_hours: int) -> str:
    """Add the label timestamp and availability to raw (key, feature_timestamp, churned, eligible) rows;
    blank the label wherever it is not yet observed. Ordered by (feature_timestamp, key)."""
    q = dialect.ident
    label_ts = dialect.plus_hours(f"r.{q(FEATURE_TIMESTAMP)}", horizon_hours)
    available = f"({label_ts} <= {dialect.timestamp(as_of)})"
    return f"""
SELECT r.{q(key)}, r.{q(FEATURE_TIMESTAMP)},
  CASE WHEN {available} THEN CAST(r.{q(LABEL)} AS INTEGER) END AS {q(LABEL)},
  CAST(r.{q(ELIGIBLE)} AS BOOLEAN) AS {q(ELIGIBLE)},
  {label_ts} AS {q(LABEL_TIMESTAMP)},
  {available} AS {q(LABEL_AVAILABLE)}
FROM ({raw}) r
ORDER BY r.{q(FEATURE_TIMESTAMP)}, r.{q(key)}
"""


def target_column_labels_sql(dialect: Dialect, entity: str, definition: LabelDefinition,
                             snapshots: Sequence[datetime], as_of: datetime) -> str:
    """Labels from an explicit target column of the (de-duplicated) entity relation.

    With a label timestamp: at cutoff t a customer already churned at or before t is not eligible;
    one who churns in (t, t + horizon] is positive; later churn or none is negative. Without one, the
    target is taken as observed at the as-of time and applies to every cutoff. Customers who signed
    up after a cutoff (when a signup column is given) are not eligible at it.
    """
    from retention_assets.features.entity import binary_target_sql

    q = dialect.ident
    t = f"sn.{q(FEATURE_TIMESTAMP)}"
    h = definition.horizon_hours
    target = binary_target_sql(dialect, f"e.{q(definition.target_column)}")
    as_of_literal = dialect.timestamp(as_of)
    if definition.label_timestamp_column:
        churned_at = f"e.{q(definition.label_timestamp_column)}"
        positive = f"(coalesce({target}, 0) = 1 AND {churned_at} IS NOT NULL)"
        label = f"CAST(({positive} AND {churned_at} > {t} AND {churned_at} <= {dialect.plus_hours(t, h)}) AS INTEGER)"
        eligible = f"NOT ({positive} AND {churned_at} <= {t})"
        label_ts = dialect.plus_hours(t, h)
    else:
        label = target
        eligible = "TRUE"
        label_ts = f"CASE WHEN {t} < {as_of_literal} THEN {as_of_literal} ELSE {dialect.plus_hours(t, h)} END"
    if definition.signup_column:
        eligible = f"({eligible}) AND NOT coalesce(e.{q(definition.signup_column)} > {t}, FALSE)"
    return f"""
SELECT {q(definition.key)}, {q(FEATURE_TIMESTAMP)},
  CASE WHEN __available THEN __label END AS {q(LABEL)},
  {q(ELIGIBLE)}, {q(LABEL_TIMESTAMP)}, __available AS {q(LABEL_AVAILABLE)}
FROM (
  SELECT e.{q(definition.key)} AS {q(definition.key)}, {t} AS {q(FEATURE_TIMESTAMP)}, {label} AS __label,
    CAST({eligible} AS BOOLEAN) AS {q(ELIGIBLE)}, {label_ts} AS {q(LABEL_TIMESTAMP)},
    ({label_ts} <= {as_of_literal} AND {t} < {as_of_literal}) AS __available
  FROM {entity} e CROSS JOIN {dialect.snapshot_values(FEATURE_TIMESTAMP, list(snapshots))} sn
) l
ORDER BY {q(FEATURE_TIMESTAMP)}, {q(definition.key)}
"""


def versioned_target_labels_sql(dialect: Dialect, entity: str, definition: LabelDefinition,
                                snapshots: Sequence[datetime], as_of: datetime) -> str:
    """Labels from the target column of a time-versioned entity table, read from the versions valid by then.

    At snapshot t a customer's row is the version valid at t (`versioned_rows_sql`); customers with no
    version valid yet have no label row, as they have no silver row. The label is the target of the
    version valid at t + horizon (what is known when the label window closes, never a later version),
    so it is observed at t + horizon and available once that is at or before the as-of time; a customer
    whose version at t already says churned is not eligible (they left before the cutoff). With a
    `label_timestamp_column` the rules of `target_column_labels_sql` apply to the version at t + horizon.
    """
    from retention_assets.features.entity import binary_target_sql, versioned_rows_sql

    q = dialect.ident
    key, ft, h = q(definition.key), q(FEATURE_TIMESTAMP), definition.horizon_hours
    now = versioned_rows_sql(dialect, entity, definition.key, definition.valid_from_column, snapshots)
    later = versioned_rows_sql(dialect, entity, definition.key, definition.valid_from_column, snapshots, h)
    t = f"n.{ft}"
    target_now = binary_target_sql(dialect, f"n.{q(definition.target_column)}")
    target = binary_target_sql(dialect, f"e.{q(definition.target_column)}")
    eligible = f"NOT coalesce({target_now} = 1, FALSE)"
    if definition.label_timestamp_column:
        churned_at = f"e.{q(definition.label_timestamp_column)}"
        positive = f"(coalesce({target}, 0) = 1 AND {churned_at} IS NOT NULL)"
        label = f"CAST(({positive} AND {churned_at} > {t} AND {churned_at} <= {dialect.plus_hours(t, h)}) AS INTEGER)"
        eligible = f"{eligible} AND NOT ({positive} AND {churned_at} <= {t})"
    else:
        label = target
    if definition.signup_column:
        eligible = f"({eligible}) AND NOT coalesce(n.{q(definition.signup_column)} > {t}, FALSE)"
    label_ts = dialect.plus_hours(t, h)
    as_of_literal = dialect.timestamp(as_of)
    return f"""
SELECT {key}, {ft},
  CASE WHEN __available THEN __label END AS {q(LABEL)},
  {q(ELIGIBLE)}, {q(LABEL_TIMESTAMP)}, __available AS {q(LABEL_AVAILABLE)}
FROM (
  SELECT n.{key} AS {key}, {t} AS {ft}, {label} AS __label,
    CAST({eligible} AS BOOLEAN) AS {q(ELIGIBLE)}, {label_ts} AS {q(LABEL_TIMESTAMP)},
    ({label_ts} <= {as_of_literal} AND {t} < {as_of_literal}) AS __available
  FROM {now} n JOIN {later} e ON e.{key} = n.{key} AND e.{ft} = n.{ft}
) l
ORDER BY {ft}, {key}
"""


def labels_sql(engine: Engine, definition: LabelDefinition, *, entity: str, activity: Sequence[ActivitySource],
               snapshots: Sequence[datetime], as_of: datetime) -> str:
    """The label of every entity key at every snapshot, as one query (the project's only label rule).

    Columns: key, feature_timestamp, churned (1/0, null where not observed), eligible,
    label_timestamp, label_available; ordered by (feature_timestamp, key).
    """
    d = engine.dialect
    q = d.ident
    if definition.kind == "target_column":
        from retention_assets.features.entity import deduplicated_sql

        if definition.valid_from_column:
            return versioned_target_labels_sql(d, entity, definition, snapshots, as_of)
        deduplicated = deduplicated_sql(d, entity, definition.key, definition.duplicate_policy, definition.order_by)
        return target_column_labels_sql(d, deduplicated, definition, snapshots, as_of)
    spine = snapshot_spine_sql(d, entity, definition.key, list(snapshots))
    if definition.signup_column:
        signup = q(definition.signup_column)
        spine = (f"(SELECT s.{q(definition.key)}, s.{q(FEATURE_TIMESTAMP)}, min(k.{signup}) AS {signup} "
                 f"FROM {spine} s JOIN {entity} k ON {d.as_string(f'k.{q(definition.key)}')} = s.{q(definition.key)} "
                 f"GROUP BY s.{q(definition.key)}, s.{q(FEATURE_TIMESTAMP)})")
    active_hours = None if definition.active_within is None else int(definition.active_within.total_seconds() // 3600)
    raw = inactivity_labels_sql(d, activity, spine, definition.key, definition.horizon_hours, active_hours,
                                definition.signup_column)
    return finalize_labels_sql(d, raw, definition.key, as_of, definition.horizon_hours)


def write_labels(engine: Engine, definition: LabelDefinition, *, entity: str, activity: Sequence[ActivitySource],
                 snapshots: Sequence[datetime], as_of: datetime, target: str, source_path: str) -> TableInfo:
    """Validate the target column (when the label comes from one), then write the labels table."""
    if definition.kind == "target_column":
        from retention_assets.features.entity import check_binary_target, check_target_classes, deduplicated_sql

        deduplicated = deduplicated_sql(engine.dialect, entity, definition.key, definition.duplicate_policy,
                                        definition.order_by)
        check_binary_target(engine, deduplicated, definition.target_column, source_path)
        check_target_classes(engine, deduplicated, definition.target_column, source_path, definition.min_class_rows)
    return engine.write_table(target, labels_sql(engine, definition, entity=entity, activity=activity,
                                                 snapshots=snapshots, as_of=as_of))


def label_rates_sql(dialect: Dialect, labels: str) -> str:
    """Training-eligible rows and churn rate per cutoff, for the asset's metadata."""
    q = dialect.ident
    return (f"SELECT {dialect.as_string(q(FEATURE_TIMESTAMP))} AS cutoff, count(*) AS n, avg({q(LABEL)}) AS rate "
            f"FROM {labels} WHERE {q(LABEL_AVAILABLE)} AND {q(ELIGIBLE)} GROUP BY 1 ORDER BY 1")


def label_definition(settings, plan) -> LabelDefinition:
    """The label rule of a run: the settings' label, with a target a person chose in the findings winning.

    `settings` is `retention_assets.settings.Settings`, `plan` a `RunPlan`.
    """
    entity, label = settings.entity, settings.label
    target = plan.target(entity.name, label.target_column if label.kind == "target_column" else None)
    return LabelDefinition(
        kind="target_column" if target else "inactivity",
        key=entity.entity_key,
        horizon=timedelta(days=label.horizon_days),
        active_within=timedelta(days=label.active_within_days) if label.active_within_days else None,
        signup_column=entity.signup_column,
        target_column=target,
        label_timestamp_column=label.label_timestamp_column if target else None,
        duplicate_policy=entity.duplicate_keys,
        order_by=entity.order_by,
        min_class_rows=label.min_class_rows,
        valid_from_column=entity.valid_from_column,
    )


def activity_sources(engine: Engine, settings) -> list[ActivitySource]:
    """The raw event tables whose events count as activity."""
    from retention_assets.core.names import raw_name

    return [ActivitySource(engine.relation(raw_name(name)), settings.events[name].entity_key,
                           settings.events[name].timestamp_column) for name in settings.activity_sources]


def labels_at(engine: Engine, settings, plan, snapshots: Sequence[datetime], as_of: datetime):
    """The labels of the given snapshots as pandas (key, feature_timestamp, churned, ...): the training
    rule applied to other moments, e.g. the as-of times of matured scoring cohorts."""
    from retention_assets.core.names import raw_name

    definition = label_definition(settings, plan)
    return engine.frame(labels_sql(engine, definition, entity=engine.relation(raw_name(settings.entity.name)),
                                   activity=activity_sources(engine, settings), snapshots=snapshots, as_of=as_of))
