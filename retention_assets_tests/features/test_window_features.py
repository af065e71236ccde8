"""Window semantics of the generated SQL: (as_of - w, as_of], zero-filled counts, UTC throughout.

The property test compares the DuckDB SQL with a slow, obviously-correct Python reference built on
`Window.contains`, on random events and snapshots.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tempfile

from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.event_windows import EventFeatureSpec, write_window_tables
from retention_assets.core.timeline import parse_window, parse_windows

AS_OF = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)
WINDOWS = parse_windows(["24h", "7d", "30d", "all_time"])
SPEC = EventFeatureSpec(
    source="tx", entity_key="cid", timestamp_column="ts", value_columns=("amount",),
    aggregations=("count", "sum", "mean", "min", "max", "std"),
)


def engine_for(remote: str | None, tables: str):
    """DuckDB, or the Spark engine on the Sail server at `remote`."""
    if remote is None:
        return DuckDBEngine(tables)
    from retention_assets.engine.spark_engine import SparkEngine

    return SparkEngine(tables, remote=remote)


def run(events: pd.DataFrame, customers: list[str], snapshots: list[datetime], windows=WINDOWS, categorical=(),
        remote: str | None = None):
    with tempfile.TemporaryDirectory() as tables, engine_for(remote, tables) as engine:
        with engine.registered("events_df", events) as ev, \
                engine.registered("entity_df", pd.DataFrame({"cid": customers})) as entity:
            written = write_window_tables(
                engine, SPEC, windows, events=ev, entity=entity, entity_key="cid", snapshots=snapshots,
                tables={w.name: f"tx_{w.name}" for w in windows}, categorical_columns=categorical,
            )
        return {window: engine.frame(f"SELECT * FROM {engine.relation(table)}")
                for window, table in written.tables.items()}


def events_frame(rows: list[tuple[str, datetime, float]], event_type: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["cid", "ts", "amount"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if event_type is not None:
        frame["kind"] = event_type
    return frame


def value(frames, window: str, customer: str, column: str, snapshot: datetime = AS_OF):
    frame = frames[window]
    row = frame[(frame["cid"] == customer) & (frame["feature_timestamp"] == pd.Timestamp(snapshot))]
    assert len(row) == 1, f"expected one row for {customer} at {snapshot}, got {len(row)}"
    return row.iloc[0][f"tx_{window}_{column}"]


def test_event_exactly_at_window_start_is_excluded():
    frames = run(events_frame([("a", AS_OF - timedelta(days=7), 5.0)]), ["a"], [AS_OF])
    assert value(frames, "7d", "a", "count") == 0
    assert value(frames, "30d", "a", "count") == 1


def test_event_exactly_at_as_of_is_included():
    frames = run(events_frame([("a", AS_OF, 5.0)]), ["a"], [AS_OF])
    assert value(frames, "24h", "a", "count") == 1
    assert value(frames, "24h", "a", "days_since_last") == 0.0


def test_event_one_microsecond_after_as_of_is_excluded_everywhere():
    frames = run(events_frame([("a", AS_OF + timedelta(microseconds=1), 5.0)]), ["a"], [AS_OF])
    for window in ("24h", "7d", "30d", "all_time"):
        assert value(frames, window, "a", "count") == 0


def test_customer_without_events_gets_zero_counts_and_null_statistics():
    frames = run(events_frame([("a", AS_OF - timedelta(hours=1), 5.0)]), ["a", "b"], [AS_OF])
    assert value(frames, "all_time", "b", "count") == 0
    assert value(frames, "all_time", "b", "amount_sum") == 0
    assert pd.isna(value(frames, "all_time", "b", "amount_mean"))
    assert pd.isna(value(frames, "all_time", "b", "days_since_last"))
    assert len(frames["24h"]) == 2


def test_every_customer_gets_one_row_per_snapshot():
    cutoff = AS_OF - timedelta(days=30)
    frames = run(events_frame([("a", AS_OF - timedelta(days=40), 1.0)]), ["a", "b", "c"], [cutoff, AS_OF])
    for frame in frames.values():
        assert len(frame) == 6
        assert not frame.duplicated(["cid", "feature_timestamp"]).any()


def test_snapshot_only_sees_events_up_to_its_own_timestamp():
    cutoff = AS_OF - timedelta(days=30)
    rows = [("a", cutoff - timedelta(days=1), 1.0), ("a", cutoff + timedelta(days=1), 100.0)]
    frames = run(events_frame(rows), ["a"], [cutoff, AS_OF])
    assert value(frames, "all_time", "a", "amount_sum", cutoff) == 1.0
    assert value(frames, "all_time", "a", "amount_sum", AS_OF) == 101.0
    assert value(frames, "all_time", "a", "amount_max", cutoff) == 1.0


def test_timestamps_with_other_offsets_are_compared_as_instants():
    # 13:00+02:00 is 11:00 UTC: one hour before AS_OF, inside 24h; 14:00-05:00 is 19:00 UTC: after AS_OF.
    berlin = timezone(timedelta(hours=2))
    new_york = timezone(timedelta(hours=-5))
    rows = [("a", datetime(2026, 6, 30, 13, 0, tzinfo=berlin), 1.0),
            ("a", datetime(2026, 6, 30, 14, 0, tzinfo=new_york), 1.0)]
    frames = run(events_frame(rows), ["a"], [AS_OF])
    assert value(frames, "24h", "a", "count") == 1
    assert value(frames, "24h", "a", "days_since_last") == pytest.approx(1 / 24)


def test_categorical_values_are_counted_per_window():
    rows = [("a", AS_OF - timedelta(hours=2), 1.0), ("a", AS_OF - timedelta(days=3), 1.0),
            ("a", AS_OF - timedelta(days=3), 1.0)]
    frames = run(events_frame(rows, ["refund", "purchase", "purchase"]), ["a"], [AS_OF], categorical=("kind",))
    assert value(frames, "24h", "a", "kind_refund_count") == 1
    assert value(frames, "24h", "a", "kind_purchase_count") == 0
    assert value(frames, "7d", "a", "kind_purchase_count") == 2


def test_window_names_parse_to_lengths():
    assert parse_window("24h").length == timedelta(hours=24)
    assert parse_window("365d").length == timedelta(days=365)
    assert parse_window("all_time").length is None
    with pytest.raises(ValueError):
        parse_window("7 days")


# --- property test: SQL against a Python reference -------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
# Offsets in hours within ~40 days, half of them whole days, so that exact boundary hits
# (an event at as_of - w, or at as_of) happen in most examples.
offsets = st.one_of(st.integers(min_value=0, max_value=40).map(lambda d: d * 24),
                    st.integers(min_value=0, max_value=40 * 24))
event_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), offsets, st.integers(min_value=-50, max_value=500)),
    max_size=40,
)
snapshot_offsets = st.lists(offsets, min_size=1, max_size=3, unique=True)


def reference(rows, customers, snapshots, windows):
    """One dict per (customer, snapshot, window) computed by brute force from the definition."""
    out = {}
    for customer in customers:
        for snap in snapshots:
            for window in windows:
                inside = [(ts, amt) for c, ts, amt in rows if c == customer and window.contains(ts, snap)]
                amounts = [amt for _, amt in inside]
                stamps = [ts for ts, _ in inside]
                n = len(amounts)
                mean = sum(amounts) / n if n else None
                std = (math.sqrt(sum((a - mean) ** 2 for a in amounts) / (n - 1)) if n > 1 else None)
                out[(customer, snap, window.name)] = {
                    "count": n, "amount_sum": float(sum(amounts)), "amount_mean": mean,
                    "amount_min": min(amounts) if n else None, "amount_max": max(amounts) if n else None,
                    "amount_std": std,
                    "days_since_last": (snap - max(stamps)).total_seconds() / 86400 if n else None,
                    "days_since_first": (snap - min(stamps)).total_seconds() / 86400 if n else None,
                }
    return out


WINDOW_SETS = st.sampled_from([["24h", "7d"], ["7d", "30d", "all_time"], ["24h", "all_time"]])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, snapshot_offsets, WINDOW_SETS)
def test_sql_matches_python_reference(raw_rows, snap_offsets, window_names):
    check_against_reference(raw_rows, snap_offsets, window_names)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_rows, snapshot_offsets, WINDOW_SETS)
def test_sql_matches_python_reference_on_spark(sail_remote, raw_rows, snap_offsets, window_names):
    """The same definition, the same SQL in the SPARK dialect, run by Sail over Delta tables."""
    check_against_reference(raw_rows, snap_offsets, window_names, remote=sail_remote)


def check_against_reference(raw_rows, snap_offsets, window_names, remote: str | None = None):
    windows = parse_windows(window_names)
    rows = [(c, BASE + o * HOUR, float(a)) for c, o, a in raw_rows]
    snapshots = sorted(BASE + o * HOUR for o in snap_offsets)
    customers = ["a", "b", "c", "d"]
    frame = events_frame(rows) if rows else events_frame([("z", BASE, 0.0)]).iloc[:0]
    frames = run(frame, customers, snapshots, windows, remote=remote)
    expected = reference(rows, customers, snapshots, windows)
    for (customer, snap, window), stats in expected.items():
        for column, want in stats.items():
            got = value(frames, window, customer, column, snap)
            if want is None:
                assert pd.isna(got), (customer, snap, window, column, got)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (customer, snap, window, column)


def test_events_of_unknown_customers_are_counted_not_aggregated():
    from retention_assets.features.event_windows import orphan_events_sql
    from retention_assets.engine.dialect import DUCKDB

    events = events_frame([("a", AS_OF, 1.0), ("zz", AS_OF, 1.0), ("zz", AS_OF, 2.0)])
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine, \
            engine.registered("events_df", events) as ev, \
            engine.registered("entity_df", pd.DataFrame({"cid": ["a", "b"]})) as entity:
        assert engine.scalar(orphan_events_sql(DUCKDB, ev, "cid", entity, "cid")) == 2
    frames = run(events, ["a", "b"], [AS_OF])
    assert sorted(frames["all_time"]["cid"]) == ["a", "b"]
