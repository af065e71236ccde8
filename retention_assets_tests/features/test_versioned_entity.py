"""A time-versioned entity table (entity.valid_from_column): every snapshot sees the version valid at it,
never a later one, at the boundaries (valid_from equal to the cutoff: in; one microsecond after: out)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention_assets.core.errors import DataValidationError
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.features.raw import SourceSpec, validate_and_write
from retention_assets.features.silver import build_silver

UTC = timezone.utc
US = timedelta(microseconds=1)
C1, C2 = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
AS_OF = datetime(2024, 4, 1, tzinfo=UTC)


def versions() -> pd.DataFrame:
    """a: basic, then pro from exactly C1; b: basic, then pro one microsecond after C1; c: first valid at C2 + 1us."""
    return pd.DataFrame({
        "cid": ["a", "a", "b", "b", "c"],
        "valid_from": pd.to_datetime([datetime(2024, 1, 1, tzinfo=UTC), C1, datetime(2024, 1, 1, tzinfo=UTC),
                                      C1 + US, C2 + US], utc=True),
        "plan": ["basic", "pro", "basic", "pro", "basic"],
        "churned": ["0", "0", "0", "1", "0"],
    })


def test_silver_takes_the_version_valid_at_each_snapshot():
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine:
        with engine.registered("versions_df", versions()) as relation:
            engine.write_table("entity", f"SELECT * FROM {relation}")
        build_silver(engine, entity_table="entity", key="cid", snapshots=[C1, C2, AS_OF], inputs=[],
                     target="silver", valid_from="valid_from")
        silver = engine.frame(f"SELECT * FROM {engine.relation('silver')}")
    assert "valid_from" not in silver.columns
    got = {(r.cid, r.feature_timestamp.to_pydatetime()): r.plan for r in silver.itertuples()}
    assert got == {
        ("a", C1): "pro", ("b", C1): "basic",  # valid_from == cutoff is in; one microsecond later is out
        ("a", C2): "pro", ("b", C2): "pro",  # c's first version is one microsecond after C2: absent there
        ("a", AS_OF): "pro", ("b", AS_OF): "pro", ("c", AS_OF): "basic",
    }


def test_target_labels_read_the_versions_never_a_later_one():
    from retention_assets.features.labels import LabelDefinition, labels_sql

    definition = LabelDefinition(kind="target_column", key="cid", horizon=timedelta(days=20), target_column="churned",
                                 valid_from_column="valid_from")
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine, \
            engine.registered("versions_df", versions()) as relation:
        labels = engine.frame(labels_sql(engine, definition, entity=relation, activity=[], snapshots=[C1, C2, AS_OF],
                                         as_of=AS_OF))
    got = {(r.cid, r.feature_timestamp.to_pydatetime()): (r.churned, r.eligible) for r in labels.itertuples()}
    # b churns in the version valid from C1 + 1us: within (C1, C1 + 20 days]; at C2 its version already says
    # churned, so it is no training row there; c has no version at C1 or C2, hence no label row
    assert got[("a", C1)] == (0, True) and got[("b", C1)] == (1, True)
    assert got[("b", C2)][1] is False or got[("b", C2)][1] == 0
    assert not any(c == "c" and t < AS_OF for c, t in got)
    assert pd.isna(got[("c", AS_OF)][0])  # the scoring snapshot has no label


def test_raw_rejects_a_repeated_key_and_valid_from_pair(tmp_path: Path):
    path = tmp_path / "customers.csv"
    path.write_text("cid,valid_from,plan\na,2024-01-01,basic\na,2024-02-01,pro\nb,2024-01-01,basic\n"
                    "a,2024-02-01,gold\n")
    spec = SourceSpec(name="customers", path=path, file_format="csv", entity_key="cid", date_columns=("valid_from",),
                      keep_other_columns=True, row_numbers=True, valid_from_column="valid_from")
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine:
        with pytest.raises(DataValidationError) as raised:
            validate_and_write(engine, spec, "raw_customers")
        message = str(raised.value)
        assert "valid_from" in message and "2" in message and "4" in message  # rows 2 and 4 named
        path.write_text("cid,valid_from,plan\na,2024-01-01,basic\na,2024-02-01,pro\nb,,basic\n")
        with pytest.raises(DataValidationError, match="valid-from time is empty"):
            validate_and_write(engine, spec, "raw_customers")
        path.write_text("cid,valid_from,plan\na,2024-01-01,basic\na,2024-02-01,pro\n")
        report = validate_and_write(engine, spec, "raw_customers")
        assert report.rows == 2 and report.duplicate_key_rows == 0


def test_the_whole_graph_runs_on_a_versioned_entity_table(tmp_path, small_sample, make_settings):
    """Customers' plans change exactly at the first cutoff (in) or one microsecond after it (out)."""
    from retention_assets_tests.pipeline import run_refresh, step_failures, table

    as_of = datetime(2026, 6, 29, tzinfo=UTC)
    c1, c2 = as_of - timedelta(days=60), as_of - timedelta(days=30)
    base = pd.read_csv(small_sample.customers)
    base["valid_from"] = pd.to_datetime(base["signup_date"], utc=True)
    early = base[base["valid_from"] < c1]  # customers whose first version is older than the change
    at_cutoff, after_cutoff = early.iloc[:40].copy(), early.iloc[40:80].copy()
    at_cutoff["plan"], at_cutoff["valid_from"] = "upgraded", c1
    after_cutoff["plan"], after_cutoff["valid_from"] = "upgraded", c1 + US
    versioned = pd.concat([base, at_cutoff, after_cutoff], ignore_index=True)
    versioned["valid_from"] = versioned["valid_from"].map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"))
    path = tmp_path / "data" / "customers_versioned.csv"
    path.parent.mkdir()
    versioned.to_csv(path, index=False)
    settings = make_settings(directory=tmp_path / "run",
                             entity={"path": str(path), "valid_from_column": "valid_from"},
                             timeline={"as_of": as_of.isoformat(), "training_cutoffs": [c1.isoformat(), c2.isoformat()]})
    result = run_refresh(settings)
    assert result.success, step_failures(result)
    gold = table(settings, "gold_features")
    gold["feature_timestamp"] = pd.to_datetime(gold["feature_timestamp"], utc=True)
    plans = gold.set_index(["customer_id", "feature_timestamp"])["plan"]
    changed_at, changed_after = set(at_cutoff["customer_id"]), set(after_cutoff["customer_id"])
    original = base.set_index("customer_id")["plan"].str.strip().str.lower()
    for (customer, ts), plan in plans.items():
        if customer in changed_at or (customer in changed_after and ts > c1):
            assert plan == "upgraded", (customer, ts)
        else:
            assert plan == original[customer], (customer, ts)
    assert {c for c, t in plans.index if t == c1} & changed_after  # rows at the boundary were checked
    signed_up = pd.to_datetime(base.set_index("customer_id")["signup_date"], utc=True)
    assert all(signed_up[c] <= t for c, t in plans.index)  # no row before the customer's first version


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40)), min_size=1, max_size=15,
                unique=True),
       st.lists(st.integers(0, 40), min_size=1, max_size=4, unique=True))
def test_the_as_of_join_matches_a_python_reference(rows, snapshot_offsets):
    """Per (customer, snapshot): the version with the latest valid_from at or before the snapshot, else none."""
    from retention_assets.features.entity import versioned_rows_sql

    base = datetime(2024, 1, 1, tzinfo=UTC)
    frame = pd.DataFrame({"cid": [c for c, _ in rows], "valid_from": pd.to_datetime(
        [base + timedelta(hours=o) for _, o in rows], utc=True), "version": [f"{c}{o}" for c, o in rows]})
    snapshots = sorted(base + timedelta(hours=o) for o in snapshot_offsets)
    with tempfile.TemporaryDirectory() as tables, DuckDBEngine(tables) as engine, \
            engine.registered("versions_df", frame) as relation:
        got = engine.frame(f"SELECT * FROM {versioned_rows_sql(engine.dialect, relation, 'cid', 'valid_from', snapshots)}")
    got = {(r.cid, r.feature_timestamp.to_pydatetime()): r.version for r in got.itertuples()}
    want = {}
    for snap in snapshots:
        for customer in "abc":
            valid = [o for c, o in rows if c == customer and base + timedelta(hours=o) <= snap]
            if valid:
                want[(customer, snap)] = f"{customer}{max(valid)}"
    assert got == want
