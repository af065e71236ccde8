"""Leakage probes run on the training rows before any model is fitted.

A feature that alone separates the labels almost perfectly was, in practice, computed from data
after the cutoff (or from the label itself): training on it gives a model that looks brilliant and
fails in production. Entity dates later than a row's feature timestamp are the same mistake made
visible by time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LeakageFinding:
    column: str
    evidence: str


def single_feature_auc_by_group(
    frame: pd.DataFrame, features: list[str], label: str, group: str, min_rows: int = 50
) -> pd.DataFrame:
    """The highest single-feature AUC over the pooled rows and each group (e.g. each cutoff).

    A column exported at one moment leaks most for the cutoff nearest that moment; pooling cutoffs
    would dilute it below the threshold.
    """
    results = [single_feature_auc(frame, features, label).assign(scope="all")]
    for value, rows in frame.groupby(group):
        if len(rows) >= min_rows and rows[label].nunique() == 2:
            results.append(single_feature_auc(rows, features, label).assign(scope=str(value)))
    combined = pd.concat(results, ignore_index=True)
    if combined.empty:
        return pd.DataFrame(columns=["feature", "auc", "scope"])
    best = combined.sort_values("auc", ascending=False, kind="mergesort").drop_duplicates("feature")
    return best.reset_index(drop=True)


def single_feature_auc(frame: pd.DataFrame, features: list[str], label: str, seed: int = 0) -> pd.DataFrame:
    """ROC AUC of each feature alone (direction-free: max(auc, 1 - auc)).

    Numeric features are ranked as they are (missing values as their own lowest rank); categorical
    ones through out-of-fold target means, so a high-cardinality column cannot memorise the labels.
    """
    from sklearn.metrics import roc_auc_score

    y = frame[label].astype(int).to_numpy()
    rows = []
    if len(np.unique(y)) < 2:
        return pd.DataFrame(columns=["feature", "auc"])
    folds = np.random.default_rng(seed).integers(0, 2, len(frame))
    for column in features:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            values = pd.to_numeric(series, errors="coerce").astype(float)
            if values.nunique(dropna=True) <= 1 and values.notna().all():
                continue
            score = values.fillna(values.min() - 1 if values.notna().any() else 0).to_numpy()
        else:
            keys = series.astype(object).where(series.notna(), "__missing__").astype(str).to_numpy()
            score = np.zeros(len(frame))
            for fold in (0, 1):
                fit = folds != fold
                means = pd.Series(y[fit]).groupby(keys[fit]).mean()
                score[folds == fold] = pd.Series(keys[folds == fold]).map(means).fillna(y[fit].mean()).to_numpy()
        auc = float(roc_auc_score(y, score))
        rows.append({"feature": column, "auc": max(auc, 1 - auc)})
    return pd.DataFrame(rows).sort_values("auc", ascending=False, ignore_index=True)


def too_predictive(aucs: pd.DataFrame, max_auc: float) -> list[LeakageFinding]:
    flagged = aucs[aucs["auc"] > max_auc]
    return [
        LeakageFinding(r.feature, f"alone reaches ROC AUC {r.auc:.3f} on the training labels"
                                  f"{'' if getattr(r, 'scope', 'all') == 'all' else f' at cutoff {r.scope}'} (limit {max_auc})")
        for r in flagged.itertuples()
    ]


def future_dates(frame: pd.DataFrame, days_since_columns: list[str]) -> list[LeakageFinding]:
    """Entity dates after their row's feature timestamp show up as negative 'days since' values."""
    findings = []
    for column in days_since_columns:
        late = frame[column] < 0
        if late.any():
            findings.append(LeakageFinding(
                column, f"{int(late.sum())} training row(s) carry a date after their feature_timestamp "
                f"(up to {-frame.loc[late, column].min():.1f} days later)",
            ))
    return findings
