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


def near_perfect_separation(
    frame: pd.DataFrame, features: list[str], label: str, max_auc: float, seed: int = 0
) -> list[LeakageFinding]:
    """A shallow tree that separates the classes almost perfectly out of fold means a leak that may
    hide in a combination of columns; the finding names the columns the tree splits on first."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    y = frame[label].astype(int).to_numpy()
    if len(np.unique(y)) < 2 or np.bincount(y).min() < 3 or not features:
        return []
    x = pd.DataFrame({
        c: (pd.to_numeric(frame[c], errors="coerce") if pd.api.types.is_numeric_dtype(frame[c])
            else frame[c].astype("category").cat.codes).astype(float)
        for c in features
    })
    x = x.fillna(x.median()).fillna(0.0)
    proba = np.zeros(len(y))
    for train, test in StratifiedKFold(3, shuffle=True, random_state=seed).split(x, y):
        tree = DecisionTreeClassifier(max_depth=3, random_state=seed).fit(x.iloc[train], y[train])
        proba[test] = tree.predict_proba(x.iloc[test])[:, 1]
    auc = float(roc_auc_score(y, proba))
    if auc <= max_auc:
        return []
    tree = DecisionTreeClassifier(max_depth=3, random_state=seed).fit(x, y)
    split_features = [features[i] for i in tree.tree_.feature if i >= 0]
    top = list(dict.fromkeys(split_features))[:3]
    return [LeakageFinding(", ".join(top), f"a depth-3 tree on these columns separates the training labels with "
                                          f"out-of-fold ROC AUC {auc:.3f} (limit {max_auc})")]


def identifier_like(frame: pd.DataFrame, features: list[str], known_identifiers: list[str] = ()) -> list[LeakageFinding]:
    """Identifier columns that reached the features: typed so by the findings, or text codes that are
    (nearly) unique per row."""
    findings = []
    for column in features:
        series = frame[column]
        if column in known_identifiers:
            findings.append(LeakageFinding(column, "typed as an identifier by the findings"))
        elif not pd.api.types.is_numeric_dtype(series) and len(series.dropna()) >= 20:
            ratio = series.nunique(dropna=True) / len(series.dropna())
            if ratio > 0.9:
                findings.append(LeakageFinding(column, f"{ratio:.0%} of its values are distinct: an identifier, "
                                                       "not a feature"))
    return findings


def future_dates(negative: dict[str, tuple[int, float]]) -> list[LeakageFinding]:
    """Source timestamps after their row's feature timestamp show up as negative 'days since' values;
    `negative` maps such a column to (rows, most negative value), counted over every training row."""
    return [
        LeakageFinding(column, f"{rows} training row(s) carry a source timestamp after their feature_timestamp "
                               f"(up to {-lowest:.1f} days later)")
        for column, (rows, lowest) in negative.items()
    ]


@dataclass(frozen=True)
class LeakageReport:
    findings: list[LeakageFinding]
    top_aucs: pd.DataFrame  # the highest single-feature AUCs, for the check's metadata
    rows: int  # training rows the value-based probes looked at


def probe_gold(engine, table: str, key: str, identifiers: list[str], *, max_auc: float, max_separation: float,
               sample_rows: int, both_classes: bool) -> LeakageReport:
    """Every leakage probe on a gold-shaped table's training rows.

    Negative "days since" values are counted over every training row in SQL; the value-based probes
    (single-feature AUC per cutoff and pooled, identifier-like text, the shallow tree) look at all
    training rows up to `sample_rows`, else at a seeded sample of that many.
    """
    from retention_assets.core.columns import FEATURE_TIMESTAMP, LABEL
    from retention_assets.features.gold import feature_columns, negative_durations, training_sample

    features = feature_columns(engine.column_types(engine.relation(table)), key)
    # Every "days since" column measures back from the row's feature timestamp; a negative value means a
    # source timestamp after it.
    durations = [c for c in features if "days_since" in c]
    findings = future_dates(negative_durations(engine, table, durations))
    train = training_sample(engine, table, None, sample_rows, key) if both_classes else pd.DataFrame()
    aucs = (single_feature_auc_by_group(train, features, LABEL, FEATURE_TIMESTAMP) if both_classes
            else pd.DataFrame(columns=["feature", "auc", "scope"]))
    findings = too_predictive(aucs, max_auc) + findings
    if both_classes:
        findings += identifier_like(train, features, identifiers)
    if not findings and both_classes:
        findings = near_perfect_separation(train, features, LABEL, max_separation)
    return LeakageReport(findings, aucs.head(10), len(train))
