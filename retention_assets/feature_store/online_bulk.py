"""Bulk writers for Feast's online stores: what Feast's own writer stores, byte for byte, at a fraction
of its cost.

Feast's `write_to_online_store` builds one protobuf per value in Python (5 microseconds a value for
Redis, 18 for SQLite), so writing customers x features is most of the online store's cost. The
writers here keep Feast's storage format and replace only the per-value work:

* SQLite: Feast's own rows, one `executemany` per batch instead of one statement per value.
* Redis: the hash per entity that `RedisOnlineStore.online_write_batch` writes (same key, same
  field hashes, same serialised `ValueProto`s and `_ts` timestamp, same EXPIRE and timestamp dedup),
  with float64 columns encoded in numpy and other scalar columns converted once per distinct value
  by Feast's own `python_values_to_proto_values`.

Feast is pinned; tests compare the stored bytes with Feast's writer and read them back through
`get_online_features`. `online_writer` picks the writer for a configuration and `write_in_workers`
spreads batches over worker processes (Redis takes concurrent writers, and the Python side is most of
the cost when Redis has cores of its own). Feast and redis are imported inside the functions: they
cost seconds to import.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

    from retention_assets.feature_store.repository import FeastConfig

OnlineWriter = Callable[[Any, str, pd.DataFrame], None]  # (FeatureStore, view name, frame) -> None
PARALLEL_FROM_ROWS = 100_000  # below this, starting worker processes (~4 s of imports each) costs more than it saves
SQLITE_CACHE_KIB = 256 * 1024
REDIS_TYPES = ("redis", "feast.infra.online_stores.redis.RedisOnlineStore")


def bulk_sqlite_applies(config: FeastConfig) -> bool:
    """Whether the online store is Feast's plain SQLite store (no vector or OpenAI-compatible columns)."""
    store = config.online_store
    return (store.get("type") == "sqlite" and not store.get("vector_enabled")
            and not store.get("enable_openai_compatible_store"))


def write_sqlite_in_bulk(store, view_name: str, frame: pd.DataFrame) -> None:
    """What Feast's SQLite online store writes for `frame`, row for row, at a fraction of its cost.

    Feast's writer stores one row per (entity, feature): the serialised entity key, the feature name,
    the serialised `ValueProto`, its text (`extract_text_and_num`), the event and created timestamps,
    one statement per value (18 microseconds a value). Here the columns are serialised at once (the
    same encoder as the Redis writer), the rows go to SQLite in one `executemany` per batch, and
    views the encoder does not model (on-demand, vector fields, a created-timestamp column, null
    timestamps) take Feast's own rows. A test compares the stored rows with Feast's byte for byte.
    """
    from itertools import repeat

    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.utils import _coerce_datetime, to_naive_utc

    view = store.get_feature_view(view_name, allow_registry_cache=True)
    prepared = None if view.batch_source.created_timestamp_column else _prepared_batch(store, view, frame)
    if prepared is _NOTHING:
        return
    if prepared is None:
        _write_sqlite_from_feast_rows(store, view_name, frame)
        return
    batch, features, entity_keys = prepared.batch, prepared.features, prepared.entity_keys
    stamp_codes, stamp_values = prepared.stamp_codes, prepared.stamp_values
    version = store.config.entity_key_serialization_version
    keys = [serialize_entity_key(k, entity_key_serialization_version=version) for k in entity_keys]
    stamps = [to_naive_utc(_coerce_datetime(value)) for value in stamp_values]
    names = [name for name, _ in features]
    encoded = [_encode(batch.column(name).to_numpy(zero_copy_only=False), value_type, with_text=True)
               for name, value_type in features]
    values = np.column_stack([v for v, _ in encoded]).tolist() if encoded else [[] for _ in keys]
    texts = np.column_stack([t for _, t in encoded]).tolist() if encoded else [[] for _ in keys]
    width = len(names)
    params: list[tuple] = []
    for key, code, row_values, row_texts in zip(keys, stamp_codes.tolist(), values, texts):
        params.extend(zip(repeat(key, width), names, row_values, row_texts, repeat(stamps[code], width),
                          repeat(None, width)))
    _sqlite_upsert(store, view, params)


def _sqlite_upsert(store, view, params: list[tuple]) -> None:
    """Feast's upsert of (entity_key, feature_name, value, value_text, event_ts, created_ts) rows, in one
    transaction."""
    from feast.infra.online_stores.sqlite import _quote_id, _table_id

    config = store.config
    table = _quote_id(_table_id(config.project, view, config.registry.enable_online_feature_view_versioning))
    upsert = (f"INSERT INTO {table} (entity_key, feature_name, value, value_text, event_ts, created_ts) "
              "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
              "value_text = excluded.value_text, event_ts = excluded.event_ts, created_ts = excluded.created_ts;")
    connection = store._get_provider().online_store._get_conn(config)
    # A page cache for this connection only (SQLite's default is 2 MB): the upserts touch the table,
    # its primary key and its entity-key index, and a write of 3M rows ran 1.8x faster with 256 MB.
    # The stored bytes are the same.
    connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    with connection:
        connection.executemany(upsert, params)


def _write_sqlite_from_feast_rows(store, view_name: str, frame: pd.DataFrame) -> None:
    """Feast's own rows (its protos, entity keys and `value_text`), one `executemany` per batch: the
    SQLite path for views the column encoder does not model."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import extract_text_and_num
    from feast.utils import to_naive_utc

    config = store.config
    provider = store._get_provider()
    view = store.get_feature_view(view_name)
    rows = provider._prep_rows_to_write_for_ingestion(feature_view=view, df=frame)
    version = config.entity_key_serialization_version
    params = []
    for entity_key, values, timestamp, created in rows:
        key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
        timestamp, created = to_naive_utc(timestamp), (to_naive_utc(created) if created is not None else None)
        params += [(key, name, value.SerializeToString(), extract_text_and_num(value, False)[0], timestamp, created)
                   for name, value in values.items()]
    _sqlite_upsert(store, view, params)


def bulk_redis_applies(config: FeastConfig) -> bool:
    """Whether the online store is Feast's Redis store (plain, cluster or sentinel: the writer uses
    Feast's own client for it)."""
    return config.online_store.get("type") in REDIS_TYPES


def feast_writer(store, view_name: str, frame: pd.DataFrame) -> None:
    """Feast's own writer, for the stores without a bulk writer."""
    store.write_to_online_store(view_name, frame)


def online_writer(config: FeastConfig) -> OnlineWriter:
    """The writer for `config`'s online store: a bulk writer where one exists, else Feast's own."""
    if bulk_redis_applies(config):
        return write_redis_in_bulk
    if bulk_sqlite_applies(config):
        return write_sqlite_in_bulk
    return feast_writer


# -------------------------------------------------------------------------------------------------
# Redis


def write_redis_in_bulk(store, view_name: str, frame: pd.DataFrame) -> None:
    """What `RedisOnlineStore.online_write_batch` stores for `frame`, at about 1.5 microseconds per value
    instead of 4.5-6.5 (145 features; about 0.7 of it is Redis's own HSET time, the same for both).

    The frame goes through Feast's own first steps (the same Arrow table and numpy columns, the same
    entity keys and event timestamps); each column is then serialised at once (see `_encoded_column`)
    and each entity written with one HSET (and EXPIRE when `key_ttl_seconds` is set) in one
    non-transactional pipeline. Unless `skip_dedup`, an entity whose stored `_ts` is at or after the
    row's timestamp (or an earlier row of the batch) is skipped, exactly as Feast does. Views this
    writer does not model (on-demand, vector fields, null timestamps) go to Feast's writer.
    """
    from feast.infra.online_stores.helpers import _mmh3, _redis_key
    from feast.infra.online_stores.redis import _versioned_fv_name

    view = store.get_feature_view(view_name, allow_registry_cache=True)
    prepared = _prepared_batch(store, view, frame)
    if prepared is _NOTHING:
        return
    if prepared is None:
        store.write_to_online_store(view_name, frame)
        return
    batch, features, entity_keys, stamp_values = prepared.batch, prepared.features, prepared.entity_keys, \
        prepared.stamp_values
    stamp_codes = prepared.stamp_codes
    stamp_bytes, stamp_nanos = _redis_stamps(stamp_values)

    config = store.config
    online = config.online_store
    version = config.entity_key_serialization_version
    keys = [_redis_key(config.project, key, entity_key_serialization_version=version) for key in entity_keys]

    view_version = _versioned_fv_name(view, config)
    ts_key = f"_ts:{view_version}".encode()
    client = store._get_provider().online_store._get_client(online)
    kept = None if online.skip_dedup else _newer_rows(client, keys, ts_key, stamp_codes, stamp_nanos)
    if kept is not None and not len(kept):
        return

    # One row per entity: ts_key, ts, field_1, value_1, ... (the order of Feast's mapping).
    items = np.empty((batch.num_rows, 2 * len(features) + 2), dtype=object)
    items[:, 0::2] = np.array([ts_key, *(_mmh3(f"{view_version}:{name}") for name, _ in features)], dtype=object)
    items[:, 1] = np.array(stamp_bytes, dtype=object)[stamp_codes]
    for j, (name, value_type) in enumerate(features):
        items[:, 2 * j + 3] = _encoded_column(batch.column(name).to_numpy(zero_copy_only=False), value_type)
    if kept is not None:
        items, keys = items[kept], [keys[i] for i in kept]

    ttl = online.key_ttl_seconds
    with client.pipeline(transaction=False) as pipe:
        for key, row in zip(keys, items.tolist()):
            pipe.execute_command("HSET", key, *row)
            if ttl:
                pipe.expire(name=key, time=ttl)
        pipe.execute()


def _plain_view(view) -> bool:
    """A batch feature view without vector fields: what `write_redis_in_bulk` models (list-typed
    fields are converted by Feast, value by value)."""
    return (getattr(view, "source_request_sources", None) is None
            and getattr(view, "source_feature_view_projections", None) is None
            and getattr(view, "batch_source", None) is not None
            and not any(f.vector_index or f.vector_length for f in view.features))


@dataclass
class _Prepared:
    """A frame as Feast's writers see it before converting values: its Arrow batch, the view's features
    with their value types, the entity keys, and per row the index of its distinct event timestamp."""

    batch: pa.RecordBatch
    features: list[tuple[str, Any]]
    entity_keys: list
    stamp_codes: np.ndarray
    stamp_values: list  # the distinct event timestamps, as Feast's conversion reads them


_NOTHING = object()  # Feast writes nothing for this frame


def _prepared_batch(store, view, frame: pd.DataFrame) -> _Prepared | object | None:
    """Feast's own first steps of an online write (the same Arrow table and numpy columns, entity keys and
    event timestamps); `_NOTHING` where Feast writes nothing (with its warnings), None for what the bulk
    writers do not model (on-demand views, vector fields, null timestamps): Feast's writer then."""
    import pyarrow as pa
    from feast.utils import _build_entity_keys, _columns_to_proto_values, _run_pyarrow_field_mapping

    if not _plain_view(view):
        return None
    features = [(f.name, f.dtype.to_value_type()) for f in view.features]
    # Feast's write_to_online_store writes nothing, with these warnings, for these frames.
    if frame.empty:
        warnings.warn("Cannot write empty dataframe to online store", stacklevel=3)
        return _NOTHING
    if features and frame[[name for name, _ in features]].isnull().all().all():
        warnings.warn("Cannot write dataframe with empty feature columns to online store", stacklevel=3)
        return _NOTHING
    table = pa.Table.from_pandas(frame)
    if view.batch_source.field_mapping is not None:
        table = _run_pyarrow_field_mapping(table, view.batch_source.field_mapping)
    batch = table.to_batches()[0]  # as Feast's _convert_arrow_fv_to_proto
    column = batch.column(view.batch_source.timestamp_field)
    codes, uniques = pd.factorize(pd.to_datetime(column.to_numpy(zero_copy_only=False)))
    if (codes < 0).any():
        return None
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in view.entity_columns}
    for name in [*(name for name, _ in features), *join_keys]:
        if name not in batch.column_names:
            raise ValueError(f"Column {name} not found in table")
    entity_keys = _build_entity_keys(batch.num_rows, join_keys,
                                     _columns_to_proto_values(batch, list(join_keys.items())))
    return _Prepared(batch, features, entity_keys, codes, list(uniques))


def _redis_stamps(values: list) -> tuple[list[bytes], list[int]]:
    """Per distinct event timestamp the serialised protobuf Timestamp and its nanoseconds, as Feast's
    Redis writer makes them."""
    from feast.utils import _coerce_datetime, make_tzaware
    from google.protobuf.timestamp_pb2 import Timestamp

    serialized, nanos = [], []
    for value in values:
        stamp = Timestamp()
        stamp.FromDatetime(make_tzaware(_coerce_datetime(value)))
        serialized.append(stamp.SerializeToString())
        nanos.append(stamp.seconds * 1_000_000_000 + stamp.nanos)
    return serialized, nanos


def _newer_rows(client, keys: list[bytes], ts_key: bytes, stamp_codes: np.ndarray, stamp_nanos: list[int]) -> list[int]:
    """The rows Feast's dedup writes: newer than the stored `_ts` and than any earlier row of the batch
    for the same key (a stored or queued timestamp at or after the row's skips it)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, ts_key)
        previous = [answer[0] for answer in pipe.execute()]
    kept, latest = [], {}
    for i, (key, stored, code) in enumerate(zip(keys, previous, stamp_codes.tolist())):
        new = stamp_nanos[code]
        stored_nanos = 0
        if stored:
            stamp = Timestamp()
            stamp.ParseFromString(stored)
            stored_nanos = stamp.seconds * 1_000_000_000 + stamp.nanos
        seen = max(stored_nanos, latest.get(key, 0))
        if seen and new <= seen:
            continue
        latest[key] = new
        kept.append(i)
    return kept


_DOUBLE_RECORD = np.dtype([("tag", "u1"), ("value", "<f8")])  # packed: 9 bytes, the field tag and the double
_DOUBLE_TAG = 0x29  # field 5 (double_val) of feast.types.Value, wire type 1 (64-bit)


def _encoded_column(values: np.ndarray, value_type) -> np.ndarray | list[bytes]:
    """The serialised `ValueProto` of every value of one column, as Feast's conversion makes them."""
    return _encode(values, value_type)[0]


def _encode(values: np.ndarray, value_type, with_text: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The serialised `ValueProto` of every value of one column, as Feast's conversion makes them, and
    with `with_text` their `value_text` (what Feast's SQL online stores store beside them).

    float64 doubles: a numpy template (tag + 8 little-endian bytes; nulls empty), checked against
    Feast at first use; their text is Python's `str` of the double. Ints, bools and strings: Feast
    converts each distinct value once (their bytes depend on the value alone, and equal values are
    equal here). Anything else: Feast, value by value.
    """
    from feast.infra.online_stores.helpers import extract_text_and_num
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    if value_type == ValueType.DOUBLE and values.dtype == np.float64 and _double_template_holds():
        texts = None
        if with_text:
            texts = np.array([str(v) for v in values.tolist()], dtype=object)
            texts[np.isnan(values)] = None
        return _doubles(values), texts
    if _distinct_values_suffice(values, value_type):
        codes, uniques = pd.factorize(values)
        protos = python_values_to_proto_values(uniques, value_type)
        encoded = np.array([*(v.SerializeToString() for v in protos), _null_bytes()], dtype=object)[codes]
        texts = None
        if with_text:  # code -1 (null) -> the last
            texts = np.array([*(extract_text_and_num(v, False)[0] for v in protos), None], dtype=object)[codes]
        return encoded, texts
    protos = python_values_to_proto_values(values, value_type)
    encoded = np.array([v.SerializeToString() for v in protos], dtype=object)
    return encoded, (np.array([extract_text_and_num(v, False)[0] for v in protos], dtype=object)
                     if with_text else None)


def _distinct_values_suffice(values: np.ndarray, value_type) -> bool:
    """Whether values that pandas factorizes together serialise alike: ints of any numeric column
    (-0.0 and 0.0 are both int 0), strings and bools only from string/bool columns (str(-0.0) is not
    str(0.0), Decimal('0') equals Decimal('0.0'))."""
    from feast.value_type import ValueType

    if value_type in (ValueType.INT32, ValueType.INT64):
        return values.dtype.kind in "iufb" or pd.api.types.infer_dtype(values, skipna=True) in ("integer", "empty")
    if value_type == ValueType.STRING:
        return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    if value_type == ValueType.BOOL:
        return values.dtype.kind == "b" or (
            values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("boolean", "empty"))
    return False


def _doubles(values: np.ndarray) -> np.ndarray:
    records = np.empty(len(values), dtype=_DOUBLE_RECORD)
    records["tag"] = _DOUBLE_TAG
    records["value"] = values
    encoded = np.empty(len(values), dtype=object)
    encoded[:] = records.view(f"V{_DOUBLE_RECORD.itemsize}").tolist()  # bytes, trailing zeros kept (not "S9")
    encoded[np.isnan(values)] = _null_bytes()
    return encoded


@lru_cache(maxsize=1)
def _null_bytes() -> bytes:
    from feast.protos.feast.types.Value_pb2 import Value

    return Value().SerializeToString()


@lru_cache(maxsize=1)
def _double_template_holds() -> bool:
    """Whether the numpy double template gives Feast's bytes for probe values (signed zeros,
    extremes, subnormals, infinities, NaN); if Feast ever encodes doubles otherwise, its own
    conversion is used."""
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    probes = np.array([0.0, -0.0, 1.0, -1.5, 0.1, 3.141592653589793, 2.0**53 + 2, -1e300, 1e-300, 5e-324,
                       np.finfo(np.float64).max, np.inf, -np.inf, np.nan, 123456789.125])
    feast = [v.SerializeToString() for v in python_values_to_proto_values(probes, ValueType.DOUBLE)]
    return _doubles(probes).tolist() == feast


# -------------------------------------------------------------------------------------------------
# worker processes


def online_workers(config: FeastConfig, rows: int) -> int:
    """Writer processes for a materialization of `rows` rows: one per core for Redis from
    PARALLEL_FROM_ROWS rows on, else 1 (SQLite's file takes one writer at a time). The gain is
    bounded by Redis's own HSET time: small when Redis shares the machine's few cores."""
    from retention_assets.core.processes import available_cores

    cores = available_cores()
    return cores if bulk_redis_applies(config) and rows >= PARALLEL_FROM_ROWS and cores > 1 else 1


_WORKER: dict[str, Any] = {}


def _start_worker(config: FeastConfig) -> None:
    _WORKER["config"] = config


def _write_in_worker(view_name: str, rows: pa.RecordBatch) -> int:
    import gc

    if "store" not in _WORKER:  # here, not in the initializer: a failure reaches the caller with its traceback
        _WORKER["store"] = _WORKER["config"].store()  # its own FeatureStore, hence its own Redis connection
        _WORKER["write"] = online_writer(_WORKER["config"])
    frame = rows.to_pandas()
    gc.disable()  # many short-lived objects, no cycles: the collector only adds time
    try:
        _WORKER["write"](_WORKER["store"], view_name, frame)
    finally:
        gc.enable()
    return len(frame)


def write_in_workers(config: FeastConfig, view_name: str, batches: Iterable[pa.RecordBatch], workers: int) -> int:
    """Write Arrow batches to the online store from `workers` spawned processes while the caller keeps
    reading batches; at most two batches per worker in flight, so memory stays bounded. Returns the
    rows written."""
    from functools import partial

    from retention_assets.core.processes import map_in_processes

    return sum(map_in_processes(partial(_write_in_worker, view_name), batches, workers=workers,
                                initializer=_start_worker, initargs=(config,)))
