"""Which services the graph talks to: the embedded `local` profile or the `production` one.

The asset graph is the same in both; only these endpoints change.

    local (default)  MLflow on SQLite; per generation a Feast registry file and SQLite online store,
                     all in the data dir
    production       MLflow tracking and the Feast registry on Postgres, the online store on Redis
                     (each generation a Feast project `<project>_<generation>` in both)
                     (and the Dagster instance on Postgres: deploy/production/dagster.yaml)

Select with `RETENTION_PROFILE=production`. Production endpoints come from environment variables
(defaults are the services every development and CI machine runs):

    RETENTION_POSTGRES_URL   postgresql://postgres@127.0.0.1:5432   server for the databases below
    RETENTION_MLFLOW_DB      retention_mlflow                        MLflow tracking store
    RETENTION_FEAST_DB       retention_feast                         Feast SQL registry
    RETENTION_REDIS          127.0.0.1:6379                          Feast online store (host:port[,db=N])
    RETENTION_FEAST_PROJECT  retention                               Feast project (namespaces Redis keys)
    RETENTION_DAGSTER_PG_URL <server>/retention_dagster              Dagster instance (deploy/production;
                                                                     a postgresql+psycopg2:// URL)

Databases that do not exist yet are created on first use (`retention services` creates them all).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

PROFILE_ENV_VAR = "RETENTION_PROFILE"
PROFILES = ("local", "production")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "127.0.0.1:6379"
DAGSTER_URL_ENV_VAR = "RETENTION_DAGSTER_PG_URL"
PRODUCTION_DAGSTER_HOME = Path(__file__).resolve().parent.parent / "deploy" / "production"


EXECUTOR_ENV_VAR = "RETENTION_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess")
ENGINE_ENV_VAR = "RETENTION_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_REMOTE_ENV_VAR = "RETENTION_SPARK_REMOTE"  # sc://host:port; unset: an embedded Sail server


class ServiceProfile(BaseModel):
    name: Literal["local", "production"]
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_remote: str | None = None

    @property
    def table_format(self) -> str:
        return "delta" if self.engine == "spark" else "parquet"
    executor: Literal["in_process", "multiprocess"] = "in_process"
    mlflow_tracking_uri: str
    mlflow_artifact_location: str
    feast_project: str
    feast_registry: str | None  # None: one registry file in each generation's repository
    feast_online_store: dict[str, str]  # sqlite: one file in each generation's repository

    @property
    def table_kinds(self) -> set[str]:
        """What the UI shows as the kinds of the assets whose tables the engine writes."""
        return {self.engine, self.table_format}

    def tracking(self, experiment: str = "retention-churn", model: str = "churn_model"):
        from retention_assets.model.tracking import TrackingConfig

        return TrackingConfig(self.mlflow_tracking_uri, self.mlflow_artifact_location, experiment, model)

    def feast(self):
        """Where each generation's Feast repository lives (the published one: `publication.read_release`)."""
        from retention_assets.feature_store.repository import FeastLayout

        return FeastLayout(self.feast_project, self.feast_registry, dict(self.feast_online_store))


def profile_name(name: str | None = None) -> str:
    chosen = name or os.environ.get(PROFILE_ENV_VAR) or "local"
    if chosen not in PROFILES:
        raise ValueError(f"{PROFILE_ENV_VAR}={chosen!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return chosen


def executor_name() -> str:
    """How a run's steps execute: all in one process (the default: one import of the heavy libraries per
    run, as fast as the CLI) or one process per step (`RETENTION_EXECUTOR=multiprocess`: isolation and
    parallel steps, at the price of every step re-importing the code location)."""
    chosen = os.environ.get(EXECUTOR_ENV_VAR) or "in_process"
    if chosen not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV_VAR}={chosen!r} is not an executor; choose one of {', '.join(EXECUTORS)}")
    return chosen


def engine_name() -> str:
    """Which engine runs the set-based layers: DuckDB (default) or Spark through Spark Connect
    (`RETENTION_ENGINE=spark`, at `RETENTION_SPARK_REMOTE` or on an embedded Sail server)."""
    chosen = os.environ.get(ENGINE_ENV_VAR) or "duckdb"
    if chosen not in ENGINES:
        raise ValueError(f"{ENGINE_ENV_VAR}={chosen!r} is not an engine; choose one of {', '.join(ENGINES)}")
    return chosen


def build_profile(data_path: Path, name: str | None = None) -> ServiceProfile:
    """The endpoints of a profile for a project whose outputs live in `data_path`."""
    chosen = profile_name(name)
    executor = executor_name()
    engine = {"engine": engine_name(), "spark_remote": os.environ.get(SPARK_REMOTE_ENV_VAR) or None}
    artifacts = (data_path / "mlflow" / "artifacts").as_uri()
    project = os.environ.get("RETENTION_FEAST_PROJECT", "retention")
    if chosen == "local":
        return ServiceProfile(
            name="local", executor=executor, **engine, mlflow_tracking_uri=f"sqlite:///{data_path / 'mlflow' / 'mlflow.db'}",
            mlflow_artifact_location=artifacts, feast_project=project, feast_registry=None,
            feast_online_store={"type": "sqlite"},
        )
    server = postgres_server()
    return ServiceProfile(
        name="production", executor=executor, **engine,
        mlflow_tracking_uri=f"{server}/{os.environ.get('RETENTION_MLFLOW_DB', 'retention_mlflow')}",
        mlflow_artifact_location=os.environ.get("RETENTION_MLFLOW_ARTIFACTS", artifacts),
        feast_project=project,
        feast_registry=f"{server.replace('postgresql://', 'postgresql+psycopg://', 1)}/"
                       f"{os.environ.get('RETENTION_FEAST_DB', 'retention_feast')}",
        feast_online_store={"type": "redis", "connection_string": os.environ.get("RETENTION_REDIS", DEFAULT_REDIS)},
    )


def postgres_server() -> str:
    return os.environ.get("RETENTION_POSTGRES_URL", DEFAULT_POSTGRES).rstrip("/")


def dagster_postgres_url() -> str:
    """The Dagster instance's database (deploy/production/dagster.yaml reads it from the environment)."""
    # dagster-postgres needs psycopg2 (its NOTIFY statements fail under psycopg 3, SQLAlchemy's default).
    server = postgres_server().replace("postgresql://", "postgresql+psycopg2://", 1)
    return os.environ.get(DAGSTER_URL_ENV_VAR) or f"{server}/retention_dagster"


def ensure_production_services(profile: ServiceProfile) -> dict[str, str]:
    """Create the production databases if missing; check Redis answers. Returns what was checked."""
    import redis

    for url in (profile.mlflow_tracking_uri, profile.feast_registry or "", dagster_postgres_url()):
        ensure_postgres_database(url)
    host, _, rest = profile.feast_online_store["connection_string"].partition(":")
    port = int(rest.split(",")[0] or 6379)
    redis.Redis(host=host, port=port, socket_connect_timeout=5).ping()
    return {"mlflow": profile.mlflow_tracking_uri, "feast registry": profile.feast_registry,
            "dagster": dagster_postgres_url(), "redis": profile.feast_online_store["connection_string"]}


def ensure_postgres_database(url: str) -> None:
    """Create the database named at the end of a postgresql:// URL if it does not exist."""
    if not url.startswith("postgresql"):
        return
    import psycopg
    from psycopg import sql

    server, _, database = url.rpartition("/")
    conninfo = server.split("://", 1)[1]
    with psycopg.connect(f"postgresql://{conninfo}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:  # another step created it first
                pass
