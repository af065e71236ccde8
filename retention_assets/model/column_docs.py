"""What the main tables' columns mean, for the catalog's column schema (churn_scores, retention_campaign,
gold_features' point-in-time columns). Unknown columns (the generated features) get no description."""

from __future__ import annotations

from retention_assets.core.columns import (
    ACTIVE,
    ELIGIBLE,
    FEATURE_TIMESTAMP,
    LABEL,
    LABEL_AVAILABLE,
    LABEL_TIMESTAMP,
    MODEL_VERSION,
    PROBABILITY,
    REASONS,
    RISK_TIER,
    ROW_ROLE,
    TOP_REASONS,
)
from retention_assets.model.reasons import REASON_FIELDS

COLUMN_DESCRIPTIONS = {
    FEATURE_TIMESTAMP: "The moment the row's features describe: no feature saw data after it (point in time).",
    LABEL: "1 if the customer churned within the label horizon after feature_timestamp, else 0.",
    LABEL_TIMESTAMP: "When the row's label is observed (feature_timestamp plus the label horizon).",
    LABEL_AVAILABLE: "Whether label_timestamp has passed at the run's as-of time (only then can it train).",
    ELIGIBLE: "Whether the customer belongs to the population the model is for at feature_timestamp.",
    ROW_ROLE: "train: a past cutoff's row the model learns from; score: the as-of row the model scores.",
    PROBABILITY: "The champion's calibrated churn probability (0-1) as of feature_timestamp.",
    RISK_TIER: "high, medium or low by model.risk_tier_bounds; inactive when not active at the as-of time.",
    ACTIVE: "Whether the customer was active at the as-of time (only active customers are explained).",
    MODEL_VERSION: "The registered MLflow version of the model that produced the score.",
    TOP_REASONS: "The top reasons for the score as one readable sentence per reason, joined.",
    REASONS: "The same reasons as a list of records: " + ", ".join(REASON_FIELDS) + " (risk_share: the "
             "reason's share of the risk above the reference; contribution: its SHAP value in log-odds).",
    "value_at_stake_usd": "The customer's value over business.value_months (null without a value column).",
    "expected_net_value_usd": "churn_probability x offer acceptance rate x value at stake - contact cost "
                              "(null without a value column).",
}


def describe_column(name: str) -> str | None:
    return COLUMN_DESCRIPTIONS.get(name)
