"""Bad input stops at the raw layer with the file, the column and the offending rows named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.core.errors import DataValidationError
from retention_assets.features.raw import SourceSpec, validate_and_write


def events_spec(path: Path, **overrides) -> SourceSpec:
    base = dict(name="tx", path=path, file_format="csv", entity_key="cid", timestamp_columns=("ts",),
                numeric_columns=("amount",), string_columns=("kind",))
    base.update(overrides)
    return SourceSpec(**base)


def entity_spec(path: Path, **overrides) -> SourceSpec:
    base = dict(name="customers", path=path, file_format="csv", entity_key="cid", unique_key=True,
                keep_other_columns=True)
    base.update(overrides)
    return SourceSpec(**base)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def validate(spec: SourceSpec, tmp_path: Path) -> tuple[pd.DataFrame, object]:
    with DuckDBEngine(tmp_path / "out") as engine:
        report = validate_and_write(engine, spec, spec.name)
        return pd.read_parquet(engine.location(spec.name)), report


def test_unparseable_timestamps_name_file_column_and_rows(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01T00:00:00Z,1,x\nb,not a date,2,x\nc,2026-13-45,3,x\n")
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    message = str(err.value)
    assert str(path) in message and "'ts'" in message
    assert err.value.rows == [2, 3]
    assert "not a date" in message and "2026-13-45" in message


def test_missing_key_column_is_named(tmp_path):
    path = write(tmp_path, "tx.csv", "customer,ts,amount,kind\na,2026-01-01,1,x\n")
    with pytest.raises(DataValidationError, match=r"column 'cid': the column is missing \(the file has customer, ts"):
        validate(events_spec(path), tmp_path)


def test_empty_file_is_rejected(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\n")
    with pytest.raises(DataValidationError, match="no data rows"):
        validate(events_spec(path), tmp_path)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(DataValidationError, match="does not exist"):
        validate(events_spec(tmp_path / "nope.csv"), tmp_path)


def test_file_that_is_not_csv_gives_a_clear_error(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_bytes(b"PAR1\x00\x01\x02garbage")
    with pytest.raises(DataValidationError, match="cannot be read"):
        validate(events_spec(path, file_format="parquet"), tmp_path)


def test_empty_key_rows_are_listed(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01,1,x\n,2026-01-02,2,x\n")
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    assert err.value.column == "cid" and err.value.rows == [2]


def test_text_in_numeric_column_is_an_error_not_a_silent_null(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01,1.5,x\nb,2026-01-02,twelve,x\nc,2026-01-02,,x\n")
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    assert err.value.column == "amount" and err.value.rows == [2] and err.value.examples == ["twelve"]


def test_duplicate_entity_keys_are_rejected_with_their_rows(tmp_path):
    path = write(tmp_path, "c.csv", "cid,plan\na,basic\nb,pro\na,pro\n")
    with pytest.raises(DataValidationError) as err:
        validate(entity_spec(path), tmp_path)
    assert err.value.rows == [1, 3] and "duplicate" in str(err.value)


def test_duplicate_keys_pass_when_a_policy_deduplicates_later(tmp_path):
    path = write(tmp_path, "c.csv", "cid,plan\na,basic\nb,pro\na,pro\n")
    table, report = validate(entity_spec(path, unique_key=False), tmp_path)
    assert len(table) == 3 and report.duplicate_key_rows == 1


def test_offsets_and_naive_timestamps_are_normalised_to_utc(tmp_path):
    path = write(tmp_path, "tx.csv",
                 "cid,ts,amount,kind\na,2026-03-01T10:00:00+02:00,1,x\nb,2026-03-01 10:00:00,1,x\nc,2026-03-01T08:00:00Z,1,x\n")
    table, _ = validate(events_spec(path, naive_timezone="Europe/Berlin"), tmp_path)
    expected = pd.Timestamp("2026-03-01T08:00:00Z")
    assert str(table["ts"].dt.tz) == "UTC"
    # +02:00 and Z are explicit; the naive value is Berlin winter time (UTC+1).
    assert table["ts"].tolist() == [expected, pd.Timestamp("2026-03-01T09:00:00Z"), expected]


def test_numbers_as_text_become_floats_and_the_repair_is_reported(tmp_path):
    path = write(tmp_path, "c.csv", "cid,age,plan\n1,34,basic\n2,,pro\n")
    table, report = validate(entity_spec(path), tmp_path)
    assert table["age"].dtype == "float64" and pd.isna(table.loc[1, "age"])
    assert table["cid"].tolist() == ["1", "2"]
    assert table["plan"].tolist() == ["basic", "pro"]
    assert any("age" in repair for repair in report.repairs)


def test_failed_validation_leaves_the_previous_table_untouched(tmp_path):
    good = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01,1,x\n")
    engine = DuckDBEngine(tmp_path / "out")
    target = Path(engine.location("tx"))
    validate_and_write(engine, events_spec(good), "tx")
    before = target.read_bytes()
    bad = write(tmp_path, "bad.csv", "cid,ts,amount,kind\na,garbage,1,x\n")
    with pytest.raises(DataValidationError):
        validate_and_write(engine, events_spec(bad), "tx")
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["tx.parquet"]


def test_parquet_timestamps_keep_their_instant_and_naive_ones_get_the_configured_zone(tmp_path):
    aware = pd.DataFrame({"cid": ["a"], "ts": pd.to_datetime(["2026-03-01T10:00:00+02:00"]).tz_convert("UTC"),
                          "amount": [1.0], "kind": ["x"]})
    aware.to_parquet(tmp_path / "aware.parquet")
    naive = aware.assign(ts=pd.to_datetime(["2026-03-01T10:00:00"]))
    naive.to_parquet(tmp_path / "naive.parquet")
    spec = dict(file_format="parquet", naive_timezone="America/New_York")
    got_aware, report = validate(events_spec(tmp_path / "aware.parquet", **spec), tmp_path)
    assert got_aware["ts"].item() == pd.Timestamp("2026-03-01T08:00:00Z")
    assert report.repairs == []  # already tz-aware: nothing to repair
    got_naive, _ = validate(events_spec(tmp_path / "naive.parquet", name="n", **spec), tmp_path)
    assert got_naive["ts"].item() == pd.Timestamp("2026-03-01T15:00:00Z")


def test_a_zero_byte_file_is_named_empty_and_a_header_only_file_has_no_data_rows(tmp_path):
    with pytest.raises(DataValidationError, match=r"tx.csv: the file is empty \(0 bytes\)$"):
        validate(events_spec(write(tmp_path, "tx.csv", "")), tmp_path)
    with pytest.raises(DataValidationError, match=r"the file has no data rows \(only a header\)$"):
        validate(events_spec(write(tmp_path, "tx.csv", "cid,ts,amount,kind\n")), tmp_path)


@pytest.mark.parametrize("content, found", [
    (b"PAR1\x15\x04", "is declared as CSV but is a Parquet file: set file_format: parquet"),
    (b"PK\x03\x04\x14\x00", "is declared as CSV but is a ZIP archive (an Excel .xlsx workbook?)"),
])
def test_a_binary_file_under_a_csv_name_is_named_for_what_it_is(tmp_path, content, found):
    path = tmp_path / "tx.csv"
    path.write_bytes(content + b"\x00" * 32)
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    assert str(err.value).startswith(f"{path}: {found}")


def test_a_real_parquet_file_named_csv_is_recognised(tmp_path):
    path = tmp_path / "tx.csv"
    pd.DataFrame({"cid": ["a"], "ts": ["2026-01-01"], "amount": [1.0], "kind": ["x"]}).to_parquet(path)
    with pytest.raises(DataValidationError, match="is a Parquet file: set file_format: parquet"):
        validate(events_spec(path), tmp_path)


@pytest.mark.parametrize("after", [[], ["y,2026-01-02T00:00:00Z,2,ok"]], ids=["at_the_end", "mid_file"])
def test_a_latin1_file_is_named_not_utf8_with_the_line_and_byte(tmp_path, after):
    lines = ["cid,ts,amount,kind"] + [f"c{i},2026-01-01T00:00:00Z,1,ok" for i in range(3000)] + \
        ["z,2026-01-01T00:00:00Z,1,caf\xe9"]
    path = tmp_path / "tx.csv"
    path.write_bytes("\n".join(lines + after).encode("latin-1"))
    offset = len("\n".join(lines[:-1]).encode()) + len("\nz,2026-01-01T00:00:00Z,1,caf")
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    assert str(err.value) == (f"{path}: is not UTF-8: line 3002 (byte {offset:,}) holds b'\\xe9'; save the file "
                              "as UTF-8 (it may be Latin-1 or Windows-1252)")


def test_a_utf8_file_with_a_bom_and_crlf_lines_reads_like_the_plain_file(tmp_path):
    text = "cid,ts,amount,kind\na,2026-01-01T00:00:00Z,1.5,x\nb,2026-01-02T00:00:00Z,2,y\n"
    plain, _ = validate(events_spec(write(tmp_path, "plain.csv", text)), tmp_path / "p")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    with_bom, _ = validate(events_spec(bom), tmp_path / "b")
    pd.testing.assert_frame_equal(with_bom, plain)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01,1,x\nb,yesterday,2,x\n,2026-01-02,abc,x\n"
                                     "d,tomorrow,4,x\n")
    with pytest.raises(DataValidationError) as err:
        validate(events_spec(path), tmp_path)
    assert str(err.value) == (
        f"{path}: 3 problems: column 'cid': the entity key is empty in 1 row(s) (rows 3; values None); "
        "column 'ts': the timestamp cannot be parsed in 2 row(s) (rows 2, 4; values 'yesterday', 'tomorrow'); "
        "column 'amount': the value is not a number in 1 row(s) (rows 3; values 'abc')")


def test_negative_values_reject_an_event_file_unless_the_column_allows_them(tmp_path):
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01,10,x\nb,2026-01-02,-1000000,x\n"
                                     "c,2026-01-03,-5.5,x\n")
    strict = events_spec(path, reject_negative_by_default=True, settings_prefix="events.tx")
    with pytest.raises(DataValidationError) as err:
        validate(strict, tmp_path)
    assert str(err.value) == (f"{path}, column 'amount': the value is negative (allowed only with "
                              "events.tx.negative_values.amount: allow, e.g. for refunds) in 2 row(s) "
                              "(rows 2, 3; values '-1000000', '-5.5')")
    allowed = events_spec(path, reject_negative_by_default=True, negative_values={"amount": "allow"})
    table, report = validate(allowed, tmp_path)
    assert table["amount"].tolist() == [10.0, -1000000.0, -5.5]
    assert report.negative_values == {"amount": 2}


def test_implausibly_late_events_are_quarantined_with_their_file_rows_not_used(tmp_path):
    body = "".join(f"c{i},2026-01-{1 + i % 28:02d}T00:00:00Z,1,x\n" for i in range(2000))
    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\n" + body + "late,2099-01-01T00:00:00Z,1,x\n"
                                     "later,3000-06-01T00:00:00Z,2,x\n")
    with DuckDBEngine(tmp_path / "out") as engine:
        report = validate_and_write(engine, events_spec(path, future_gap_days=30), "tx")
        kept = engine.frame(f"SELECT * FROM {engine.relation('tx')}")
        held = engine.frame(f"SELECT * FROM {engine.relation('tx__quarantine')} ORDER BY __source_row")
    assert len(kept) == 2000 and kept["ts"].max() == pd.Timestamp("2026-01-28", tz="UTC")
    assert report.quarantine.rows == 2 and held["cid"].tolist() == ["late", "later"]
    assert held["__source_row"].tolist() == [2001, 2002]
    assert report.quarantine.after.startswith("2026-02-2")  # 30 days after the 99.9th percentile
    assert "3000-06-01" in report.quarantine.examples[0]
    assert report.time_span[1].startswith("2026-01-28")


def test_events_after_an_explicit_as_of_are_quarantined_and_a_clean_file_keeps_everything(tmp_path):
    from datetime import datetime, timezone

    path = write(tmp_path, "tx.csv", "cid,ts,amount,kind\na,2026-01-01T00:00:00Z,1,x\nb,2026-03-01T00:00:00Z,1,x\n")
    as_of = datetime(2026, 2, 1, tzinfo=timezone.utc)
    with DuckDBEngine(tmp_path / "out") as engine:
        report = validate_and_write(engine, events_spec(path, latest_allowed=as_of), "tx")
        assert engine.scalar(f"SELECT count(*) FROM {engine.relation('tx')}") == 1
        assert report.quarantine.rows == 1 and report.quarantine.after == "2026-02-01T00:00:00+00:00"
        assert "explicit as-of" in report.quarantine.reason
        clean = validate_and_write(engine, events_spec(path, future_gap_days=30), "tx")
        assert clean.quarantine is None and not engine.exists("tx__quarantine")
        assert engine.scalar(f"SELECT count(*) FROM {engine.relation('tx')}") == 2


def test_a_very_wide_file_is_read_by_its_declared_columns_only(tmp_path):
    others = [f"x{j}" for j in range(300)]
    lines = [",".join(["cid", "plan", *others])] + [",".join([f"c{i}", "basic", *map(str, range(300))])
                                                    for i in range(50)]
    path = write(tmp_path, "customers.csv", "\n".join(lines) + "\n")
    spec = entity_spec(path, string_columns=("plan",), max_other_columns=100, settings_prefix="entity")
    table, report = validate(spec, tmp_path)
    assert list(table.columns) == ["cid", "plan"] and len(table) == 50
    assert report.repairs[0].startswith("300 undeclared columns not read: more than entity.max_undeclared_columns (100)")
    narrow_enough, _ = validate(entity_spec(path, string_columns=("plan",), max_other_columns=300), tmp_path / "all")
    with pytest.raises(DataValidationError, match=r"column 'segment': the column is missing \(the file has 302 "
                                                  r"columns: cid, plan, x0, .*, x7, \.\.\.\)"):
        validate(entity_spec(path, string_columns=("plan", "segment"), max_other_columns=100), tmp_path / "missing")
    assert sorted(narrow_enough.columns) == sorted(["cid", "plan", *others])


def test_a_ragged_row_of_a_wide_file_is_named(tmp_path):
    lines = ["cid,plan," + ",".join(f"x{j}" for j in range(20)), "a,basic," + ",".join("1" * 20),
             "b,basic,1,2", "c,pro," + ",".join("1" * 20)]
    path = write(tmp_path, "customers.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"customers.csv: 1 row\(s\) do not have the header's 22 fields "
                                                  r"\(rows 2\)"):
        validate(entity_spec(path, string_columns=("plan",), max_other_columns=5), tmp_path)
