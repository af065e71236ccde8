"""Applying a trained model to the scoring rows: a probability and a risk tier per customer."""

from __future__ import annotations

import pandas as pd

from retention_assets.features.labels import ELIGIBLE, FEATURE_TIMESTAMP
from retention_assets.model.training import TrainedModel, risk_tier


INACTIVE = "inactive"


def score_customers(model: TrainedModel, rows: pd.DataFrame, key: str, bounds: dict[str, float]) -> pd.DataFrame:
    """One row per customer: probability, tier, whether they were active at the as-of time.

    Customers who would not have been training rows at the as-of time (not yet signed up, or
    already inactive) still get a probability, but their tier is "inactive": the model was not
    trained on people like them and there is nobody left to retain.
    """
    proba = model.predict_proba(rows)
    active = rows[ELIGIBLE].to_numpy().astype(bool)
    tiers = risk_tier(proba, bounds.get("medium", 0.2), bounds.get("high", 0.5))
    scores = pd.DataFrame({
        key: rows[key].to_numpy(),
        FEATURE_TIMESTAMP: rows[FEATURE_TIMESTAMP].to_numpy(),
        "churn_probability": proba,
        "risk_tier": pd.Series(tiers).where(active, INACTIVE).to_numpy(),
        "predicted_churn": proba >= model.threshold,
        "active_at_as_of": active,
        "model_name": model.model_name,
    })
    return scores.sort_values("churn_probability", ascending=False, kind="mergesort").reset_index(drop=True)
