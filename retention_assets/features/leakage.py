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


SINGLE_FEATURE, STATIC_ADVANTAGE, SEPARATION, FUTURE_DATES, IDENTIFIER = (
    "single-feature AUC", "static advantage", "separation", "future dates", "identifier")
REASONS = (SINGLE_FEATURE, STATIC_ADVANTAGE, SEPARATION, FUTURE_DATES, IDENTIFIER)  # the order they are reported in


@dataclass(frozen=True)
class LeakageFinding:
    column: str  # the suspect column (for the tree: the columns it leans on, comma-joined)
    evidence: str
    reason: str = SINGLE_FEATURE
    columns: tuple[str, ...] = ()  # every suspect the finding names, when more than `column`

    @property
    def suspects(self) -> tuple[str, ...]:
        return self.columns or (self.column,)


def describe(findings: list[LeakageFinding]) -> str | None:
    """Every finding in one message, grouped by reason, so one excluded column never hides the next."""
    parts = []
    for reason in REASONS:
        found = [f for f in findings if f.reason == reason]
        if found:
            parts.append(f"[{reason}] " + "; ".join(f"{f.column}: {f.evidence}" for f in found))
    return " | ".join(parts) or None


def suspect_columns(findings: list[LeakageFinding]) -> list[str]:
    return list(dict.fromkeys(c for f in findings for c in f.suspects))


def single_feature_auc_per_scope(
    frame: pd.DataFrame, features: list[str], label: str, group: str, min_rows: int = 50
) -> pd.DataFrame:
    """Single-feature AUCs over the pooled rows (scope "all") and each group with both classes."""
    results = [single_feature_auc(frame, features, label).assign(scope="all")]
    for value, rows in frame.groupby(group):
        if len(rows) >= min_rows and rows[label].nunique() == 2:
            results.append(single_feature_auc(rows, features, label).assign(scope=str(value)))
    combined = pd.concat(results, ignore_index=True)
    return combined if not combined.empty else pd.DataFrame(columns=["feature", "auc", "scope"])


def static_advantage(per_scope: pd.DataFrame, static: list[str], time_safe: list[str],
                     max_advantage: float) -> list[LeakageFinding]:
    """Entity columns (known only as of the export) that predict the label far better than every
    time-safe (event-window) feature: single-feature AUC more than `max_advantage` above the best
    time-safe feature's in the same scope (pooled or one cutoff). Honest attributes (plan, region,
    tenure) rarely beat recent activity at predicting churn; a column exported after the cutoffs does,
    because it has seen the label window. Without time-safe features there is nothing to compare."""
    findings = []
    if per_scope.empty or not static or not time_safe:
        return findings
    worst: dict[str, tuple[float, float, str, str, float]] = {}
    for scope, rows in per_scope.groupby("scope", sort=False):
        safe = rows[rows["feature"].isin(time_safe)]
        if safe.empty:
            continue
        best = safe.loc[safe["auc"].idxmax()]
        for r in rows[rows["feature"].isin(static)].itertuples():
            gap = r.auc - best["auc"]
            if gap > max_advantage and gap > worst.get(r.feature, (-1.0,))[0]:
                worst[r.feature] = (gap, r.auc, best["feature"], str(scope), best["auc"])
    for column in [c for c in static if c in worst]:
        gap, auc, best_feature, scope, best_auc = worst[column]
        where = "" if scope == "all" else f" at cutoff {scope}"
        findings.append(LeakageFinding(column, (
            f"single-feature AUC {auc:.2f}; best event-window feature: {best_auc:.2f} ({best_feature}){where}: "
            f"{gap:.2f} better (limit model.max_static_advantage {max_advantage}), an entity attribute taken at "
            "export that has seen the label window"), STATIC_ADVANTAGE))
    return findings


def single_feature_auc_by_group(
    frame: pd.DataFrame, features: list[str], label: str, group: str, min_rows: int = 50
) -> pd.DataFrame:
    """The highest single-feature AUC over the pooled rows and each group (e.g. each cutoff).

    A column exported at one moment leaks most for the cutoff nearest that moment; pooling cutoffs
    would dilute it below the threshold.
    """
    return best_per_feature(single_feature_auc_per_scope(frame, features, label, group, min_rows))


def best_per_feature(combined: pd.DataFrame) -> pd.DataFrame:
    """Each feature's highest AUC over the scopes, best first."""
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
    share = pd.Series(tree.feature_importances_, index=features).sort_values(ascending=False, kind="mergesort")
    leaned = share[share >= 0.05].head(5)
    top = list(leaned.index) or [features[int(tree.tree_.feature[0])]]
    splits = ", ".join(f"{c} ({v:.0%})" for c, v in leaned.items())
    return [LeakageFinding(", ".join(top), f"a depth-3 tree on these columns separates the training labels with "
                                          f"out-of-fold ROC AUC {auc:.3f} (limit {max_auc}); it splits most on "
                                          f"{splits} of its gain", SEPARATION, tuple(top))]


def identifier_like(frame: pd.DataFrame, features: list[str], known_identifiers: list[str] = ()) -> list[LeakageFinding]:
    """Identifier columns that reached the features: typed so by the findings, or text codes that are
    (nearly) unique per row."""
    findings = []
    for column in features:
        series = frame[column]
        if column in known_identifiers:
            findings.append(LeakageFinding(column, "typed as an identifier by the findings", IDENTIFIER))
        elif not pd.api.types.is_numeric_dtype(series) and len(series.dropna()) >= 20:
            ratio = series.nunique(dropna=True) / len(series.dropna())
            if ratio > 0.9:
                findings.append(LeakageFinding(column, f"{ratio:.0%} of its values are distinct: an identifier, "
                                                       "not a feature", IDENTIFIER))
    return findings


def future_dates(negative: dict[str, tuple[int, float]]) -> list[LeakageFinding]:
    """Source timestamps after their row's feature timestamp show up as negative 'days since' values;
    `negative` maps such a column to (rows, most negative value), counted over every training row."""
    return [
        LeakageFinding(column, f"{rows} training row(s) carry a source timestamp after their feature_timestamp "
                               f"(up to {-lowest:.1f} days later)", FUTURE_DATES)
        for column, (rows, lowest) in negative.items()
    ]


@dataclass(frozen=True)
class LeakageReport:
    findings: list[LeakageFinding]
    top_aucs: pd.DataFrame  # the highest single-feature AUCs, for the check's metadata
    rows: int  # training rows the value-based probes looked at


def probe_gold(engine, table: str, key: str, identifiers: list[str], *, max_auc: float, max_separation: float,
               sample_rows: int, both_classes: bool, origins: dict[str, str] | None = None,
               entity_table: str | None = None, max_static_advantage: float = 1.0) -> LeakageReport:
    """Every leakage probe on a gold-shaped table's training rows, all of them every time.

    Negative "days since" values are counted over every training row in SQL; the value-based probes
    (single-feature AUC per cutoff and pooled, static entity columns against the event-window features,
    identifier-like text, the shallow tree) look at all training rows up to `sample_rows`, else at a
    seeded sample of that many. `origins` maps each feature to its source table (`silver.column_origins`):
    those from `entity_table` are static, the rest time-safe. The tree runs on the columns no other probe
    flagged, so an obvious leak cannot hide a subtler one behind it.
    """
    from retention_assets.core.columns import FEATURE_TIMESTAMP, LABEL
    from retention_assets.features.gold import feature_columns, negative_durations, training_sample

    features = feature_columns(engine.column_types(engine.relation(table)), key)
    # Every "days since" column measures back from the row's feature timestamp; a negative value means a
    # source timestamp after it.
    durations = [c for c in features if "days_since" in c]
    dated = future_dates(negative_durations(engine, table, durations))
    if not both_classes:
        return LeakageReport(dated, pd.DataFrame(columns=["feature", "auc", "scope"]), 0)
    train = training_sample(engine, table, None, sample_rows, key)
    per_scope = single_feature_auc_per_scope(train, features, LABEL, FEATURE_TIMESTAMP)
    aucs = best_per_feature(per_scope)
    findings = too_predictive(aucs, max_auc)
    if origins and entity_table:
        static = [c for c in features if origins.get(c) == entity_table]
        time_safe = [c for c in features if c in origins and origins[c] != entity_table]
        findings += static_advantage(per_scope, static, time_safe, max_static_advantage)
    findings += dated + identifier_like(train, features, identifiers)
    flagged = set(suspect_columns(findings))
    findings += near_perfect_separation(train, [c for c in features if c not in flagged], LABEL, max_separation)
    return LeakageReport(findings, aucs.head(10), len(train))


@dataclass(frozen=True)
class PlausibilityVerdict:
    passed: bool
    reason: str | None
    top_features: pd.DataFrame  # feature, importance, single-feature AUC on the validation rows


def plausible_model(roc_auc: float, importance: dict[str, float], validation: pd.DataFrame, label: str,
                    max_auc: float, top: int = 5) -> PlausibilityVerdict:
    """Churn is never that predictable from honest features: a validation ROC AUC above `max_auc` means
    a leak that slipped past the probes (each column under its limit), so the model is not promoted.
    The verdict names the model's top features (by its importances) with their single-feature AUCs on
    the validation rows, where to look first."""
    names = [f for f in importance if f in validation.columns][:top]
    aucs = single_feature_auc(validation, names, label).set_index("feature")["auc"] if names else pd.Series()
    table = pd.DataFrame({"feature": names, "importance": [importance[f] for f in names],
                          "single_feature_auc": [float(aucs.get(f, float("nan"))) for f in names]})
    if roc_auc <= max_auc:
        return PlausibilityVerdict(True, None, table)
    listed = ", ".join(f"{r.feature} (single-feature AUC {r.single_feature_auc:.3f})" for r in table.itertuples())
    return PlausibilityVerdict(False, (
        f"validation ROC AUC {roc_auc:.4f} is above model.max_plausible_auc {max_auc}: churn is not that "
        f"predictable from honest features, so a column most likely carries the future. Top features: {listed}. "
        "Exclude the export-time ones (entity.exclude_columns) and run again"), table)
