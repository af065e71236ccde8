"""What every engine promises the layers above it, checked on DuckDB and on Spark (Sail): atomic table
writes, UTC instants, text-only CSV reads, batches that add up, snapshots later writes cannot change."""

from __future__ import annotations

import pandas as pd
import pytest

STAMPS = pd.to_datetime(["2026-06-30 12:00:00.123456", "2026-07-01 00:30:00.000000"]).tz_localize("UTC")


def _numbers(engine, n: int = 1000) -> None:
    engine.write_frame("numbers", pd.DataFrame({"x": range(n), "y": [i * 0.5 for i in range(n)]}))


def test_a_failed_write_leaves_the_old_table_in_place(any_engine):
    engine = any_engine
    _numbers(engine, 5)
    relation = engine.relation("numbers")
    first = engine.write_table("t", f"SELECT x FROM {relation}")
    assert first.rows == 5 and engine.column_kinds(engine.relation("t")) == {"x": "integer"}
    fail = "error" if engine.name == "duckdb" else "raise_error"  # a value that fails while rows are computed
    with pytest.raises(Exception, match="boom"):  # each engine raises its own error type
        engine.write_table("t", f"SELECT CASE WHEN x = 3 THEN CAST({fail}('boom') AS BIGINT) ELSE x + 100 END AS x "
                                f"FROM {relation}")
    assert sorted(r[0] for r in engine.rows(f"SELECT x FROM {engine.relation('t')}")) == [0, 1, 2, 3, 4]


def test_utc_instants_round_trip_through_tables_frames_and_rows(any_engine):
    engine = any_engine
    engine.write_frame("events", pd.DataFrame({"ts": STAMPS, "n": [1, 2]}))
    relation = engine.relation("events")
    assert engine.column_kinds(relation)["ts"] == "timestamp_tz"
    frame = engine.frame(f"SELECT ts FROM {relation} ORDER BY n")
    assert str(frame["ts"].dt.tz) == "UTC" and frame["ts"].tolist() == STAMPS.tolist()
    assert [r[0] for r in engine.rows(f"SELECT ts FROM {relation} ORDER BY n")] == STAMPS.to_pydatetime().tolist()
    literal = engine.dialect.timestamp(STAMPS[1].to_pydatetime())
    assert engine.scalar(f"SELECT count(*) FROM {relation} WHERE ts = {literal}") == 1
    with engine.registered("stamps", pd.DataFrame({"ts": STAMPS})) as registered:
        assert engine.frame(f"SELECT ts FROM {registered} ORDER BY ts")["ts"].tolist() == STAMPS.tolist()


def test_csv_files_are_read_as_text_with_their_header(any_engine, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('id,amount,note\n001,12.5,"a, quoted"\n002,,plain\n')
    relation = any_engine.file_relation(path, "csv")
    assert any_engine.column_kinds(relation) == {"id": "string", "amount": "string", "note": "string"}
    rows = any_engine.rows(f"SELECT id, amount, note FROM {relation} ORDER BY id")
    assert rows[0] == ("001", "12.5", "a, quoted") and rows[1][0] == "002"


def test_nanosecond_parquet_files_are_readable(any_engine, tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"ts": STAMPS, "k": ["a", "b"]}).to_parquet(path)  # pandas writes TIMESTAMP(NANOS)
    relation = any_engine.file_relation(path, "parquet")
    assert any_engine.frame(f"SELECT ts FROM {relation} ORDER BY k")["ts"].tolist() == STAMPS.tolist()


def test_batches_and_write_batches_round_trip(any_engine):
    engine = any_engine
    _numbers(engine)
    batches = list(engine.batches(f"SELECT * FROM {engine.relation('numbers')} ORDER BY x", rows=300))
    assert sum(b.num_rows for b in batches) == 1000 and len(batches) >= 4
    copy = engine.write_batches("copy", (b.to_pandas() for b in batches))
    assert copy.rows == 1000
    ordered = "SELECT * FROM {} ORDER BY x"
    pd.testing.assert_frame_equal(engine.frame(ordered.format(engine.relation("copy"))),
                                  engine.frame(ordered.format(engine.relation("numbers"))))


def test_a_snapshot_does_not_change_when_the_table_is_rewritten(any_engine, tmp_path):
    engine = any_engine
    _numbers(engine, 10)
    assert engine.snapshot("numbers", tmp_path / "pinned.parquet") == 10
    before = (tmp_path / "pinned.parquet").read_bytes()
    _numbers(engine, 3)
    assert (tmp_path / "pinned.parquet").read_bytes() == before
    assert len(pd.read_parquet(tmp_path / "pinned.parquet")) == 10
    assert engine.table_info("numbers").rows == 3


def test_a_catalog_keeps_each_layer_in_its_own_schema_and_publishes_into_serving(tmp_path, sail_remote):
    from retention_assets.engine.catalog import CatalogLayout, table_layer
    from retention_assets.engine.spark_engine import SparkEngine

    assert [table_layer(t) for t in ("raw_customers", "raw_customers__quarantine", "bronze_event_tx_7d",
                                     "silver_joined", "gold_features", "churn_scores", "churn_scores__unsorted")] == [
        "raw", "raw", "bronze", "silver", "gold", "gold", "gold"]
    layout = CatalogLayout("spark_catalog", (tmp_path / "lake").as_uri())
    with SparkEngine(remote=sail_remote, catalog=layout) as engine:
        engine.write_table("raw_x", "SELECT 1 AS a")
        engine.write_table("churn_scores", "SELECT 2 AS a")
        assert engine.relation("raw_x") == "`spark_catalog`.`retention_raw`.`raw_x`"
        assert (tmp_path / "lake" / "retention_raw" / "raw_x" / "_delta_log").is_dir()
        assert not engine.spark.catalog.tableExists("spark_catalog.retention_serving.churn_scores")
        assert engine.publish("churn_scores") == "spark_catalog.retention_serving.churn_scores"
        engine.write_table("churn_scores", "SELECT 3 AS a")  # a later run's working table
        assert engine.rows("SELECT a FROM spark_catalog.retention_serving.churn_scores") == [(2,)]
        engine.drop("raw_x")
        assert not engine.exists("raw_x") and not (tmp_path / "lake" / "retention_raw" / "raw_x").exists()
    with pytest.raises(ValueError, match="valid Unity Catalog name"):
        CatalogLayout("main; DROP", "file:///tmp/x")
