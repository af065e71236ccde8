"""The Feast repository against the real Feast (file offline store, SQLite online store), and the engine's
point-in-time join against Feast's own get_historical_features."""

from __future__ import annotations

import pandas as pd
import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.feature_store.repository import (
    FeastConfig,
    apply_model_service,
    historical_features,
    materialize_online,
    online_features,
)
from retention_assets.feature_store.training_set import point_in_time_sql
from retention_assets_tests.feature_store.helpers import publish

T1, T2, T3 = (pd.Timestamp(t, tz="UTC") for t in ("2026-03-31 12:00", "2026-04-30 12:00", "2026-05-30 12:00"))
FEATURES = ["spend_30d", "tickets_30d", "plan"]


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables") as engine:
        yield engine


@pytest.fixture
def store(tmp_path, engine) -> FeastConfig:
    config = FeastConfig("pit_test", str(tmp_path / "feast"), str(tmp_path / "feast" / "registry.db"),
                         {"type": "sqlite", "path": str(tmp_path / "feast" / "online.db")})
    features = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B", "B"],
        "feature_timestamp": [T1, T2, T3, T1, T2],
        "spend_30d": [10.0, 20.0, 30.0, 5.0, None],
        "tickets_30d": [1, 2, 3, 0, 7],
        "plan": ["basic", "basic", "pro", "pro", "pro"],
        "eligible": [True, True, False, True, True],
    })
    engine.write_frame("gold", features)
    publish(config, engine, f"SELECT * FROM {engine.relation('gold')}", "customer_id", "feature_timestamp")
    return config


ROWS = pd.DataFrame({
    "customer_id": ["A", "A", "B", "A", "A", "B"],
    "feature_timestamp": [T2, T1, T2, T1 - pd.Timedelta(days=1), T2 + pd.Timedelta(days=3), T3],
    "churned": [1, 0, 0, 1, 0, 1],
})


def test_each_training_row_gets_the_features_as_of_its_own_cutoff(store):
    out = historical_features(store, ROWS, "customer_id", "feature_timestamp", FEATURES)
    # Same rows, same order, labels passed through untouched.
    assert out["customer_id"].tolist() == ROWS["customer_id"].tolist()
    assert out["feature_timestamp"].tolist() == ROWS["feature_timestamp"].tolist()
    assert out["churned"].tolist() == ROWS["churned"].tolist()
    # A at T2 sees its T2 row (not the later T3 value 30.0); A at T1 its T1 row; B at T2 its own null.
    assert out["spend_30d"].iloc[0] == 20.0 and out["tickets_30d"].iloc[0] == 2
    assert out["spend_30d"].iloc[1] == 10.0 and out["tickets_30d"].iloc[1] == 1
    assert pd.isna(out["spend_30d"].iloc[2]) and out["tickets_30d"].iloc[2] == 7
    # Before any feature row: nothing; between rows: the latest at or before; B at T3: its T2 row.
    assert pd.isna(out["spend_30d"].iloc[3]) and pd.isna(out["plan"].iloc[3])
    assert out["spend_30d"].iloc[4] == 20.0 and out["plan"].iloc[4] == "basic"
    assert out["tickets_30d"].iloc[5] == 7 and out["plan"].iloc[5] == "pro"


def test_the_engines_point_in_time_join_is_feasts(store, engine):
    feast = historical_features(store, ROWS, "customer_id", "feature_timestamp", FEATURES)
    with engine.registered("rows", ROWS) as rows:
        sql = point_in_time_sql(engine.dialect, entity_rows=rows, entity_columns=list(ROWS.columns),
                                features=engine.file_relation(store.source_path, "parquet"), feature_columns=FEATURES,
                                key="customer_id", order=["customer_id", "feature_timestamp", *FEATURES, "churned"])
        ours = engine.frame(sql)
    expected = feast.sort_values(["feature_timestamp", "customer_id"], kind="stable").reset_index(drop=True)
    def values(series: pd.Series) -> list:
        return series.astype(object).where(series.notna(), None).tolist()

    for column in ["customer_id", *FEATURES, "churned"]:
        assert values(ours[column]) == values(expected[column]), column


def test_online_store_holds_the_champions_features_as_of_the_scoring_time(store, engine):
    service = apply_model_service(store, "churn_model_v1", ["spend_30d", "plan", "eligible"], "test",
                                  "customer_id", "feature_timestamp")
    assert materialize_online(store, engine, service, T2.to_pydatetime(), "customer_id", "feature_timestamp",
                              batch=1) == 2
    online = online_features(store, service, "customer_id", ["B", "A", "Z"], "feature_timestamp")
    assert online["customer_id"].tolist() == ["B", "A", "Z"]
    assert set(online.columns) == {"customer_id", "spend_30d", "plan", "eligible", "feature_timestamp"}
    a, b, z = (online.set_index("customer_id").loc[c] for c in "ABZ")
    assert a["spend_30d"] == 20.0 and a["plan"] == "basic" and a["feature_timestamp"] == T2
    assert pd.isna(b["spend_30d"]) and b["feature_timestamp"] == T2
    assert pd.isna(z["feature_timestamp"])  # unknown customer: no timestamp, caught by scoring
    # Only the service's features are in the online store: its view holds nothing else.
    view = store.store().get_feature_view("churn_model_v1_online")
    assert [f.name for f in view.features] == ["spend_30d", "plan", "eligible"]


def test_a_service_for_features_the_view_does_not_publish_is_refused(store):
    with pytest.raises(ValueError, match="does not publish"):
        apply_model_service(store, "churn_model_v2", ["spend_30d", "nope"], "test", "customer_id",
                            "feature_timestamp")


def test_republishing_a_changed_schema_replaces_the_view(store, engine):
    from retention_assets.feature_store.repository import VIEW

    engine.write_frame("narrow", pd.DataFrame({"customer_id": ["A"], "feature_timestamp": [T1], "spend_30d": [1.0]}))
    summary = publish(store, engine, f"SELECT * FROM {engine.relation('narrow')}", "customer_id", "feature_timestamp")
    assert list(summary.features) == ["spend_30d"]
    assert [f.name for f in store.store().get_feature_view(VIEW).features] == ["spend_30d"]


def test_feast_verification_asks_feast_about_the_sampled_customers_only(tmp_path, engine):
    """The check passes on the engine's training set, names a tampered column, and leaves no scratch repo."""
    from pathlib import Path

    from retention_assets.core.columns import LABEL, LABEL_AVAILABLE, LABEL_TIMESTAMP, ROW_ROLE, TRAIN
    from retention_assets.feature_store.repository import source_sql
    from retention_assets.feature_store.training_set import build_training_set, verify_against_feast

    n = 60
    gold = pd.DataFrame({
        "customer_id": [f"C{i:03d}" for i in range(n)] * 2,
        "feature_timestamp": [T1] * n + [T2] * n,
        "spend_30d": [float(i) if i % 7 else None for i in range(2 * n)],
        "tickets_30d": [i % 5 for i in range(2 * n)],
        "plan": ["basic" if i % 3 else "pro" for i in range(2 * n)],
        "eligible": [True] * (2 * n),
        LABEL: [i % 2 for i in range(2 * n)],
        LABEL_TIMESTAMP: [T2] * n + [T3] * n,
        LABEL_AVAILABLE: [True] * (2 * n),
        ROW_ROLE: [TRAIN] * (2 * n),
    })
    engine.write_frame("gold", gold)
    config = FeastConfig("verify_test", str(tmp_path / "feast"), str(tmp_path / "feast" / "registry.db"),
                         {"type": "sqlite", "path": str(tmp_path / "feast" / "online.db")})
    publish(config, engine, source_sql(engine, "gold"), "customer_id", "feature_timestamp")
    source = engine.file_relation(config.source_path, "parquet")
    build_training_set(engine, gold_table="gold", source=source, key="customer_id", target="training_set")

    report = verify_against_feast(config, engine, "training_set", "customer_id", rows=40)
    assert report.passed, report.describe()
    assert (report.rows_checked, report.total_rows, report.features_checked) == (40, 2 * n, 3)
    assert not (Path(config.repo_path) / ".verify").exists()

    tampered = f"SELECT * REPLACE (tickets_30d + 1 AS tickets_30d) FROM {engine.relation('training_set')}"
    engine.write_table("tampered", tampered)
    report = verify_against_feast(config, engine, "tampered", "customer_id", rows=40)
    assert report.differing_columns == ["tickets_30d"]
    assert "tickets_30d" in report.describe()
