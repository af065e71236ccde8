"""Which services the graph talks to: the embedded `local` profile, `production`, or `databricks`.

The asset graph is the same in all three; only these endpoints change.

    local (default)  MLflow on SQLite; per generation a Feast registry file and SQLite online store,
                     all in the data dir
    production       MLflow tracking and the Feast registry on Postgres, the online store on Redis
                     (each generation a Feast project `<project>_<generation>` in both)
                     (and the Dagster instance on Postgres: deploy/production/dagster.yaml)
    databricks       the set-based steps as Databricks jobs through Dagster Pipes (a job cluster, or
                     serverless with a Volume), tables as external Delta tables in Unity Catalog (the
                     settings' `unity_catalog`), the model in the Unity Catalog registry; the Dagster
                     process reads tables through Spark Connect (Databricks Connect on a workspace)

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

The databricks profile reads (credentials only from the environment, never from files or metadata):

    DATABRICKS_HOST, DATABRICKS_TOKEN       the workspace (or OAuth: DATABRICKS_CLIENT_ID/_SECRET)
    RETENTION_SPARK_REMOTE                  Spark Connect URL for the Dagster process's reads (required)
    RETENTION_MLFLOW_TRACKING_URI           databricks                    (registry: databricks-uc)
    RETENTION_DATABRICKS_COMPUTE            job_cluster | serverless      (default job_cluster)
    RETENTION_DATABRICKS_CODE               dbfs:/retention/code          where `retention databricks-deploy`
                                                                          put the wheel and the entry point
    RETENTION_DATABRICKS_VOLUME             /Volumes/main/retention_ml/pipes   Pipes files (serverless)
    RETENTION_DATABRICKS_SPARK_VERSION      16.4.x-scala2.12  (job clusters; also _NODE_TYPE, _WORKERS)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from retention_assets.settings import Settings

PROFILE_ENV_VAR = "RETENTION_PROFILE"
PROFILES = ("local", "production", "databricks")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "127.0.0.1:6379"
DAGSTER_URL_ENV_VAR = "RETENTION_DAGSTER_PG_URL"
PRODUCTION_DAGSTER_HOME = Path(__file__).resolve().parent.parent / "deploy" / "production"


EXECUTOR_ENV_VAR = "RETENTION_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess")
ENGINE_ENV_VAR = "RETENTION_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_REMOTE_ENV_VAR = "RETENTION_SPARK_REMOTE"  # sc://host:port; unset: an embedded Sail server


class DatabricksCompute(BaseModel):
    """How the databricks profile's steps are submitted (from the environment, see the module docstring)."""

    compute: Literal["job_cluster", "serverless"] = "job_cluster"
    code_root: str = "dbfs:/retention/code"
    volume_path: str = "/Volumes/main/retention_ml/pipes"
    spark_version: str = "16.4.x-scala2.12"
    node_type_id: str = "i3.xlarge"
    num_workers: int = 1
    poll_interval_seconds: float = 5.0

    @classmethod
    def from_environment(cls) -> DatabricksCompute:
        env = os.environ.get
        values = {"compute": env("RETENTION_DATABRICKS_COMPUTE"), "code_root": env("RETENTION_DATABRICKS_CODE"),
                  "volume_path": env("RETENTION_DATABRICKS_VOLUME"),
                  "spark_version": env("RETENTION_DATABRICKS_SPARK_VERSION"),
                  "node_type_id": env("RETENTION_DATABRICKS_NODE_TYPE"),
                  "num_workers": env("RETENTION_DATABRICKS_WORKERS"),
                  "poll_interval_seconds": env("RETENTION_DATABRICKS_POLL_SECONDS")}
        return cls(**{k: v for k, v in values.items() if v})


class ServiceProfile(BaseModel):
    name: Literal["local", "production", "databricks"]
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_remote: str | None = None
    mlflow_registry_uri: str | None = None  # None: the tracking store's registry
    registered_model_name: str = "churn_model"
    catalog: dict | None = None  # a CatalogLayout (databricks): tables in Unity Catalog
    databricks: DatabricksCompute | None = None

    @property
    def table_format(self) -> str:
        return "delta" if self.engine == "spark" else "parquet"
    executor: Literal["in_process", "multiprocess"] = "in_process"
    mlflow_tracking_uri: str
    mlflow_artifact_location: str | None
    feast_project: str
    feast_registry: str | None  # None: one registry file in each generation's repository
    feast_online_store: dict[str, str]  # sqlite: one file in each generation's repository

    @property
    def table_kinds(self) -> set[str]:
        """What the UI shows as the kinds of the assets whose tables the engine writes."""
        return {"databricks" if self.databricks else self.engine, self.table_format}

    def tracking(self, experiment: str = "retention-churn"):
        from retention_assets.model.tracking import TrackingConfig

        return TrackingConfig(self.mlflow_tracking_uri, self.mlflow_artifact_location, experiment,
                              self.registered_model_name, self.mlflow_registry_uri)

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


def build_profile(settings: Settings | Path, name: str | None = None) -> ServiceProfile:
    """The endpoints of a profile for a project (its settings, or only the directory its outputs live in)."""
    from retention_assets.settings import Settings, UnityCatalogSettings

    data_path = settings.data_path if isinstance(settings, Settings) else Path(settings)
    chosen = profile_name(name)
    executor = executor_name()
    engine = {"engine": engine_name(), "spark_remote": os.environ.get(SPARK_REMOTE_ENV_VAR) or None}
    artifacts = (data_path / "mlflow" / "artifacts").as_uri()
    project = os.environ.get("RETENTION_FEAST_PROJECT", "retention")
    if chosen == "databricks":
        uc = settings.unity_catalog if isinstance(settings, Settings) else UnityCatalogSettings()
        return databricks_profile(data_path, uc, executor, project)
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


def databricks_profile(data_path: Path, uc, executor: str, project: str) -> ServiceProfile:
    """Spark through Pipes and Spark Connect, tables and the model in Unity Catalog; Feast as on `local`."""
    from retention_assets.engine.catalog import CatalogLayout

    remote = os.environ.get(SPARK_REMOTE_ENV_VAR)
    if not remote:
        raise ValueError(f"the databricks profile needs {SPARK_REMOTE_ENV_VAR}: the Spark Connect URL the Dagster "
                         "process reads tables through (Databricks Connect on a workspace)")
    tracking = os.environ.get("RETENTION_MLFLOW_TRACKING_URI") or "databricks"
    layout = CatalogLayout(uc.catalog, uc.storage_root or (data_path / "lake").as_uri(), dict(uc.schemas))
    return ServiceProfile(
        name="databricks", executor=executor, engine="spark", spark_remote=remote,
        mlflow_tracking_uri=tracking,
        mlflow_registry_uri="databricks-uc", registered_model_name=uc.registered_model,
        mlflow_artifact_location=os.environ.get("RETENTION_MLFLOW_ARTIFACTS") or (
            None if tracking == "databricks" else (data_path / "mlflow" / "artifacts").as_uri()),
        catalog=layout.to_dict(), databricks=DatabricksCompute.from_environment(),
        feast_project=project, feast_registry=None, feast_online_store={"type": "sqlite"},
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
