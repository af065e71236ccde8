"""Turning churn probabilities into a retention campaign worth running.

Contacting a customer costs `contact_cost`; a customer who would churn and accepts the offer
(probability `acceptance`) is kept and worth `value`. So contacting customer i is worth, in
expectation, p_i * acceptance * value_i - contact_cost. The threshold is chosen where the realised
net value on the out-of-sample validation rows peaks, not where F1 peaks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def customer_value(frame: pd.DataFrame, value_column: str | None, months: float, default: float) -> np.ndarray:
    """Value at stake per customer: a monthly value column times the months saved (default where missing)."""
    if value_column and value_column in frame:
        monthly = pd.to_numeric(frame[value_column], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isnan(monthly), default, monthly * months)
    return np.full(len(frame), float(default))


def net_value_curve(
    y_true: np.ndarray, proba: np.ndarray, value: np.ndarray, acceptance: float, cost: float, points: int = 101
) -> pd.DataFrame:
    """Realised net value of contacting everyone scored at or above each threshold."""
    y_true, proba, value = np.asarray(y_true), np.asarray(proba), np.asarray(value)
    gain = y_true * acceptance * value - cost  # what contacting each validation customer actually returned
    rows = []
    for threshold in np.linspace(0.0, 1.0, points):
        contacted = proba >= threshold
        rows.append({"threshold": float(threshold), "contacted": int(contacted.sum()),
                     "net_value": float(gain[contacted].sum())})
    return pd.DataFrame(rows)


def best_threshold(curve: pd.DataFrame) -> float:
    """The threshold with the highest net value (the highest such threshold on ties: fewer contacts)."""
    best = curve["net_value"].max()
    return float(curve.loc[curve["net_value"] == best, "threshold"].max())


def value_sql(dialect, column: str | None, available: bool, months: float, default: float) -> str:
    """SQL for `customer_value` of a row: the monthly value column times the months saved, default where missing."""
    if not (column and available):
        return f"CAST({float(default)!r} AS DOUBLE)"
    monthly = dialect.try_double(dialect.as_string(f"g.{dialect.ident(column)}"))
    return f"coalesce({monthly} * {float(months)!r}, {float(default)!r})"


def campaign_sql(dialect, *, scores: str, gold_scoring: str, key: str, value: str | None, acceptance: float, cost: float,
                 threshold: float) -> str:
    """Active customers at or above the threshold whose contact is worth more than it costs, best first.

    `scores` is the scores relation, `gold_scoring` gold's scoring rows (for the value column), `value`
    the SQL of a row's value at stake (`value_sql`, over alias `g`); None when there is no value column:
    then the active customers at or above the threshold, most likely churners first, without dollar figures.
    """
    from retention_assets.core.columns import ACTIVE, PROBABILITY, REASONS, RISK_TIER, TOP_REASONS

    q = dialect.ident
    why = f"s.{q(TOP_REASONS)}, s.{q(REASONS)}"  # why each customer is on the list
    if value is None:  # no value column: ranked by churn risk, no dollar figures
        return f"""
SELECT s.{q(key)}, s.{q(PROBABILITY)}, s.{q(RISK_TIER)}, CAST(NULL AS DOUBLE) AS value_at_stake_usd,
  CAST(NULL AS DOUBLE) AS expected_net_value_usd, {why}
FROM {scores} s
WHERE s.{q(ACTIVE)} AND s.{q(PROBABILITY)} >= {float(threshold)!r}
ORDER BY s.{q(PROBABILITY)} DESC, s.{q(key)}
"""
    net = f"(s.{q(PROBABILITY)} * {float(acceptance)!r} * {value} - {float(cost)!r})"
    return f"""
SELECT s.{q(key)}, s.{q(PROBABILITY)}, s.{q(RISK_TIER)}, {value} AS value_at_stake_usd, {net} AS expected_net_value_usd,
  {why}
FROM {scores} s JOIN {gold_scoring} g ON g.{q(key)} = s.{q(key)}
WHERE s.{q(ACTIVE)} AND s.{q(PROBABILITY)} >= {float(threshold)!r} AND {net} > 0
ORDER BY expected_net_value_usd DESC, s.{q(PROBABILITY)} DESC, s.{q(key)}
"""


def plan_campaign(engine, *, scores_table: str, gold_table: str, key: str, value_column: str | None, months: float,
                  default_value: float, acceptance: float, cost: float, threshold: float, target: str):
    """Write the campaign table (whom to contact, with the value at stake and the expected net value);
    returns it and the campaign's total expected net value (None without a value column: nothing is
    invented, the campaign ranks by churn risk)."""
    from retention_assets.features.gold import scoring_rows_sql

    d = engine.dialect
    gold = engine.relation(gold_table)
    available = value_column is not None and value_column in engine.column_types(gold)
    columns = [key, value_column] if available else [key]
    value = value_sql(d, value_column, available, months, default_value) if available else None
    sql = campaign_sql(d, scores=engine.relation(scores_table), gold_scoring=f"({scoring_rows_sql(d, gold, columns)})",
                       key=key, value=value, acceptance=acceptance, cost=cost, threshold=threshold)
    info = engine.write_table(target, sql)
    if value is None:
        return info, None
    total = engine.scalar(f"SELECT coalesce(sum(expected_net_value_usd), 0) FROM {engine.relation(target)}")
    return info, float(total)


NO_VALUE_COLUMN = "no value column: ranked by churn risk, no dollar figures"


def flagged_share(engine, scores_table: str, threshold: float) -> float:
    """The share of the active scored customers at or above a threshold."""
    from retention_assets.core.columns import ACTIVE, PROBABILITY

    q = engine.dialect.ident
    flagged, active = engine.rows(
        f"SELECT count(*) FILTER (WHERE {q(ACTIVE)} AND {q(PROBABILITY)} >= {float(threshold)!r}), "
        f"count(*) FILTER (WHERE {q(ACTIVE)}) FROM {engine.relation(scores_table)}")[0]
    return float(flagged) / float(active) if active else 0.0


def flag_warning(share: float, threshold: float, chosen_by: str, limit: float) -> str | None:
    """A threshold that flags nearly everyone is not a targeting decision: say so, with the share."""
    if share <= limit:
        return None
    return (f"threshold {threshold:.3f} ({chosen_by}) flags {share:.0%} of the active scored customers "
            f"(more than business.warn_flagged_share {limit:.0%}): it does not target; set model.threshold "
            "or a value column")


def threshold_source(threshold: float | None) -> str:
    return "best F1 on validation" if threshold is None else f"model.threshold={threshold} in the settings"
