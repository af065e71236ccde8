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
