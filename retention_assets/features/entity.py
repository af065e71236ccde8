"""Cleaning the entity table: duplicate policy, type fixes, outlier capping and imputation.

Every repair is counted and returned in a report so the asset can show exactly what changed.
Statistics (fences, medians, modes) are computed from the entity table itself; they describe
static attributes and never involve the label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from retention_assets.core.errors import DataValidationError

MISSING_CATEGORY = "missing"
_TRUE = {"1", "1.0", "true", "t", "yes", "y", "churned"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "retained", "active"}


@dataclass
class EntityCleaningReport:
    duplicates_dropped: int = 0
    caps: dict[str, dict] = field(default_factory=dict)
    imputations: dict[str, dict] = field(default_factory=dict)
    type_fixes: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # recommendation ids that changed something

    def to_dict(self) -> dict:
        return {
            "duplicates_dropped": self.duplicates_dropped,
            "dropped": self.dropped,
            "applied": self.applied,
            "caps": self.caps,
            "imputations": self.imputations,
            "type_fixes": self.type_fixes,
        }


def to_binary(values: pd.Series, source: str, column: str) -> pd.Series:
    """A 0/1 target from booleans, numbers or yes/no words; anything else is an error, not a guess."""
    text = values.astype("string").str.strip().str.lower()
    mapped = pd.Series(pd.NA, index=values.index, dtype="Int64")
    mapped[text.isin(_TRUE)] = 1
    mapped[text.isin(_FALSE)] = 0
    bad = text.notna() & mapped.isna()
    if bad.any():
        positions = np.flatnonzero(bad.to_numpy()) + 1
        raise DataValidationError(
            source, "the target must be 0/1, true/false or yes/no", column=column,
            rows=positions.tolist(), examples=values[bad].head(5).tolist(),
        )
    return mapped


def deduplicate(
    df: pd.DataFrame, key: str, policy: Literal["error", "keep_first", "keep_last"], order_by: str | None
) -> tuple[pd.DataFrame, int]:
    """One row per key: the first or last by `order_by` (stable), else by file order."""
    if policy == "error":
        return df, 0
    ordered = df.sort_values(order_by, kind="mergesort", na_position="first") if order_by else df
    kept = ordered.drop_duplicates(subset=[key], keep="first" if policy == "keep_first" else "last")
    kept = kept.sort_index()
    return kept.reset_index(drop=True), len(df) - len(kept)


def iqr_fences(values: pd.Series, multiplier: float) -> tuple[float, float] | None:
    present = values.dropna()
    if present.empty:
        return None
    q1, q3 = np.percentile(present.to_numpy(dtype=float), [25, 75])
    iqr = q3 - q1
    return float(q1 - multiplier * iqr), float(q3 + multiplier * iqr)


@dataclass
class CleaningPlan:
    """Exactly what bronze_entity does to each column, built from accepted recommendations."""

    drop: list[str] = field(default_factory=list)
    cap_iqr: dict[str, float] = field(default_factory=dict)  # column -> fence multiplier
    impute_median: list[str] = field(default_factory=list)
    impute_constant: dict[str, str] = field(default_factory=dict)  # column -> fill value
    sources: dict[str, str] = field(default_factory=dict)  # "<action>:<column>" -> recommendation id

    @classmethod
    def from_recommendations(cls, recs) -> "CleaningPlan":
        plan = cls()
        for rec in recs:
            if rec.action == "drop_column":
                plan.drop.append(rec.column)
            elif rec.action == "cap_iqr":
                plan.cap_iqr[rec.column] = float(rec.params.get("multiplier", 3.0))
            elif rec.action == "impute_median":
                plan.impute_median.append(rec.column)
            elif rec.action == "impute_constant":
                plan.impute_constant[rec.column] = str(rec.params.get("value", MISSING_CATEGORY))
            else:
                continue
            plan.sources[f"{rec.action}:{rec.column}"] = rec.id
        return plan

    @classmethod
    def default_for(cls, frame: pd.DataFrame, key: str, multiplier: float = 3.0) -> "CleaningPlan":
        """Cap and impute every numeric column, fill every text column (used without a registry)."""
        plan = cls()
        for column in frame.columns:
            if column == key or pd.api.types.is_datetime64_any_dtype(frame[column]):
                continue
            if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
                plan.cap_iqr[column] = multiplier
                plan.impute_median.append(column)
            else:
                plan.impute_constant[column] = MISSING_CATEGORY
        return plan


def clean_entity(
    df: pd.DataFrame,
    key: str,
    plan: CleaningPlan,
    *,
    duplicate_policy: Literal["error", "keep_first", "keep_last"] = "error",
    order_by: str | None = None,
    passthrough: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, EntityCleaningReport]:
    """Clean an entity table typed by the raw layer, doing exactly what `plan` says.

    Always (type fixes): text is trimmed and lower-cased. Per plan: dropped columns go; capped
    columns are clipped at their IQR fences; median-imputed columns are filled and get a
    `<column>_was_missing` flag; constant-imputed text columns get their fill value. Columns the plan
    does not mention keep their missing values (the model's own pipeline imputes them), and
    timestamp and `passthrough` columns are left as they are.
    """
    report = EntityCleaningReport()
    out, report.duplicates_dropped = deduplicate(df, key, duplicate_policy, order_by)
    dropped = [c for c in plan.drop if c in out.columns and c != key]
    out = out.drop(columns=dropped).copy()
    report.dropped = dropped
    for column in out.columns:
        if column == key or column in passthrough:
            continue
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
            fences = iqr_fences(series, plan.cap_iqr[column]) if column in plan.cap_iqr else None
            if fences is not None:
                lower, upper = fences
                outside = (series < lower) | (series > upper)
                report.caps[column] = {"lower": lower, "upper": upper, "n_capped": int(outside.sum())}
                series = series.clip(lower, upper)
            missing = series.isna()
            if column in plan.impute_median and missing.any():
                median = float(series.median()) if missing.sum() < len(series) else 0.0
                report.imputations[column] = {"strategy": "median", "value": median, "n_filled": int(missing.sum())}
                out[f"{column}_was_missing"] = missing.astype(float)
                series = series.fillna(median)
            out[column] = series
        else:
            text = series.astype("string")
            cleaned = text.str.strip().str.lower()
            changed = int((cleaned != text).fillna(False).sum())
            if changed:
                report.type_fixes[f"{column}: trimmed/lower-cased"] = changed
            missing = cleaned.isna() | (cleaned == "")
            if column in plan.impute_constant and missing.any():
                fill = plan.impute_constant[column]
                report.imputations[column] = {"strategy": "constant", "value": fill, "n_filled": int(missing.sum())}
                cleaned = cleaned.mask(missing, fill)
            else:
                cleaned = cleaned.mask(missing, pd.NA)
            out[column] = cleaned.astype(object).where(cleaned.notna(), None)
    # Every accepted entry whose column exists was in force, even where it had nothing to change.
    present = set(df.columns)
    report.applied = sorted(rec_id for k, rec_id in plan.sources.items() if k.split(":", 1)[1] in present)
    return out, report
