"""The one place that assembles assets, checks, jobs, schedules and resources.

The asset graph is generated from the settings file (`RETENTION_SETTINGS`, default: the embedded
sample), so the same code location runs on any user's sources; the profile (`RETENTION_PROFILE`)
chooses the engine, the services and the executor, in `build_resources` and `build_definitions`.
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
from retention_assets.assets.release import build_release_asset
from retention_assets.assets.silver import build_silver_asset
from retention_assets.automation import build_automation
from retention_assets.checks import build_checks
from retention_assets.profiles import SPARK_REMOTE_ENV_VAR, ServiceProfile, build_profile
from retention_assets.resources.compute import DatabricksEngineResource, DuckDBEngineResource, SparkEngineResource
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.publication import RunGuard
from retention_assets.resources.storage import AtomicFileIOManager
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings, current_settings


def build_assets(settings: Settings, profile: ServiceProfile) -> list[dg.AssetsDefinition]:
    kinds = profile.table_kinds
    graph = [
        *build_raw_assets(settings, kinds),
        *build_exploration_assets(settings),
        *build_bronze_event_assets(settings, kinds),
        *build_text_assets(settings, kinds),
        build_bronze_entity_asset(settings, kinds),
        build_silver_asset(settings, kinds),
        *build_gold_assets(settings, kinds),
        *build_feature_store_assets(settings, kinds),
        *build_model_assets(settings, kinds),
        *build_monitoring_assets(settings),
    ]
    assets = [*graph, build_release_asset(settings, [key for asset in graph for key in asset.keys])]
    return catalog_assets(settings, assets)


def catalog_assets(settings: Settings, assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Every asset with the settings' owners and tags (added to its own) and a link to its source code."""
    catalog = settings.catalog
    if catalog.owners or catalog.tags:
        assets = dg.map_asset_specs(
            lambda spec: spec.merge_attributes(owners=[o for o in catalog.owners if o not in spec.owners],
                                               tags=catalog.tags), assets)
    import warnings

    with warnings.catch_warnings():  # beta API: its warning would print once per asset on every load
        warnings.simplefilter("ignore", dg.BetaWarning)
        return list(dg.with_source_code_references(assets))


def build_resources(settings: Settings, profile: ServiceProfile) -> dict[str, object]:
    """The engine and its tables, the small-object store, MLflow and Feast, as the profile says."""
    tables = settings.data_path / "tables"
    tracking = MlflowTracking(tracking_uri=profile.mlflow_tracking_uri,
                              artifact_location=profile.mlflow_artifact_location,
                              registered_model_name=profile.registered_model_name,
                              registry_uri=profile.mlflow_registry_uri)
    feast = FeatureStoreResource(project=profile.feast_project, data_dir=str(settings.data_path),
                                 registry=profile.feast_registry, online_store=profile.feast_online_store)
    guard = RunGuard(data_dir=str(settings.data_path), tracking=tracking, feast=feast)
    if profile.databricks is not None:
        compute = databricks_compute(profile, guard)
    elif profile.engine == "spark":
        compute = SparkEngineResource(tables_dir=str(tables), remote=profile.spark_remote, guard=guard)
    else:
        compute = DuckDBEngineResource(tables_dir=str(tables), temp_dir=str(settings.data_path / ".engine_tmp"),
                                       guard=guard)
    return {
        "io_manager": AtomicFileIOManager(base_dir=str(tables)),
        "compute": compute,
        "tracking": tracking,
        "feast": feast,
    }


def databricks_compute(profile: ServiceProfile, guard: RunGuard) -> DatabricksEngineResource:
    """Pipes submissions to the workspace in DATABRICKS_HOST, credentials from the environment only."""
    import os

    token = dg.EnvVar("DATABRICKS_TOKEN") if os.environ.get("DATABRICKS_TOKEN") else None  # else OAuth
    settings = profile.databricks
    return DatabricksEngineResource(
        host=dg.EnvVar("DATABRICKS_HOST"), token=token, spark_remote=dg.EnvVar(SPARK_REMOTE_ENV_VAR),
        catalog=profile.catalog, compute=settings.compute, code_root=settings.code_root,
        volume_path=settings.volume_path, spark_version=settings.spark_version, node_type_id=settings.node_type_id,
        num_workers=settings.num_workers, poll_interval_seconds=settings.poll_interval_seconds, guard=guard)


def build_definitions(settings: Settings, profile: str | None = None) -> dg.Definitions:
    services = build_profile(settings, profile)
    jobs, schedules, sensors = build_automation(settings)
    executor = dg.in_process_executor if services.executor == "in_process" else dg.multiprocess_executor
    return dg.Definitions(
        assets=build_assets(settings, services),
        asset_checks=[*build_checks(settings), *build_monitoring_checks(settings)],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(settings, services),
        executor=executor,
    )


defs = build_definitions(current_settings())
