"""The DuckDB engine's contract: atomic table writes, UTC instants in frames, batches that add up."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables", memory_limit="1GB") as engine:
        yield engine


def test_a_failed_write_leaves_the_old_table_in_place(engine):
    first = engine.write_table("t", "SELECT range AS x FROM range(5)")
    assert (first.rows, first.columns) == (5, {"x": "BIGINT"})
    with pytest.raises(duckdb.Error):
        engine.write_table("t", "SELECT CAST('not a number' AS INTEGER) AS x FROM range(3)")
    assert engine.scalar(f"SELECT count(*) FROM {engine.relation('t')}") == 5
    assert sorted(p.name for p in engine.path("t").parent.iterdir()) == ["t.parquet"]  # no temporary left


def test_nanosecond_utc_instants_come_back_as_utc(engine):
    """pandas writes UTC timestamps as nanosecond instants; DuckDB hands those to pandas without a zone."""
    stamps = pd.to_datetime(["2026-06-30 12:00", "2026-07-01 00:30"]).tz_localize("UTC")
    engine.write_frame("events", pd.DataFrame({"ts": stamps, "n": [1, 2]}))
    relation = engine.relation("events")
    assert engine.column_types(relation)["ts"] == "TIMESTAMPTZ_NS"
    frame = engine.frame(f"SELECT ts, ts::TIMESTAMPTZ AS micro FROM {relation} ORDER BY n")
    assert str(frame["ts"].dt.tz) == "UTC" and str(frame["micro"].dt.tz) == "UTC"
    assert frame["ts"].tolist() == stamps.tolist() == frame["micro"].tolist()
    with engine.registered("ns_frame", pd.DataFrame({"ts": stamps})) as registered:
        assert engine.frame(f"SELECT ts FROM {registered}")["ts"].tolist() == stamps.tolist()


def test_batches_and_write_batches_round_trip(engine):
    engine.write_table("numbers", "SELECT range AS x, range * 0.5 AS y FROM range(1000)")
    batches = list(engine.batches(f"SELECT * FROM {engine.relation('numbers')} ORDER BY x", rows=300))
    assert sum(b.num_rows for b in batches) == 1000 and len(batches) >= 4
    copy = engine.write_batches("copy", (b.to_pandas() for b in batches))
    assert copy.rows == 1000
    assert engine.frame(f"SELECT * FROM {engine.relation('copy')} ORDER BY x").equals(
        engine.frame(f"SELECT * FROM {engine.relation('numbers')} ORDER BY x"))
