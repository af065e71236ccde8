"""The one place that assembles assets, checks, jobs, schedules and resources.

The asset graph is generated from the settings file (`RETENTION_SETTINGS`, default: the embedded
sample), so the same code location runs on any user's sources.
"""

from __future__ import annotations

import dagster as dg

from retention_assets.assets.bronze_entity import build_bronze_entity_asset
from retention_assets.assets.bronze_event import build_bronze_event_assets
from retention_assets.assets.bronze_text import build_text_assets
from retention_assets.assets.exploration import build_exploration_assets
from retention_assets.assets.gold import build_gold_assets
from retention_assets.assets.model import build_model_assets
from retention_assets.assets.raw import build_raw_assets
from retention_assets.assets.silver import build_silver_asset
from retention_assets.automation import build_automation
from retention_assets.checks import build_checks
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.storage import AtomicFileIOManager, LocalTableStorage
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings, current_settings


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        *build_raw_assets(settings),
        *build_exploration_assets(settings),
        *build_bronze_event_assets(settings),
        *build_text_assets(settings),
        build_bronze_entity_asset(settings),
        build_silver_asset(settings),
        *build_gold_assets(settings),
        *build_model_assets(settings),
    ]


def build_resources(settings: Settings) -> dict[str, object]:
    """Local track: Parquet files under the data directory, DuckDB for set-based transforms, MLflow on
    SQLite with its artifacts beside it."""
    base = settings.data_path / "tables"
    mlflow_dir = settings.data_path / "mlflow"
    return {
        "io_manager": AtomicFileIOManager(base_dir=str(base)),
        "tables": LocalTableStorage(base_dir=str(base)),
        "compute": DuckDBCompute(),
        "tracking": MlflowTracking(
            tracking_uri=f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            artifact_location=(mlflow_dir / "artifacts").as_uri(),
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    jobs, schedules = build_automation()
    return dg.Definitions(
        assets=build_assets(settings),
        asset_checks=build_checks(settings),
        jobs=jobs,
        schedules=schedules,
        resources=build_resources(settings),
    )


defs = build_definitions(current_settings())
