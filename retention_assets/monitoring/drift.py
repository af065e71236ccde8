"""Drift between the champion's training reference and the current scoring population.

PSI is computed on bins cut at the reference's quantiles with open outer bins, plus one bin for
missing values, so a single extreme value moves one bin share by 1/n instead of stretching every
equal-width bin until all the data sits in one of them. Numeric features also get the two-sample
Kolmogorov-Smirnov test; categoricals a chi-square test and the categories that appeared or vanished.
The retrain signal counts how much of the model's importance sits in drifted features, so drift in
a column the model does not use cannot trigger a retrain. The importance-weighted PSI is reported
too; in it a feature's PSI counts up to `cap` (default 1.0): beyond it the two distributions barely
overlap and the log term would let one saturated feature with a small importance share (a tenure
count that grows with the calendar) outweigh everything the model relies on.

Calendar-driven features (days since a customer's first event ever or since a fixed entity date such
as the signup) grow by one a day for every customer, so any later population "drifts" from the
training reference with no change at all. They are recognised by name (`calendar_features`) and either
compared with the reference aged by the elapsed time between each reference row's feature timestamp
and the current as-of time (`shift`, exact for pure tenure: what is left is real drift, e.g. a wave of
new customers) or reported as expected ageing that never counts (`flag`). `*_days_since_last` is not
calendar-driven: recency changes with behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

EPSILON = 1e-4  # floor for empty bin shares, so the log term stays finite
MISSING = "__missing__"
EXPECTED = "expected"  # the severity of a calendar feature reported as expected ageing (mode "flag")
DRIFTED = ("moderate", "significant")  # the severities that count towards the retrain signal
CalendarMode = Literal["shift", "flag"]
_FIRST_EVER = "_all_time_days_since_first"  # `<source>_all_time_days_since_first`: tenure in the source
_DAYS_SINCE = "days_since_"  # `days_since_<entity date column>`
_MOVING_DATE_WORDS = {"last", "latest", "recent", "updated", "modified", "next"}  # dates that move with behaviour


@dataclass(frozen=True)
class Bands:
    """PSI severity bands: below `moderate` none, below `significant` moderate, else significant."""

    moderate: float = 0.1
    significant: float = 0.2

    def severity(self, value: float) -> str:
        if not np.isfinite(value) or value < self.moderate:
            return "none"
        return "moderate" if value < self.significant else "significant"


def calendar_features(features: Iterable[str], date_columns: Collection[str] | None = None) -> list[str]:
    """The features that grow with the calendar, read from the naming rules (see features/meanings.py):
    `<source>_all_time_days_since_first` (days since the first event ever) and `days_since_<column>` of
    an entity date column (`date_columns` when known; any such name otherwise) unless the date itself
    moves with behaviour (`last_login_date`). A bounded window's `days_since_first` is capped by the
    window and does not age; `*_days_since_last` is recency, which behaviour changes."""
    found = []
    for feature in features:
        if feature.endswith(_FIRST_EVER):
            found.append(feature)
        elif feature.startswith(_DAYS_SINCE):
            column = feature[len(_DAYS_SINCE):]
            known = date_columns is None or column in date_columns
            if known and column and not set(column.lower().split("_")) & _MOVING_DATE_WORDS:
                found.append(feature)
    return found


def elapsed_days(reference_times: pd.Series | None, reference_as_of: str, current_as_of: str,
                 rows: int) -> np.ndarray:
    """Days from each reference row's feature timestamp to the current as-of time. References logged
    without their timestamps fall back to the version's trained-as-of time (an underestimate: training
    rows are older than it)."""
    now = _utc(current_as_of)
    if reference_times is not None and len(reference_times) == rows:
        times = pd.to_datetime(reference_times, utc=True)
        return ((now - times).dt.total_seconds() / 86400.0).to_numpy(dtype=float)
    return np.full(rows, (now - _utc(reference_as_of)).total_seconds() / 86400.0)


def _utc(value) -> pd.Timestamp:
    """A timestamp in UTC; a naive one is taken to be UTC already."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def aged(reference: pd.DataFrame, features: Iterable[str], days: np.ndarray | float) -> pd.DataFrame:
    """The reference as it would look `days` later if nobody changed: each calendar feature plus the
    elapsed days (missing stays missing)."""
    out = reference.copy()
    for feature in features:
        out[feature] = pd.to_numeric(out[feature], errors="raise").astype(float).to_numpy() + days
    return out


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    ref = np.clip(np.asarray(reference, dtype=float), EPSILON, None)
    cur = np.clip(np.asarray(current, dtype=float), EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def quantile_edges(reference: pd.Series, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's deciles (duplicates merged); outer bins stay open."""
    values = pd.to_numeric(reference, errors="raise").dropna().to_numpy(dtype=float)
    if len(values) == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def numeric_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """Shares of (-inf, e1], (e1, e2], ..., (ek, inf) and, last, of missing values."""
    numeric = pd.to_numeric(values, errors="raise").astype(float)
    present = numeric.dropna().to_numpy()
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, float(numeric.isna().sum()))
    return counts / max(len(numeric), 1)


def numeric_psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    edges = quantile_edges(reference, bins)
    return psi_from_shares(numeric_shares(reference, edges), numeric_shares(current, edges))


def _category_counts(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), MISSING).astype(str).value_counts()


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict:
    """PSI and chi-square p-value over the union of categories (missing is a category here)."""
    from scipy.stats import chi2_contingency

    ref, cur = _category_counts(reference), _category_counts(current)
    categories = sorted(set(ref.index) | set(cur.index))
    ref, cur = ref.reindex(categories, fill_value=0), cur.reindex(categories, fill_value=0)
    psi = psi_from_shares(ref / max(ref.sum(), 1), cur / max(cur.sum(), 1))
    table = np.vstack([ref.to_numpy(), cur.to_numpy()])
    table = table[:, table.sum(axis=0) > 0]
    p_value = float(chi2_contingency(table)[1]) if table.shape[1] > 1 else 1.0
    return {"psi": psi, "p_value": p_value,
            "new_categories": [c for c in categories if ref[c] == 0 and c != MISSING],
            "vanished_categories": [c for c in categories if cur[c] == 0 and c != MISSING]}


def numeric_drift(reference: pd.Series, current: pd.Series, bins: int = 10) -> dict:
    from scipy.stats import ks_2samp

    ref = pd.to_numeric(reference, errors="raise").astype(float)
    cur = pd.to_numeric(current, errors="raise").astype(float)
    if ref.notna().any() and cur.notna().any():
        ks = ks_2samp(ref.dropna().to_numpy(), cur.dropna().to_numpy())
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    else:
        statistic, p_value = float("nan"), float("nan")
    return {"psi": numeric_psi(ref, cur, bins), "ks_statistic": statistic, "p_value": p_value}


def importance_shares(importance: dict[str, float], features: list[str]) -> dict[str, float]:
    """Each feature's share of the positive importance (features absent or <= 0 weigh nothing)."""
    positive = {f: max(float(importance.get(f, 0.0)), 0.0) for f in features}
    total = sum(positive.values())
    return {f: (v / total if total > 0 else 0.0) for f, v in positive.items()}


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str],
                importance: dict[str, float], bands: Bands, bins: int = 10, cap: float = 1.0,
                calendar: Collection[str] = (), calendar_mode: CalendarMode = "shift",
                elapsed: np.ndarray | float = 0.0) -> pd.DataFrame:
    """One row per feature: PSI, test statistic and p-value, missing rates, category changes,
    importance share, importance-weighted PSI and severity; most weighted drift first.

    Calendar features (`calendar`, numeric) are compared with the reference aged by `elapsed` days in
    mode "shift", or keep their raw PSI with severity "expected" and no weight in mode "flag";
    `raw_psi` is always the comparison without ageing."""
    shares = importance_shares(importance, [*numeric, *categorical])
    calendar = [f for f in calendar if f in numeric]
    shifted = aged(reference, calendar, elapsed) if calendar and calendar_mode == "shift" else reference
    rows = []
    for feature in [*numeric, *categorical]:
        is_numeric, is_calendar = feature in numeric, feature in calendar
        stats = (numeric_drift(shifted[feature], current[feature], bins) if is_numeric
                 else categorical_drift(reference[feature], current[feature]))
        raw = numeric_psi(reference[feature], current[feature], bins) if is_calendar else stats["psi"]
        expected = is_calendar and calendar_mode == "flag"
        rows.append({
            "feature": feature, "kind": "numeric" if is_numeric else "categorical",
            "psi": stats["psi"], "test": "ks" if is_numeric else "chi2",
            "statistic": stats.get("ks_statistic", float("nan")), "p_value": stats["p_value"],
            "missing_reference": float(reference[feature].isna().mean()),
            "missing_current": float(current[feature].isna().mean()),
            "new_categories": stats.get("new_categories", []),
            "vanished_categories": stats.get("vanished_categories", []),
            "importance_share": shares[feature],
            "weighted_psi": 0.0 if expected else shares[feature] * min(stats["psi"], cap),
            "severity": EXPECTED if expected else bands.severity(stats["psi"]),
            "calendar": is_calendar, "raw_psi": raw,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["weighted_psi", "psi"], ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class DriftSignal:
    drifted_share: float  # share of the model's importance in features with at least moderate PSI
    weighted_psi: float
    score_psi: float
    fired: bool
    reason: str
    answered_by: str | None = None  # the model version trained on the drifted data, which answers it


def answered(trained_as_of: str | None, as_of: str | None) -> bool:
    """A model trained on data at or after the drift's as-of time has answered it: retraining again on
    the same data cannot remove the drift."""
    return bool(trained_as_of) and bool(as_of) and _utc(trained_as_of) >= _utc(as_of)


def drift_signal(table: pd.DataFrame, score_psi: float, bands: Bands, min_share: float = 0.10,
                 trained_on_current_data: bool = False, answered_by: str | None = None) -> DriftSignal:
    """Fire when at least `min_share` of the model's importance sits in features that drifted
    (PSI at or above the moderate band).

    Counting importance rather than averaging PSI keeps the rule readable ("a tenth of what the
    model relies on has moved") and immune to a single feature's unbounded PSI. The importance-
    weighted PSI and the predicted-score PSI are reported beside it; the score PSI does not fire on
    its own, since it also moves with who happens to be active. Drift against a model already
    trained on the current data (`answered_by` names that version) is reported but does not fire:
    retraining on the same data cannot remove it. Calendar features reported as expected ageing
    (severity "expected") never count.
    """
    drifted = table[table["severity"].isin(DRIFTED)] if len(table) else table
    share = float(drifted["importance_share"].sum()) if len(drifted) else 0.0
    weighted = float(table["weighted_psi"].sum()) if len(table) else 0.0
    details = (f"importance-weighted PSI {weighted:.3f}; predicted-score PSI {score_psi:.3f} "
               f"({bands.severity(score_psi)})")
    if share >= min_share:
        top = drifted.sort_values("importance_share", ascending=False).head(3)
        reason = (f"{share:.0%} of the model's importance is in drifted features (>= {min_share:.0%}; most: "
                  + ", ".join(f"{r.feature} PSI {r.psi:.2f}" for r in top.itertuples()) + f"); {details}")
        if answered_by is not None:
            return DriftSignal(share, weighted, score_psi, False,
                               f"answered by version {answered_by} (trained on this data): {reason}", answered_by)
        if trained_on_current_data:
            return DriftSignal(share, weighted, score_psi, False,
                               f"{reason}; not a retrain signal: the model was trained on this data")
        return DriftSignal(share, weighted, score_psi, True, reason)
    return DriftSignal(share, weighted, score_psi, False,
                       ("" if answered_by is None else f"answered by version {answered_by}; ") +
                       f"no significant drift: {share:.0%} of the model's importance is in drifted features "
                       f"(< {min_share:.0%}); {details}", answered_by)


def current_population(engine, gold_table: str, key: str, features: list[str], max_rows: int) -> pd.DataFrame:
    """The active scoring population's features: every eligible scoring row of gold, or a seeded sample of
    `max_rows` of them (chosen by the MD5 of the key, so every engine picks the same customers)."""
    from retention_assets.core.columns import ELIGIBLE, FEATURE_TIMESTAMP
    from retention_assets.features.gold import scoring_condition

    d = engine.dialect
    q = d.ident
    gold = engine.relation(gold_table)
    columns = ", ".join(q(c) for c in (key, FEATURE_TIMESTAMP, *features))
    where = f"{scoring_condition(d)} AND {q(ELIGIBLE)}"
    total = engine.scalar(f"SELECT count(*) FROM {gold} WHERE {where}")
    order = f"ORDER BY {q(key)}"
    if total > max_rows:
        order = f"ORDER BY {d.hash_bucket(q(key), 2**31 - 1)}, {q(key)} LIMIT {int(max_rows)}"
    return engine.frame(f"SELECT {columns} FROM {gold} WHERE {where} {order}")


def active_probabilities(engine, scores_table: str) -> pd.Series:
    """The predicted churn probability of every customer active at the as-of time."""
    from retention_assets.core.columns import ACTIVE, PROBABILITY

    q = engine.dialect.ident
    return engine.frame(f"SELECT {q(PROBABILITY)} FROM {engine.relation(scores_table)} WHERE {q(ACTIVE)}")[PROBABILITY]
