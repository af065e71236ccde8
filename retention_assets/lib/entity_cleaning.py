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

from retention_assets.lib.errors import DataValidationError

MISSING_CATEGORY = "missing"
_TRUE = {"1", "1.0", "true", "t", "yes", "y", "churned"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "retained", "active"}


@dataclass
class EntityCleaningReport:
    duplicates_dropped: int = 0
    caps: dict[str, dict] = field(default_factory=dict)
    imputations: dict[str, dict] = field(default_factory=dict)
    type_fixes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "duplicates_dropped": self.duplicates_dropped,
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


def clean_entity(
    df: pd.DataFrame,
    key: str,
    *,
    duplicate_policy: Literal["error", "keep_first", "keep_last"] = "error",
    order_by: str | None = None,
    iqr_multiplier: float = 3.0,
    passthrough: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, EntityCleaningReport]:
    """Clean an entity table typed by the raw layer.

    Float columns are capped at the IQR fences and missing values filled with the median (plus a
    `<column>_was_missing` flag when anything was filled); text columns are trimmed and lower-cased,
    missing values become the category "missing"; timestamp columns and `passthrough` columns (the
    target, the label timestamp) are left as they are.
    """
    report = EntityCleaningReport()
    out, report.duplicates_dropped = deduplicate(df, key, duplicate_policy, order_by)
    out = out.copy()
    for column in out.columns:
        if column == key or column in passthrough:
            continue
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
            fences = iqr_fences(series, iqr_multiplier)
            if fences is not None:
                lower, upper = fences
                outside = (series < lower) | (series > upper)
                report.caps[column] = {"lower": lower, "upper": upper, "n_capped": int(outside.sum())}
                series = series.clip(lower, upper)
            missing = series.isna()
            if missing.any():
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
            if missing.any():
                report.imputations[column] = {
                    "strategy": "constant", "value": MISSING_CATEGORY, "n_filled": int(missing.sum())
                }
            out[column] = cleaned.mask(missing, MISSING_CATEGORY).astype(object)
    return out, report
