"""The churn label of every (customer, snapshot), kept apart from the features.

For a cutoff c and horizon h the label is observed in (c, c + h]; `label_timestamp` is c + h and
`label_available` says whether that moment lies at or before the run's as-of time. The scoring
snapshot (the as-of time itself) has no label yet. Labels read events after a cutoff by definition,
which is why nothing in this module is ever joined into a feature.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from retention_assets.engine.dialect import Dialect

LABEL = "churned"
LABEL_TIMESTAMP = "label_timestamp"
LABEL_AVAILABLE = "label_available"
ELIGIBLE = "eligible"
FEATURE_TIMESTAMP = "feature_timestamp"


def inactivity_labels_sql(
    dialect: Dialect,
    activity: list[tuple[str, str, str]],
    spine: str,
    key: str,
    horizon_hours: int,
    active_within_hours: int | None,
    signup: str | None,
) -> str:
    """Label SQL for the inactivity definition.

    `activity` lists (relation, key column, timestamp column) of the sources that count as activity;
    `spine` is a relation of (key, feature_timestamp[, signup]) rows. churned = no activity in
    (t, t + horizon]; eligible = signed up at or before t and (if configured) active in the
    `active_within` hours up to t.
    """
    q = dialect.ident
    union = "\nUNION ALL\n".join(
        f"SELECT {dialect.as_string(q(k))} AS k, {q(ts)} AS ts FROM {rel}" for rel, k, ts in activity
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
ORDER BY s.{q(FEATURE_TIMESTAMP)}, s.{q(key)}
"""


def finalize_labels(
    labels: pd.DataFrame, as_of: datetime, horizon: timedelta
) -> pd.DataFrame:
    """Add label timestamps and availability; blank the label wherever it is not yet observed."""
    out = labels.copy()
    out[LABEL_TIMESTAMP] = out[FEATURE_TIMESTAMP] + horizon
    out[LABEL_AVAILABLE] = out[LABEL_TIMESTAMP] <= pd.Timestamp(as_of)
    out[LABEL] = out[LABEL].astype("Int64").where(out[LABEL_AVAILABLE], pd.NA)
    out[ELIGIBLE] = out[ELIGIBLE].astype(bool)
    return out


def target_column_labels(
    entity: pd.DataFrame,
    key: str,
    target: pd.Series,
    label_ts: pd.Series | None,
    snapshots: list[datetime],
    as_of: datetime,
    horizon: timedelta,
    signup: pd.Series | None = None,
) -> pd.DataFrame:
    """Labels from an explicit target column.

    With a label timestamp: at cutoff t a customer already churned at or before t is not eligible;
    one who churns in (t, t + horizon] is positive; later churn or none is negative. Without one, the
    target is taken as observed at the as-of time and applies to every cutoff. Customers who signed
    up after a cutoff (when `signup` is given) are not eligible at it.
    """
    frames = []
    as_of_ts = pd.Timestamp(as_of)
    label_ts_dtype = "datetime64[ns, UTC]"
    for snapshot in snapshots:
        t = pd.Timestamp(snapshot)
        frame = pd.DataFrame({key: entity[key].to_numpy(), FEATURE_TIMESTAMP: t})
        if label_ts is not None:
            churned_at = pd.Series(pd.to_datetime(label_ts, utc=True).to_numpy(), dtype=label_ts_dtype)
            positive = (pd.Series(target.to_numpy()).fillna(0).astype(int) == 1) & churned_at.notna()
            before = positive & (churned_at <= t)
            within = positive & (churned_at > t) & (churned_at <= t + horizon)
            frame[LABEL] = pd.array(within.astype(int).to_numpy(), dtype="Int64")
            frame[ELIGIBLE] = ~before.to_numpy()
            frame[LABEL_TIMESTAMP] = t + horizon
        else:
            frame[LABEL] = target.to_numpy()
            frame[ELIGIBLE] = True
            frame[LABEL_TIMESTAMP] = as_of_ts if t < as_of_ts else t + horizon
        if signup is not None:
            started = pd.Series(pd.to_datetime(signup, utc=True).to_numpy(), dtype=label_ts_dtype)
            frame[ELIGIBLE] = frame[ELIGIBLE].to_numpy() & ~(started > t).to_numpy()
        frame[LABEL_AVAILABLE] = (frame[LABEL_TIMESTAMP] <= as_of_ts) & (t < as_of_ts)
        frame[LABEL] = frame[LABEL].astype("Int64").where(frame[LABEL_AVAILABLE], pd.NA)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
