"""The bulk online writers against Feast's own writers: the same stored bytes and the same answers from
`get_online_features`, for SQLite and for Redis (127.0.0.1:6379; skipped when it is not running)."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.feature_store.online_bulk import (
    feast_writer,
    online_writer,
    write_redis_in_bulk,
    write_sqlite_in_bulk,
)
from retention_assets.feature_store.repository import (
    FeastConfig,
    apply_model_service,
    materialize_online,
    online_features,
    online_view_name,
)
from retention_assets_tests.feature_store.helpers import publish

T1, T2, T3 = (pd.Timestamp(t, tz="UTC") for t in ("2026-03-31 12:00", "2026-04-30 12:00", "2026-05-30 12:00"))
REDIS = "127.0.0.1:6379"
KEY, TS = "customer_id", "feature_timestamp"
FEATURES = ["spend_30d", "ratio", "tickets_30d", "refunds", "plan", "eligible", "flag"]
FRAME = pd.DataFrame({
    KEY: ["A", "B", "C", "D", "E", "F"],
    TS: [T2] * 6,
    "spend_30d": [20.0, None, -3.5, 0.0, np.nan, 7.25],  # doubles with nulls, NaN, negative, zero
    "ratio": [-0.0, 1e300, 5e-324, -1.25, 0.1, np.inf],  # signed zero, extremes, subnormal, infinity
    "tickets_30d": [2, 7, 0, -1, 3, 2**40],  # int64 counts, no nulls
    "refunds": pd.array([1, None, 0, 4, None, 1], dtype="Int64"),  # ints with nulls: floats in numpy
    "plan": ["basic", None, "pro", "", "pro", "basic"],  # strings with a null and an empty string
    "eligible": [True, False, True, True, False, True],  # bools
    "flag": pd.array([True, None, False, None, True, False], dtype="boolean"),  # bools with nulls
})


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables") as engine:
        yield engine


@pytest.fixture
def redis_client():
    redis = pytest.importorskip("redis")
    host, port = REDIS.split(":")
    client = redis.Redis(host=host, port=int(port), socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS}")
    yield client
    client.close()


@pytest.fixture
def projects(redis_client):
    """Unique Feast project names (a project is the suffix of every Redis key it writes); their keys are
    deleted afterwards."""
    made: list[str] = []

    def project(way: str) -> str:
        made.append(f"bulk_{way}_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield project
    for name in made:
        keys = list(redis_client.scan_iter(match=b"*" + name.encode()))
        if keys:
            redis_client.delete(*keys)


def redis_repository(tmp_path, engine, project: str, **online) -> tuple[FeastConfig, str]:
    """A Feast repository over `FRAME` with the Redis online store and the service of all FEATURES."""
    repo = tmp_path / project
    config = FeastConfig(project, str(repo), str(repo / "registry.db"),
                         {"type": "redis", "connection_string": REDIS, **online})
    if not engine.exists("gold"):
        engine.write_frame("gold", FRAME)
    publish(config, engine, f"SELECT * FROM {engine.relation('gold')}", KEY, TS)
    return config, apply_model_service(config, "churn_model_v1", FEATURES, "test", KEY, TS)


def stored(client, project: str) -> dict[bytes, dict[bytes, bytes]]:
    """Every hash of `project`, by its key without the project suffix."""
    suffix = project.encode()
    return {key[:-len(suffix)]: client.hgetall(key) for key in client.scan_iter(match=b"*" + suffix)}


def answers(config: FeastConfig, service: str, ids: list[str]) -> pd.DataFrame:
    return online_features(config, service, KEY, ids, TS)


@pytest.mark.parametrize("online", [{}, {"skip_dedup": True}, {"key_ttl_seconds": 3600}],
                         ids=["dedup", "skip_dedup", "ttl"])
def test_the_bulk_redis_writer_stores_exactly_what_feasts_writer_stores(tmp_path, engine, redis_client, projects,
                                                                        online):
    (feast, service), (bulk, _) = (redis_repository(tmp_path, engine, projects(way), **online)
                                   for way in ("feast", "bulk"))
    view = online_view_name(service)
    feast.store().write_to_online_store(view, FRAME)
    write_redis_in_bulk(bulk.store(), view, FRAME)

    theirs, ours = stored(redis_client, feast.project), stored(redis_client, bulk.project)
    assert len(ours) == len(FRAME) and all(len(fields) == len(FEATURES) + 1 for fields in ours.values())
    assert ours == theirs  # same entities, same field hashes, same ValueProto and Timestamp bytes
    for key in ours:
        ttls = [redis_client.ttl(key + project.encode()) for project in (feast.project, bulk.project)]
        assert all(0 < t <= 3600 for t in ttls) if online.get("key_ttl_seconds") else ttls == [-1, -1]

    ids = ["F", "C", "A", "Z", "B", "E", "D"]
    mine, feasts = answers(bulk, service, ids), answers(feast, service, ids)
    pd.testing.assert_frame_equal(mine, feasts)
    assert mine["spend_30d"].tolist()[:3] == [7.25, -3.5, 20.0] and mine["plan"].tolist()[:3] == ["basic", "pro",
                                                                                                     "basic"]
    assert mine["tickets_30d"].tolist()[0] == 2**40 and pd.isna(mine[TS].iloc[3])


@pytest.mark.parametrize("skip_dedup", [False, True])
def test_the_bulk_redis_writer_skips_and_keeps_rows_by_timestamp_as_feast_does(tmp_path, engine, redis_client,
                                                                               projects, skip_dedup):
    (feast, service), (bulk, _) = (redis_repository(tmp_path, engine, projects(way), skip_dedup=skip_dedup)
                                   for way in ("feast", "bulk"))
    view = online_view_name(service)
    later = pd.DataFrame({
        KEY: ["A", "B", "C", "G", "H", "H", "J", "J"],
        # older than stored, equal, newer, new entity; then twice in one batch: newer then older, older then newer
        TS: [T1, T2, T3, T1, T3, T1, T1, T3],
        "spend_30d": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    }).assign(**{c: FRAME[c].iloc[0] for c in FEATURES if c != "spend_30d"})
    for frame in (FRAME, later):
        feast.store().write_to_online_store(view, frame)
        write_redis_in_bulk(bulk.store(), view, frame)
        assert stored(redis_client, bulk.project) == stored(redis_client, feast.project)

    spend = answers(bulk, service, ["A", "B", "C", "G", "H", "J"]).set_index(KEY)["spend_30d"]
    if skip_dedup:  # every row written, in batch order
        assert spend.to_dict() == {"A": 1.0, "B": 2.0, "C": 3.0, "G": 4.0, "H": 6.0, "J": 8.0}
    else:  # A older and B at the same instant as stored: skipped (B keeps its null); H's older second row too
        assert spend.drop("B").to_dict() == {"A": 20.0, "C": 3.0, "G": 4.0, "H": 5.0, "J": 8.0}
        assert pd.isna(spend["B"])


def test_materializing_from_two_worker_processes_stores_what_one_process_stores(tmp_path, engine, redis_client,
                                                                                projects):
    config, service = redis_repository(tmp_path, engine, projects("workers"))
    contents = {}
    for workers in (1, 2):
        assert materialize_online(config, engine, service, T2.to_pydatetime(), KEY, TS, batch=2,
                                  workers=workers) == len(FRAME)
        contents[workers] = stored(redis_client, config.project)
        redis_client.delete(*(key + config.project.encode() for key in contents[workers]))
    assert len(contents[1]) == len(FRAME) and contents[2] == contents[1]


@pytest.mark.parametrize("template", [True, False], ids=["numpy_doubles", "feast_doubles"])
def test_every_column_encoding_is_feasts_conversion(monkeypatch, template):
    """Column by column, with and without the double template, and for columns whose values do not
    match their Feast type (the paths that fall back to Feast's conversion)."""
    import pyarrow as pa
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    from retention_assets.feature_store import online_bulk

    monkeypatch.setattr(online_bulk, "_double_template_holds", lambda: template)
    batch = pa.Table.from_pandas(FRAME.assign(as_text=[0.0, -0.0, 1.5, None, 2.0, 0.0])).to_batches()[0]
    columns = [("spend_30d", ValueType.DOUBLE), ("ratio", ValueType.DOUBLE), ("tickets_30d", ValueType.INT64),
               ("refunds", ValueType.INT64), ("plan", ValueType.STRING), ("eligible", ValueType.BOOL),
               ("flag", ValueType.BOOL), ("as_text", ValueType.STRING), ("tickets_30d", ValueType.DOUBLE)]
    for name, value_type in columns:
        values = batch.column(name).to_numpy(zero_copy_only=False)
        feast = [v.SerializeToString() for v in python_values_to_proto_values(values, value_type)]
        assert list(online_bulk._encoded_column(values, value_type)) == feast, (name, value_type)


def test_online_writer_picks_the_bulk_writer_of_the_store():
    def writer(online: dict):
        return online_writer(FeastConfig("p", "/tmp/unused", "/tmp/unused/registry.db", online))

    assert writer({"type": "redis", "connection_string": REDIS}) is write_redis_in_bulk
    assert writer({"type": "sqlite", "path": "online.db"}) is write_sqlite_in_bulk
    assert writer({"type": "sqlite", "path": "online.db", "vector_enabled": True}) is feast_writer
    assert writer({"type": "postgres"}) is feast_writer


@pytest.mark.parametrize("encoder", ["columns", "feast_rows"])
def test_the_bulk_sqlite_writer_stores_exactly_what_feasts_writer_stores(tmp_path, engine, monkeypatch, encoder):
    """The same rows, byte for byte (values and their text), and the same answers from get_online_features,
    through the column encoder and through the path that takes Feast's own rows."""
    import sqlite3

    from retention_assets.feature_store import online_bulk

    if encoder == "feast_rows":
        monkeypatch.setattr(online_bulk, "_plain_view", lambda view: False)
    else:  # the column encoder must not hand the frame to Feast's rows
        monkeypatch.setattr(online_bulk, "_write_sqlite_from_feast_rows",
                            lambda *args: pytest.fail("took Feast's rows"))
    engine.write_frame("gold", FRAME)
    stores = {}
    for way in ("feast", "bulk"):
        config = FeastConfig(f"{way}_test", str(tmp_path / way), str(tmp_path / way / "registry.db"),
                             {"type": "sqlite", "path": str(tmp_path / way / "online.db")})
        publish(config, engine, f"SELECT * FROM {engine.relation('gold')}", KEY, TS)
        service = apply_model_service(config, "churn_model_v1", FEATURES, "test", KEY, TS)
        store = config.store()
        if way == "feast":
            store.write_to_online_store("churn_model_v1_online", FRAME)
        else:
            write_sqlite_in_bulk(store, "churn_model_v1_online", FRAME)
        stores[way] = (config, service)

    def stored(way: str) -> list[tuple]:
        with sqlite3.connect(tmp_path / way / "online.db") as connection:
            table = f"{way}_test_churn_model_v1_online"
            return connection.execute(f"SELECT entity_key, feature_name, value, value_text, vector_value, event_ts, "
                                      f"created_ts FROM {table} ORDER BY 1, 2").fetchall()

    assert stored("bulk") == stored("feast") and len(stored("bulk")) == len(FRAME) * len(FEATURES)
    ids = ["C", "A", "F", "B", "E", "D"]
    answers = {way: online_features(config, service, KEY, ids, TS) for way, (config, service) in stores.items()}
    pd.testing.assert_frame_equal(answers["bulk"], answers["feast"])
    assert answers["bulk"]["spend_30d"].tolist()[:2] == [-3.5, 20.0]
