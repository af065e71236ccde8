"""The set-based steps of the graph as plain functions of an engine, the settings and the step's inputs:
the same function runs in the Dagster process (local track) and in a Databricks job (Pipes)."""

from retention_assets.steps.report import StepLog, StepReport, TableSummary
from retention_assets.steps.run import STEPS, StepRequest, run_step

__all__ = ["STEPS", "StepLog", "StepReport", "StepRequest", "TableSummary", "run_step"]
