"""Model-ready rows: features joined with labels, with the point-in-time columns that prove safety.

Each row carries `feature_timestamp` (no feature saw data after it), `label_timestamp` (when its
label is observed) and `label_available`. Training rows are the cutoff snapshots whose label is
available and whose customer was eligible; scoring rows are the as-of snapshot.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from retention_assets.features.labels import ELIGIBLE, LABEL, LABEL_AVAILABLE, LABEL_TIMESTAMP
from retention_assets.features.silver import FEATURE_TIMESTAMP, join_one_to_one

ROW_ROLE = "row_role"
TRAIN, SCORE = "train", "score"
POINT_IN_TIME_COLUMNS = (FEATURE_TIMESTAMP, LABEL_TIMESTAMP, LABEL_AVAILABLE)
NON_FEATURE_COLUMNS = (*POINT_IN_TIME_COLUMNS, LABEL, ELIGIBLE, ROW_ROLE)


def build_gold(silver: pd.DataFrame, labels: pd.DataFrame, key: str, as_of: datetime) -> pd.DataFrame:
    """Join features with labels one-to-one and tag each row as a training or scoring row."""
    labels = labels[[key, FEATURE_TIMESTAMP, LABEL, LABEL_TIMESTAMP, LABEL_AVAILABLE, ELIGIBLE]]
    gold = join_one_to_one(silver, labels, [key, FEATURE_TIMESTAMP], "churn_labels")
    if gold[LABEL_TIMESTAMP].isna().any():
        missing = gold.loc[gold[LABEL_TIMESTAMP].isna(), [key, FEATURE_TIMESTAMP]].head(5).to_records(index=False)
        raise ValueError(f"churn_labels has no row for {missing.tolist()}")
    is_score = gold[FEATURE_TIMESTAMP] == pd.Timestamp(as_of)
    gold[ROW_ROLE] = is_score.map({True: SCORE, False: TRAIN})
    gold[LABEL_AVAILABLE] = gold[LABEL_AVAILABLE].astype(bool) & ~is_score
    gold[ELIGIBLE] = gold[ELIGIBLE].astype(bool)
    return gold


def training_rows(gold: pd.DataFrame) -> pd.DataFrame:
    mask = (gold[ROW_ROLE] == TRAIN) & gold[LABEL_AVAILABLE] & gold[ELIGIBLE] & gold[LABEL].notna()
    return gold[mask].reset_index(drop=True)


def scoring_rows(gold: pd.DataFrame) -> pd.DataFrame:
    return gold[gold[ROW_ROLE] == SCORE].reset_index(drop=True)


def feature_columns(gold: pd.DataFrame, key: str) -> list[str]:
    return [c for c in gold.columns if c != key and c not in NON_FEATURE_COLUMNS]


def hash_bucket(values: pd.Series, buckets: int) -> pd.Series:
    """A stable bucket label per value (same value, same bucket, across runs and machines)."""
    hashed = pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy() % buckets
    return pd.Series([f"bucket_{h}" for h in hashed], index=values.index).where(values.notna(), None)


def apply_gold_recommendations(gold: pd.DataFrame, recs, key: str) -> tuple[pd.DataFrame, list[str]]:
    """Apply accepted gold-layer entries: drop features, hash high-cardinality categoricals.

    One-hot entries need nothing here (the model pipeline one-hot encodes categoricals) but are
    reported as applied since they are in force. Entries for columns absent from gold are skipped.
    """
    out, applied = gold.copy(), []
    protected = {key, *NON_FEATURE_COLUMNS}
    for rec in recs:
        if rec.column not in out.columns or rec.column in protected:
            continue
        if rec.action == "drop_column":
            out = out.drop(columns=[rec.column])
        elif rec.action == "hash_encode":
            out[rec.column] = hash_bucket(out[rec.column], int(rec.params.get("buckets", 32)))
        elif rec.action != "one_hot":
            continue
        applied.append(rec.id)
    return out, sorted(applied)
