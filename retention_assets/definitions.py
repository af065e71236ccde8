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
from retention_assets.assets.feature_store import build_feature_store_assets
from retention_assets.assets.gold import build_gold_assets
from retention_assets.assets.model import build_model_assets
from retention_assets.assets.monitoring import build_monitoring_assets, build_monitoring_checks
from retention_assets.assets.raw import build_raw_assets
from retention_assets.assets.silver import build_silver_asset
from retention_assets.automation import build_automation
from retention_assets.checks import build_checks
from retention_assets.profiles import build_profile
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.feature_store import FeatureStoreResource
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
        *build_feature_store_assets(settings),
        *build_model_assets(settings),
        *build_monitoring_assets(settings),
    ]


def build_resources(settings: Settings, profile: str | None = None) -> dict[str, object]:
    """Parquet files under the data directory and DuckDB for set-based transforms on every profile;
    MLflow and Feast endpoints from the profile (`RETENTION_PROFILE`: local, the embedded default, or
    production: Postgres and Redis)."""
    base = settings.data_path / "tables"
    services = build_profile(settings.data_path, profile)
    return {
        "io_manager": AtomicFileIOManager(base_dir=str(base)),
        "tables": LocalTableStorage(base_dir=str(base)),
        "compute": DuckDBCompute(),
        "tracking": MlflowTracking(tracking_uri=services.mlflow_tracking_uri,
                                   artifact_location=services.mlflow_artifact_location),
        "feast": FeatureStoreResource(project=services.feast_project, repo_path=services.feast_repo_path,
                                      registry=services.feast_registry, online_store=services.feast_online_store),
    }


def build_definitions(settings: Settings, profile: str | None = None) -> dg.Definitions:
    jobs, schedules, sensors = build_automation(settings)
    return dg.Definitions(
        assets=build_assets(settings),
        asset_checks=[*build_checks(settings), *build_monitoring_checks(settings)],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(settings, profile),
    )


defs = build_definitions(current_settings())
