"""Comparing the tables two runs wrote: same columns, same row count, keys equal, values to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd

COMPARED = ("raw_customers", "raw_transactions", "raw_support_tickets", "bronze_entity", "silver_joined",
            "churn_labels", "gold_features", "training_set", "churn_scores")
SORT_KEYS = ("customer_id", "feature_timestamp", "event_ts", "created_at", "ticket_id")


def read_sorted(engine, table: str) -> pd.DataFrame:
    frame = engine.frame(f"SELECT * FROM {engine.relation(table)}")
    keys = [c for c in SORT_KEYS if c in frame]
    rest = [c for c in frame.columns if c not in keys and frame[c].dtype != object]
    return frame.sort_values(keys + rest[:3], kind="stable").reset_index(drop=True)


def assert_same_table(left: pd.DataFrame, right: pd.DataFrame, table: str) -> None:
    assert list(left.columns) == list(right.columns), table
    assert len(left) == len(right), table
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=f"{table}.{column}")
        elif a.map(_is_list).any() or b.map(_is_list).any():  # list columns (the structured reasons)
            assert a.map(_plain).tolist() == b.map(_plain).tolist(), f"{table}.{column}"
        elif isinstance(a.dtype, pd.DatetimeTZDtype) or isinstance(b.dtype, pd.DatetimeTZDtype):
            assert (pd.to_datetime(a, utc=True) == pd.to_datetime(b, utc=True)).all(), f"{table}.{column}"
        else:
            same = (a.isna() & b.isna()) | (a.astype(object) == b.astype(object))
            assert same.all(), f"{table}.{column}: {list(a[~same][:3])} vs {list(b[~same][:3])}"


def _is_list(value) -> bool:
    return isinstance(value, (list, np.ndarray))


def _plain(value):
    """A list cell as plain Python (records as dicts, floats to 6 places: what both engines stored)."""
    if _is_list(value):
        return [_plain(v) for v in list(value)]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 6)
    return value
