"""Where set-based work runs and its tables live: one engine resource per track.

Assets ask `compute.engine()` for an `Engine` and hand it to the framework-free functions; they never
name the engine or build SQL. The local and production profiles use DuckDB on Parquet; the
Databricks track adds a Spark Connect variant behind the same base.
"""

from __future__ import annotations

from abc import abstractmethod

import dagster as dg

from retention_assets.resources.publication import RunGuard


class EngineResource(dg.ConfigurableResource):
    """The engine of a profile; `engine()` opens a session (use it as a context manager). It carries the
    run guard, so every run that computes a table holds the data directory's run lock."""

    guard: RunGuard

    @property
    @abstractmethod
    def kind(self) -> str:
        """The engine's name, shown as a kind on the assets it computes."""

    @abstractmethod
    def engine(self):
        """A new engine session (`retention_assets.engine.Engine`)."""

    def run_step(self, context: dg.AssetExecutionContext, step: str, settings, **params):
        """Run a set-based step (`retention_assets.steps.STEPS`) and return its `StepReport`. Here: in this
        process on `engine()`; the Databricks variant submits it as a job through Dagster Pipes."""
        from retention_assets.steps import StepRequest, run_step

        with self.engine() as engine:
            return run_step(engine, StepRequest.of(step, settings, **params))


class DuckDBEngineResource(EngineResource):
    """DuckDB in process over Parquet tables in `tables_dir`; spills to `temp_dir` beyond `memory_limit`."""

    tables_dir: str
    memory_limit: str = "3GB"
    threads: int | None = None
    temp_dir: str | None = None

    @property
    def kind(self) -> str:
        return "duckdb"

    def engine(self):
        from retention_assets.engine.duckdb_engine import DuckDBEngine

        return DuckDBEngine(self.tables_dir, memory_limit=self.memory_limit, threads=self.threads,
                            temp_dir=self.temp_dir)


class SparkEngineResource(EngineResource):
    """Spark SQL over Delta tables in `tables_dir`, through Spark Connect: `remote` is the server's
    `sc://host:port` URL (a Databricks cluster through Databricks Connect, or any Spark Connect server);
    without one, an embedded Sail server is started in this process and reused by every step."""

    tables_dir: str
    remote: str | None = None

    @property
    def kind(self) -> str:
        return "spark"

    def engine(self):
        from retention_assets.engine.spark_engine import SparkEngine, embedded_server

        return SparkEngine(self.tables_dir, remote=self.remote or embedded_server())


class DatabricksEngineResource(EngineResource):
    """The Databricks track: every set-based step is one Databricks job run through Dagster Pipes (a job
    cluster, or serverless with a Unity Catalog Volume), on tables in Unity Catalog; the Dagster process
    reads them through Spark Connect at `spark_remote` (for model fitting, monitoring and metadata).

    Credentials come from the environment only (`dg.EnvVar`): `host` and `token`, or OAuth variables
    the Databricks SDK reads itself when `token` is unset. They never reach metadata or logs."""

    host: str
    token: str | None = None
    spark_remote: str
    catalog: dict  # a CatalogLayout
    compute: str = "job_cluster"  # or "serverless"
    code_root: str = "dbfs:/retention/code"
    volume_path: str = "/Volumes/main/retention_ml/pipes"
    spark_version: str = "16.4.x-scala2.12"
    node_type_id: str = "i3.xlarge"
    num_workers: int = 1
    cluster_log_destination: str = "dbfs:/cluster-logs/retention"
    poll_interval_seconds: float = 5.0
    sdk_retry_timeout_seconds: int = 120

    @property
    def kind(self) -> str:
        return "spark"

    def layout(self):
        from retention_assets.engine.catalog import CatalogLayout

        return CatalogLayout.from_dict(self.catalog)

    def engine(self):
        """Also usable outside a run (the CLI's summary), where the environment variables are not yet resolved."""
        from retention_assets.engine.spark_engine import SparkEngine

        return SparkEngine(remote=_resolved(self.spark_remote), catalog=self.layout())

    def workspace(self):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.core import Config

        return WorkspaceClient(config=Config(host=_resolved(self.host), token=_resolved(self.token) or None,
                                             retry_timeout_seconds=self.sdk_retry_timeout_seconds))

    def run_step(self, context: dg.AssetExecutionContext, step: str, settings, **params):
        from retention_assets.core.errors import DataValidationError
        from retention_assets.remote.entry import INPUT_ERROR_MESSAGE, REPORT_MESSAGE
        from retention_assets.steps import StepReport, StepRequest

        request = StepRequest.of(step, settings, **params)
        extras = {"request": request.to_dict(), "catalog": self.catalog}
        invocation = self._submit(context, f"retention_{step}", extras)
        messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict)]
        for message in messages:
            if message.get("type") == INPUT_ERROR_MESSAGE:
                raise DataValidationError.from_dict(message["error"])
        reports = [m["report"] for m in messages if m.get("type") == REPORT_MESSAGE]
        if not reports:
            raise dg.Failure(f"the Databricks run of step {step} ended without a report (see its logs above)")
        return StepReport.from_dict(reports[-1])

    def _submit(self, context, task_key: str, extras: dict):
        """One Pipes submission of the entry point, on a new job cluster or serverless."""
        from databricks.sdk.service import jobs

        from retention_assets.remote.deploy import DAGSTER_PIPES, Deployment

        code = Deployment(self.code_root)
        client = self.workspace()
        if self.compute == "serverless":
            from dagster_databricks.pipes import PipesDatabricksServerlessClient, PipesUnityCatalogVolumesMessageReader

            task = jobs.SubmitTask.from_dict({
                "task_key": task_key, "environment_key": "retention",
                "spark_python_task": {"python_file": code.entry_point, "parameters": ["--transport", "volumes"]},
            })
            environments = [{"environment_key": "retention", "spec": {"client": "2", "dependencies": code.libraries}}]
            # stdout and stderr come back inside the messages (serverless has no cluster log delivery)
            reader = PipesUnityCatalogVolumesMessageReader(client=client, volume_path=self.volume_path,
                                                           interval=self.poll_interval_seconds)
            pipes = PipesDatabricksServerlessClient(client=client, volume_path=self.volume_path, message_reader=reader,
                                                    poll_interval_seconds=self.poll_interval_seconds)
            return pipes.run(task=task, context=context, extras=extras,
                             submit_args={"run_name": task_key, "environments": [
                                 jobs.JobEnvironment.from_dict(e) for e in environments]})
        from dagster_databricks import PipesDatabricksClient

        task = jobs.SubmitTask.from_dict({
            "task_key": task_key,
            "new_cluster": {"spark_version": self.spark_version, "node_type_id": self.node_type_id,
                            "num_workers": self.num_workers, "data_security_mode": "SINGLE_USER",
                            "cluster_log_conf": {"dbfs": {"destination": self.cluster_log_destination}}},
            "libraries": [{"whl": code.wheel}, {"pypi": {"package": DAGSTER_PIPES}}],
            "spark_python_task": {"python_file": code.entry_point, "parameters": ["--transport", "dbfs"]},
        })
        pipes = PipesDatabricksClient(client=client, message_reader=self._dbfs_reader(client),
                                      poll_interval_seconds=self.poll_interval_seconds)
        return pipes.run(task=task, context=context, extras=extras, submit_args={"run_name": task_key})

    def _dbfs_reader(self, client):
        """Messages and the driver's stdout and stderr (cluster log delivery) read from DBFS every poll
        interval (Dagster's default is 10 s, which a short step would spend mostly waiting)."""
        import sys

        from dagster_databricks.pipes import PipesDbfsLogReader, PipesDbfsMessageReader

        interval = self.poll_interval_seconds
        return PipesDbfsMessageReader(client=client, interval=interval, log_readers=[
            PipesDbfsLogReader(client=client, remote_log_name="stdout", target_stream=sys.stdout, interval=interval),
            PipesDbfsLogReader(client=client, remote_log_name="stderr", target_stream=sys.stderr, interval=interval),
        ])


def _resolved(value: str | None) -> str | None:
    """A field's value; an `EnvVar` (unresolved outside a run) read from the environment."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value
