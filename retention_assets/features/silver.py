"""Joining the cleaned entity table with every window's features: one row per customer and snapshot.

Joins are validated one-to-one; a join that would fan out (duplicate keys on either side) is an
error naming the table and a few keys, never a silently larger table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

FEATURE_TIMESTAMP = "feature_timestamp"


class FanOutError(ValueError):
    """A join that would produce more than one row per customer and snapshot."""


def _duplicates(frame: pd.DataFrame, keys: list[str]) -> list:
    dup = frame[frame.duplicated(keys, keep=False)]
    return dup[keys].drop_duplicates().head(5).to_records(index=False).tolist()


def join_one_to_one(left: pd.DataFrame, right: pd.DataFrame, keys: list[str], right_name: str) -> pd.DataFrame:
    """Left join that refuses to change the number of rows."""
    for frame, name in ((left, "the left side"), (right, right_name)):
        dups = _duplicates(frame, keys)
        if dups:
            raise FanOutError(f"joining {right_name} on {keys} would fan out: {name} repeats keys {dups}")
    overlap = (set(left.columns) & set(right.columns)) - set(keys)
    if overlap:
        raise FanOutError(f"{right_name} repeats columns {sorted(overlap)} already in the joined table")
    return left.merge(right, on=keys, how="left", validate="one_to_one")


def days_since(dates: pd.Series, as_of: pd.Series) -> pd.Series:
    """Fractional days from each date to its row's feature timestamp (negative if the date is later)."""
    return (as_of - dates).dt.total_seconds() / 86400.0


def join_silver(
    entity: pd.DataFrame,
    key: str,
    snapshots: Sequence[datetime],
    window_frames: Mapping[str, pd.DataFrame],
    date_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Entity attributes at every snapshot plus every window's features.

    Date columns become `days_since_<column>` as of each row's feature timestamp (the raw dates are
    dropped: a model should see durations, not calendar dates). Each window table is validated
    (unique keys, no repeated columns) and aligned to the spine, then all are concatenated at once:
    merging them one by one copied the growing table per window (3.4 GiB peak at 100k customers).
    """
    if entity[key].duplicated().any():
        raise FanOutError(f"the entity table repeats keys {entity.loc[entity[key].duplicated(), key].head(5).tolist()}")
    stamps = pd.DataFrame({FEATURE_TIMESTAMP: pd.to_datetime(list(snapshots), utc=True)})
    base = stamps.merge(entity, how="cross")[[*entity.columns, FEATURE_TIMESTAMP]]
    for column in date_columns:
        base[f"days_since_{column}"] = days_since(pd.to_datetime(base[column], utc=True), base[FEATURE_TIMESTAMP])
        base = base.drop(columns=[column])
    keys = [key, FEATURE_TIMESTAMP]
    base = base.sort_values([FEATURE_TIMESTAMP, key], kind="mergesort").reset_index(drop=True)
    index = pd.MultiIndex.from_frame(base[keys])
    parts, seen = [base], set(base.columns)
    for name, frame in window_frames.items():
        frame = frame.assign(**{FEATURE_TIMESTAMP: pd.to_datetime(frame[FEATURE_TIMESTAMP], utc=True)})
        dups = _duplicates(frame, keys)
        if dups:
            raise FanOutError(f"joining {name} on {keys} would fan out: {name} repeats keys {dups}")
        overlap = (set(frame.columns) - set(keys)) & seen
        if overlap:
            raise FanOutError(f"{name} repeats columns {sorted(overlap)} already in the joined table")
        seen |= set(frame.columns)
        aligned = frame.set_index(keys).reindex(index)
        parts.append(aligned.reset_index(drop=True))
    return pd.concat(parts, axis=1)
