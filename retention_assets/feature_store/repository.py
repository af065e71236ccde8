"""The project's Feast repository, defined in code from the gold table's schema.

One entity (the customer key), one file source written from gold without its label columns, one
feature view `churn_features` (every gold feature, timestamp `feature_timestamp`) for training, and
per registered model version a view `churn_model_v<N>_online` over the same source with exactly the
features that version reads, and the feature service `churn_model_v<N>` on it. Only the champion's
view is written to the online store, so the online store holds what serving needs and nothing more.
Training sets are the as-of join of `point_in_time.py` on the engine, checked against Feast's own
`get_historical_features`; serving reads the online store through the champion's feature service.

Feast is imported inside the functions: it costs ~4 s and the definitions must load fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from retention_assets.core.files import atomic_write
from retention_assets.engine.base import Engine

VIEW = "churn_features"
ENTITY = "customer"
SOURCE = "churn_features_source"
ENTITY_TIMESTAMP = "event_timestamp"  # the column name Feast expects in an entity frame
ONLINE_BATCH = 5000


@dataclass(frozen=True)
class FeastConfig:
    """Where the repository lives: registry (a file or a SQL URL), online store, offline source files."""

    project: str
    repo_path: str
    registry: str
    online_store: dict[str, Any] = field(default_factory=dict)

    @property
    def source_path(self) -> Path:
        return Path(self.repo_path) / "data" / f"{VIEW}.parquet"

    def as_yaml(self) -> dict[str, Any]:
        registry: Any = self.registry
        if "://" in self.registry:  # a database: Feast's SQL registry
            registry = {"registry_type": "sql", "path": self.registry, "cache_ttl_seconds": 60}
        return {"project": self.project, "provider": "local", "registry": registry,
                "online_store": dict(self.online_store), "offline_store": {"type": "file"},
                "entity_key_serialization_version": 3}

    def store(self):
        """A FeatureStore for this configuration; also writes `feature_store.yaml` so the Feast CLI
        (`feast -c <repo_path> feature-views list`) and UI see the same repository."""
        from feast import FeatureStore
        from feast.repo_config import RepoConfig

        repo = Path(self.repo_path)
        repo.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(self.as_yaml(), sort_keys=False)
        target = repo / "feature_store.yaml"
        if not target.exists() or target.read_text() != body:
            atomic_write(target, lambda tmp: tmp.write_text(body))
        return FeatureStore(config=RepoConfig(repo_path=str(repo), **self.as_yaml()))


KIND_TYPES = {"boolean": "Bool", "integer": "Int64", "float": "Float64"}


def feast_type(kind: str):
    """The Feast type of an engine column kind (`retention_assets.engine.base.ColumnKind`)."""
    from feast import types

    return getattr(types, KIND_TYPES.get(kind, "String"))


def _entity_and_source(config: FeastConfig, key: str, timestamp: str):
    from feast import Entity, FileSource, ValueType

    entity = Entity(name=ENTITY, join_keys=[key], value_type=ValueType.STRING,
                    description="A customer of the entity table")
    source = FileSource(name=SOURCE, path=str(config.source_path), timestamp_field=timestamp)
    return entity, source


def _view(name: str, entity, source, kinds: dict[str, str], online: bool, description: str):
    from feast import FeatureView, Field

    schema = [Field(name=c, dtype=feast_type(kind)) for c, kind in kinds.items()]
    # ttl 0 = no expiry: a training row takes the latest feature row at or before its own timestamp.
    return FeatureView(name=name, entities=[entity], ttl=timedelta(0), schema=schema, source=source, online=online,
                       description=description)


@dataclass(frozen=True)
class Published:
    """What `stage_offline` applied: the view, its features with their kinds, and the source file."""

    project: str
    view: str
    features: dict[str, str]  # feature -> engine column kind
    source: str
    rows: int
    registry: str


def stage_offline(config: FeastConfig, engine: Engine, table: str, key: str, timestamp: str) -> Published:
    """Give a generation's repository its offline source (the engine's snapshot of `table`: a hard link
    on DuckDB) and apply the entity, source and view to its registry."""
    rows = engine.snapshot(table, config.source_path)
    kinds = engine.column_kinds(engine.file_relation(config.source_path, "parquet"))
    features = {c: k for c, k in kinds.items() if c not in (key, timestamp)}
    store = config.store()
    entity, source = _entity_and_source(config, key, timestamp)
    view = _view(VIEW, entity, source, features, online=False,
                 description="Gold features per customer and feature_timestamp (labels kept apart), for training")
    store.apply([entity, source, view])
    return Published(config.project, VIEW, features, str(config.source_path), rows, config.registry)


@dataclass(frozen=True)
class FeastLayout:
    """Where each generation's Feast repository lives. Every generation is a Feast project of its own
    (`<project>_<generation>`), so a run stages its registry objects and online rows beside the published
    ones and never over them: the registry is one file per generation (`registry=None`) or a database shared
    by all (projects keep them apart); the online store is one SQLite file per generation or a shared Redis
    (keys carry the project)."""

    project: str
    registry: str | None
    online_store: dict[str, Any]

    def config(self, directory: Path, generation: str) -> FeastConfig:
        repo = Path(directory) / "feast"
        online = dict(self.online_store)
        if online.get("type") == "sqlite":
            online["path"] = str(repo / "online_store.db")
        return FeastConfig(f"{self.project}_{generation}", str(repo), self.registry or str(repo / "registry.db"),
                           online)


def teardown_generation(config: FeastConfig) -> int:
    """Remove what a generation's Feast project holds outside its own directory (its objects in a shared
    SQL registry, its keys in a shared Redis). Returns the number of online keys deleted."""
    from retention_assets.feature_store.online_bulk import bulk_redis_applies

    deleted = 0
    store = config.store()
    if bulk_redis_applies(config):
        client = store._get_provider().online_store._get_client(store.config.online_store)
        with client.pipeline(transaction=False) as pipe:
            for count, name in enumerate(client.scan_iter(match=b"*" + config.project.encode(), count=10_000), 1):
                pipe.unlink(name)
                deleted = count
                if count % 10_000 == 0:
                    pipe.execute()
            pipe.execute()
    if "://" in config.registry:
        from feast.errors import ProjectNotFoundException

        try:
            store.registry.delete_project(config.project)
        except ProjectNotFoundException:
            pass
    return deleted


def historical_features(config: FeastConfig, entity_rows: pd.DataFrame, key: str, timestamp: str,
                        features: list[str]) -> pd.DataFrame:
    """Features as of each entity row's own timestamp from Feast, one output row per entity row, in their order.

    `entity_rows` holds the key, the timestamp and any passthrough columns (labels); Feast joins
    each row to the latest feature row at or before its timestamp. Feast's file offline store drops
    entity rows that have no feature row yet; they come back here with null features instead, so
    the caller sees every row it asked for.
    """
    order = "__retention_row"
    request = entity_rows.rename(columns={timestamp: ENTITY_TIMESTAMP}).assign(**{order: range(len(entity_rows))})
    request[key] = request[key].astype(str)
    job = config.store().get_historical_features(entity_df=request, features=[f"{VIEW}:{f}" for f in features])
    found = job.to_df()[[order, *features]]
    result = request.merge(found, on=order, how="left", validate="one_to_one").sort_values(order, kind="stable")
    return result.drop(columns=[order]).reset_index(drop=True).rename(columns={ENTITY_TIMESTAMP: timestamp})


@contextmanager
def restricted_view(config: FeastConfig, engine: Engine, key: str, keys: list[str]) -> Iterator[FeastConfig]:
    """A scratch local Feast repository holding the published view (same entity, timestamp field,
    features and types) over only `keys`' rows of the published source, for checks that ask Feast
    about a sample of customers without Feast loading every customer. Removed afterwards."""
    import shutil

    directory = Path(config.repo_path) / ".verify"
    shutil.rmtree(directory, ignore_errors=True)
    scratch = FeastConfig(f"{config.project}_verify", str(directory), str(directory / "registry.db"),
                          {"type": "sqlite", "path": str(directory / "online_store.db")})
    try:
        q, d = engine.dialect.ident, engine.dialect
        source = engine.file_relation(config.source_path, "parquet")
        with engine.registered("__restricted_keys", pd.DataFrame({key: keys})) as wanted:
            engine.export(f"SELECT s.* FROM {source} s WHERE {d.as_string('s.' + q(key))} IN "
                          f"(SELECT {q(key)} FROM {wanted})", scratch.source_path)
        published = config.store().get_feature_view(VIEW)
        entity, scratch_source = _entity_and_source(scratch, key, published.batch_source.timestamp_field)
        view = _view(VIEW, entity, scratch_source, {f.name: _kind_of(f.dtype) for f in published.features},
                     online=False, description=f"{published.description} (restricted to {len(keys)} customers)")
        scratch.store().apply([entity, scratch_source, view])
        yield scratch
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def service_name(model_name: str, version: str) -> str:
    return f"{model_name}_v{version}"


def online_view_name(service: str) -> str:
    return f"{service}_online"


def apply_model_service(config: FeastConfig, name: str, features: list[str], description: str, key: str,
                        timestamp: str) -> str:
    """The online view and the feature service of one model version: exactly the features it reads."""
    from feast import FeatureService

    store = config.store()
    offline = store.get_feature_view(VIEW)
    kinds = {f.name: _kind_of(f.dtype) for f in offline.features}
    missing = [f for f in features if f not in kinds]
    if missing:
        raise ValueError(f"feature service {name}: the view {VIEW} does not publish {missing[:10]}")
    entity, source = _entity_and_source(config, key, timestamp)
    view = _view(online_view_name(name), entity, source, {f: kinds[f] for f in features}, online=True,
                 description=f"The online features of {name}")
    store.apply([view, FeatureService(name=name, features=[view], description=description)])
    return name


def _kind_of(dtype) -> str:
    names = {v: k for k, v in KIND_TYPES.items()}
    return names.get(str(dtype), "string")


def service_features(config: FeastConfig, service: str) -> list[str]:
    store = config.store()
    return [f.name for projection in store.get_feature_service(service).feature_view_projections
            for f in projection.features]


def materialize_online(config: FeastConfig, engine: Engine, service: str, as_of: datetime, key: str, timestamp: str,
                       batch: int = ONLINE_BATCH, workers: int | None = None) -> int:
    """Write the scoring snapshot (rows stamped exactly `as_of`) of one service's features to the online
    store, streamed from the engine in batches.

    Only the columns the service reads are written (the online store's cost is customers x features).
    Redis and SQLite get the bulk writers of `online_bulk` (Feast's bytes, a fraction of its cost),
    other stores Feast's own writer. For Redis, from `online_bulk.PARALLEL_FROM_ROWS` rows on the
    batches are written by one worker process per core while this process keeps reading (`workers`
    overrides the count; other stores are always written in-process). Returns the number of
    customers written.
    """
    import gc

    from retention_assets.feature_store.online_bulk import (
        bulk_redis_applies,
        online_workers,
        online_writer,
        write_in_workers,
    )

    view = online_view_name(service)
    columns = service_features(config, service)
    q = engine.dialect.ident
    relation = (f"FROM {engine.file_relation(config.source_path, 'parquet')} "
                f"WHERE {q(timestamp)} = {engine.dialect.timestamp(as_of)}")
    sql = f"SELECT {', '.join(q(c) for c in (key, timestamp, *columns))} {relation} ORDER BY {q(key)}"
    if bulk_redis_applies(config):
        if workers is None:
            workers = online_workers(config, int(engine.scalar(f"SELECT count(*) {relation}")))
        if workers > 1:
            return write_in_workers(config, view, engine.batches(sql, batch), workers)

    store = config.store()
    write = online_writer(config)
    written = 0
    enabled = gc.isenabled()
    gc.disable()  # many short-lived objects (Feast: one protobuf per value); the cyclic collector only adds time
    try:
        for rows in engine.batches(sql, batch):
            frame = rows.to_pandas()
            write(store, view, frame)
            written += len(frame)
    finally:
        if enabled:
            gc.enable()
    return written


def online_features(config: FeastConfig, service: str, key: str, ids: list[str], timestamp: str) -> pd.DataFrame:
    """The online features of `service` for `ids`, in the order asked, with each row's feature
    timestamp (null for a customer the online store does not know); batched reads."""
    store = config.store()
    feature_service = store.get_feature_service(service)
    frames = []
    for start in range(0, len(ids), ONLINE_BATCH):
        rows = [{key: str(i)} for i in ids[start:start + ONLINE_BATCH]]
        answer = store.get_online_features(features=feature_service, entity_rows=rows).to_dict(
            include_event_timestamps=True)
        stamps = pd.DataFrame({k: v for k, v in answer.items() if k.endswith("__ts") and k != f"{key}__ts"})
        frame = pd.DataFrame({k: v for k, v in answer.items() if not k.endswith("__ts")})
        seconds = stamps.max(axis=1) if len(stamps.columns) else pd.Series(0, index=frame.index)
        frame[timestamp] = pd.to_datetime(seconds.where(seconds > 0), unit="s", utc=True)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[key, timestamp])


def source_sql(engine: Engine, gold_table: str) -> str:
    """Gold without its label columns and row role: what the feature store may publish."""
    from retention_assets.core.columns import (
        LABEL,
        LABEL_AVAILABLE,
        LABEL_TIMESTAMP,
        ROW_ROLE,
    )

    q = engine.dialect.ident
    gold = engine.relation(gold_table)
    kept = [c for c in engine.column_types(gold) if c not in (LABEL, LABEL_TIMESTAMP, LABEL_AVAILABLE, ROW_ROLE)]
    return f"SELECT {', '.join(q(c) for c in kept)} FROM {gold}"


def source_timestamps(engine: Engine, config: FeastConfig) -> list[tuple[datetime, int]]:
    """Rows of the offline source per feature timestamp."""
    from retention_assets.core.columns import FEATURE_TIMESTAMP

    ts = engine.dialect.ident(FEATURE_TIMESTAMP)
    return engine.rows(f"SELECT {ts}, count(*) FROM {engine.file_relation(config.source_path, 'parquet')} "
                       f"GROUP BY 1 ORDER BY 1")


def source_preview(engine: Engine, config: FeastConfig, rows: int = 5) -> tuple[pd.DataFrame, dict[str, str]]:
    """The first rows of the offline source and its column types, for the asset's metadata."""
    relation = engine.file_relation(config.source_path, "parquet")
    return engine.frame(f"SELECT * FROM {relation} LIMIT {int(rows)}"), engine.column_types(relation)
