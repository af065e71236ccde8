"""The entry point of a Spark-side step on Databricks (a `spark_python_task`), launched through Dagster Pipes.

It depends only on `dagster-pipes`, pyspark (the cluster's) and the project's framework-free code (the
project's wheel, installed as a job library): it reads the step request from the Pipes extras, runs the
same step function the local track runs, on the job's active Spark session with tables in Unity
Catalog, and sends the step's report back as a Pipes message. Bad input is a result, not a crash: the
validation error travels back whole and the asset raises it, so the user reads the same one sentence
as on the local track.

    --transport dbfs      job clusters: Pipes context and messages on DBFS (bootstrap in the environment)
    --transport volumes   serverless: on a Unity Catalog Volume (bootstrap in the task's parameters)
"""

from __future__ import annotations

import argparse
import sys
import time

REPORT_MESSAGE = "retention.step_report"
INPUT_ERROR_MESSAGE = "retention.input_error"


def _pipes_transport(transport: str) -> dict:
    from dagster_pipes import (
        PipesCliArgsParamsLoader,
        PipesDbfsContextLoader,
        PipesDbfsMessageWriter,
        PipesUnityCatalogVolumesContextLoader,
        PipesUnityCatalogVolumesMessageWriter,
    )

    if transport == "volumes":
        return {"context_loader": PipesUnityCatalogVolumesContextLoader(),
                "message_writer": PipesUnityCatalogVolumesMessageWriter(), "params_loader": PipesCliArgsParamsLoader()}
    return {"context_loader": PipesDbfsContextLoader(), "message_writer": PipesDbfsMessageWriter()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one retention-assets step on this cluster's Spark session.")
    parser.add_argument("--transport", choices=("dbfs", "volumes"), default="dbfs")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)  # Pipes adds its own arguments

    from pyspark.sql import SparkSession

    # The cluster's session (a Databricks job's, or SPARK_REMOTE's): the DBFS message writer needs it active.
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")

    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes(**_pipes_transport(args.transport)) as pipes:
        from retention_assets.core.errors import DataValidationError
        from retention_assets.engine.catalog import CatalogLayout
        from retention_assets.engine.spark_engine import SparkEngine
        from retention_assets.steps import StepRequest, run_step

        started = time.perf_counter()
        request = StepRequest.from_dict(pipes.extras["request"])
        engine = SparkEngine(session=spark, catalog=CatalogLayout.from_dict(pipes.extras["catalog"]))
        try:
            report = run_step(engine, request)
        except DataValidationError as error:
            pipes.report_custom_message({"type": INPUT_ERROR_MESSAGE, "error": error.to_dict()})
            pipes.log.warning(f"step {request.step}: the input was refused: {error}")
            return
        pipes.report_custom_message({"type": REPORT_MESSAGE, "report": report.to_dict()})
        pipes.log.info(f"step {request.step}: {len(report.tables)} table(s) written in "
                       f"{time.perf_counter() - started:.1f} s on Spark {spark.version}")


if __name__ == "__main__":
    main()
