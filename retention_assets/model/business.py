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


def expected_net_value(proba: np.ndarray, value: np.ndarray, acceptance: float, cost: float) -> np.ndarray:
    return np.asarray(proba) * acceptance * np.asarray(value) - cost


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


def plan_campaign(
    scores: pd.DataFrame, key: str, value: np.ndarray, acceptance: float, cost: float, threshold: float
) -> pd.DataFrame:
    """Active customers at or above the threshold whose contact is worth more than it costs, best first."""
    out = scores[[key, "churn_probability", "risk_tier", "active_at_as_of"]].copy()
    out["value_at_stake_usd"] = value
    out["expected_net_value_usd"] = expected_net_value(out["churn_probability"].to_numpy(), value, acceptance, cost)
    chosen = out["active_at_as_of"] & (out["churn_probability"] >= threshold) & (out["expected_net_value_usd"] > 0)
    campaign = out[chosen].sort_values("expected_net_value_usd", ascending=False, kind="mergesort")
    return campaign.drop(columns=["active_at_as_of"]).reset_index(drop=True)
