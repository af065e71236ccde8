"""The small tables the profiling tests share, named, so that the profiles the pandas implementation
produced for them (`pandas_reference.json`, written by `make_pandas_reference.py` from the last commit
with the pandas implementation) can be compared field by field with what the SQL implementation finds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from retention_assets.engine.base import Engine
from retention_assets.exploration.profiling import DatasetProfile, Relationship, profile_relationships
from retention_assets.settings import sample_settings_path

PANDAS_COMMIT = "f7af1d4"  # the last commit whose profiling ran in pandas
REFERENCE_FILE = Path(__file__).with_name("pandas_reference.json")
SAMPLE_DATA = sample_settings_path().parent / "data"
SAMPLE_FILES = {
    "customers": "customers.csv",
    "transactions": "transactions.parquet",
    "support_tickets": "support_tickets.csv",
}
REFERENCE = datetime(2026, 6, 30, tzinfo=timezone.utc)


def codes(prefix: str, n: int, repeat: int = 1) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(1, n + 1) for _ in range(repeat)]


def named_by_values() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "paid_amount": rng.uniform(5, 500, 60).round(2) + np.arange(60) * 1e-3,  # all distinct
        "class_size": rng.integers(10, 41, 60),
        "is_valid": rng.random(60) < 0.5,
    })


def swapped_names() -> pd.DataFrame:
    return named_by_values().rename(
        columns={"paid_amount": "is_valid", "class_size": "paid_amount", "is_valid": "class_size"})


def dates_around_the_reference() -> pd.DataFrame:
    stamps = ["2026-01-01", "2026-02-01", "2026-03-01", "2027-01-01", "1900-01-01", None, "1970-01-01", "2025-05-05"]
    return pd.DataFrame({"d": stamps})


def dates_without_reference() -> pd.DataFrame:
    return pd.DataFrame({"d": ["2099-01-01", "1970-01-01", "1975-06-01", "2020-01-01"]})


def outliers() -> pd.DataFrame:
    return pd.DataFrame({"x": [float(v) for v in range(10, 30)] + [500.0, -400.0]})


def quality_counts() -> pd.DataFrame:
    return pd.DataFrame({
        "cid": codes("C", 40) + ["C00001", "C00002"],
        "age": [30 + i % 7 for i in range(40)] + [30, 99],
        "plan": (["basic", "pro", None, "basic"] * 11)[:42],
    })


def repeating_keys_without_time() -> pd.DataFrame:
    return pd.DataFrame({"cid": codes("C", 60, repeat=2), "plan": ["a", "b"] * 60})


def unique_key_with_a_date() -> pd.DataFrame:
    return pd.DataFrame({"cid": codes("C", 30), "signup": pd.date_range("2024-01-01", periods=30, freq="D"),
                         "churned": [0, 1, 1] * 10})


def event_table() -> pd.DataFrame:
    n = 200
    return pd.DataFrame({
        "event_id": codes("E", n),
        "cid": codes("C", 50, repeat=4),
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) // 20, unit="D"),
        "at": pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(n) * 3_600, unit="s"),
        "flag": [0, 1] * (n // 2),
    })


def large_table(n: int = 6_000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "id": np.arange(1, n + 1),
        "cid": [f"C{i:05d}" for i in rng.integers(0, 400, n)],
        "amount": rng.gamma(2.0, 10.0, n).round(2),
        "when": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
    })


def plain_examples() -> pd.DataFrame:
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    return pd.DataFrame({"when": pd.to_datetime(days, utc=True), "naive": pd.to_datetime(days),
                         "n": np.array([1, 2, 3, 3], dtype=np.int64)})


def mixed_kinds() -> pd.DataFrame:
    """Every physical kind with gaps: numbers written as text, floats with NaN, aware times with NaT."""
    n = 90
    rng = np.random.default_rng(11)
    amounts = rng.normal(50, 10, n).round(1)
    amounts[[3, 40, 77]] = np.nan
    amounts[5] = 900.0
    return pd.DataFrame({
        "ref": [str(1000 + i) for i in range(n)],
        "amount_text": [None if i % 9 == 0 or np.isnan(a) else f" {a} " for i, a in enumerate(amounts)],
        "amount": amounts,
        "count": rng.integers(0, 5, n),
        "active": [bool(i % 3) for i in range(n)],
        "comment": [f"the parcel number {i % 40} came late" for i in range(n)],
        "at": pd.Series(pd.date_range("2023-12-30", periods=n, freq="17h", tz="UTC")).where(
            np.arange(n) % 10 != 0),
        "tier": ["gold", "silver", "bronze"] * (n // 3),
    })


def findings_customers(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)],
        "age": [20 + 5 * (i % 7) for i in range(n)],
        "plan": ["basic", "pro", "max"] * (n // 3),
        "churned": [0, 1] * (n // 2),
        "note": [f"called about invoice {i} twice" for i in range(n)],
    })


def findings_events(n_customers: int = 60) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"C{i % n_customers:04d}" for i in range(3 * n_customers)],
        "at": pd.date_range("2024-01-01", periods=3 * n_customers, freq="h", tz="UTC"),
        "amount": [1.5 * i for i in range(3 * n_customers)],
    })


@dataclass(frozen=True)
class FrameCase:
    """One table and the profiling options it is profiled with."""

    build: Callable[[], pd.DataFrame]
    options: dict = field(default_factory=dict)


FRAME_CASES: dict[str, FrameCase] = {
    "named_by_values": FrameCase(named_by_values),
    "swapped_names": FrameCase(swapped_names),
    "dates_around_the_reference": FrameCase(dates_around_the_reference, {"reference_time": REFERENCE}),
    "dates_without_reference": FrameCase(dates_without_reference),
    "outliers": FrameCase(outliers),
    "outliers_wide_fences": FrameCase(outliers, {"outlier_iqr_multiplier": 100}),
    "quality_counts": FrameCase(quality_counts),
    "repeating_keys_without_time": FrameCase(repeating_keys_without_time),
    "unique_key_with_a_date": FrameCase(unique_key_with_a_date),
    "event_table": FrameCase(event_table),
    "large_table": FrameCase(large_table),
    "plain_examples": FrameCase(plain_examples),
    "mixed_kinds": FrameCase(mixed_kinds, {"reference_time": datetime(2024, 1, 20)}),
    "findings_customers": FrameCase(findings_customers),
    "findings_events": FrameCase(findings_events),
}

RELATIONSHIP_CASES: dict[str, Callable[[], dict[str, pd.DataFrame]]] = {
    "one_to_one": lambda: {"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("K", 20)})},
    "many_to_one": lambda: {
        "customers": pd.DataFrame({"cid": codes("C", 120), "account": codes("A", 60, repeat=2)}),
        "accounts": pd.DataFrame({"account": codes("A", 60)}),
    },
    "disjoint": lambda: {"a": pd.DataFrame({"k": codes("K", 30)}), "b": pd.DataFrame({"k": codes("X", 30)})},
    "a_third_shared": lambda: {"a": pd.DataFrame({"k": codes("K", 30)}),
                               "b": pd.DataFrame({"k": [f"K{i:05d}" for i in range(21, 51)]})},
    # 17, 17.0 and " 17 " are one key: integers, integral floats (a gap made them float) and text
    "keys_written_three_ways": lambda: {
        "people": pd.DataFrame({"pid": np.arange(100, 160)}),
        "visits": pd.DataFrame({"pid": np.r_[np.arange(100.0, 140.0), [np.nan] * 5]}),
        "notes": pd.DataFrame({"pid": [f" {100 + i} " for i in range(20, 70)]}),
    },
    "findings": lambda: {"customers": findings_customers(60), "tx": findings_events()},
}


def case_path(name: str) -> str:
    return f"/data/{name}.csv"


def relate_frames(engine: Engine, frames: dict[str, pd.DataFrame], profiles: dict[str, DatasetProfile]
                  ) -> list[Relationship]:
    """The relationships of in-memory frames, found in SQL exactly as for stored tables."""
    with ExitStack() as stack:
        relations = {name: stack.enter_context(engine.registered(f"frame_{name}", frame))
                     for name, frame in frames.items()}
        return profile_relationships(engine, relations, profiles)
