"""feature_store: gold published to Feast, the training set as of each cutoff, the champion's online features.

The training set is the point-in-time join on the engine (one row per customer and cutoff, features
as of that cutoff), proven equal to Feast's own get_historical_features by a blocking check. The
online store holds the champion's features as of the scoring time, for serving.
"""

import dagster as dg

from retention_assets.assets.metadata import preview_markdown, schema_metadata, stored_table_metadata
from retention_assets.core.names import CHAMPION, GOLD, ONLINE, PUBLISHED, TIMELINE, TRAINING_SET
from retention_assets.resources.compute import EngineResource
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings

FEATURE_STORE_GROUP = "feature_store"


def build_feature_store_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    key = settings.entity.entity_key

    @dg.asset(name=PUBLISHED, group_name=FEATURE_STORE_GROUP, deps=[GOLD], kinds={"feast", *table_kinds},
              description="Gold features (labels removed): the Feast offline source. Staged with the entity, source "
                          "and the churn_features view in this run's own Feast project; published with the run.")
    def feast_features(context: dg.AssetExecutionContext, feast: FeatureStoreResource,
                       compute: EngineResource) -> dg.MaterializeResult:
        from retention_assets.core.columns import FEATURE_TIMESTAMP
        from retention_assets.feature_store.repository import source_preview, source_sql, source_timestamps

        with compute.engine() as engine:
            engine.write_table(PUBLISHED, source_sql(engine, GOLD))
            config, published = feast.stage(context.run.run_id, engine, PUBLISHED, key, FEATURE_TIMESTAMP,
                                            restage=True)
            stamps = source_timestamps(engine, config)
            preview, columns = source_preview(engine, config)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(published.rows),
            "dagster/column_schema": schema_metadata(columns),
            "preview": dg.MetadataValue.md(preview_markdown(preview, len(columns))),
            "feast_project": dg.MetadataValue.text(config.project),
            "feature_view": dg.MetadataValue.text(published.view),
            "feature_count": dg.MetadataValue.int(len(published.features)),
            "rows_by_feature_timestamp": dg.MetadataValue.json({t.isoformat(): int(n) for t, n in stamps}),
            "offline_source": dg.MetadataValue.path(published.source),
            "registry": dg.MetadataValue.text(config.registry),
            "feast_repo": dg.MetadataValue.path(config.repo_path),
        })

    @dg.asset(name=TRAINING_SET, group_name=FEATURE_STORE_GROUP, deps=[GOLD, PUBLISHED], kinds={"feast", *table_kinds},
              description="Training rows (customer, cutoff, label) with the features as of each row's own cutoff from "
                          "the feature store's offline source: a point-in-time join, checked against Feast's "
                          "get_historical_features.")
    def training_set(compute: EngineResource) -> dg.MaterializeResult:
        from retention_assets.feature_store.training_set import build_training_set, cutoff_rates

        with compute.engine() as engine:
            build_training_set(engine, gold_table=GOLD, source=engine.relation(PUBLISHED), key=key,
                               target=TRAINING_SET)
            rates = cutoff_rates(engine, TRAINING_SET)
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, TRAINING_SET,
                rows_by_cutoff=dg.MetadataValue.json({c: n for c, n, _ in rates}),
                churn_rate_by_cutoff=dg.MetadataValue.json({c: round(r, 4) for c, _, r in rates}),
            ))

    @dg.asset(name=ONLINE, group_name=FEATURE_STORE_GROUP, deps=[PUBLISHED, CHAMPION],
              ins={"timeline": dg.AssetIn(TIMELINE)}, kinds={"feast"},
              description="The run's champion's features as of the scoring time, written to this run's online "
                          "store through its own view (only the features it reads); served once the run is published.")
    def online_features(context: dg.AssetExecutionContext, feast: FeatureStoreResource, tracking: MlflowTracking,
                        compute: EngineResource, timeline: dict) -> dg.Output[dict]:
        from retention_assets.core.columns import ELIGIBLE, FEATURE_TIMESTAMP
        from retention_assets.core.timeline import Timeline
        from retention_assets.feature_store.repository import (
            apply_model_service,
            materialize_online,
            online_view_name,
            service_features,
        )
        from retention_assets.model.serving import model_service, version_spec
        from retention_assets.publication.staging import mark_online, run_champion

        as_of = Timeline.from_dict(timeline).as_of
        tracking_config, run_id = tracking.config(), context.run.run_id
        version = run_champion(settings.data_path, run_id)
        if version is None:
            raise dg.Failure("no champion yet: materialize churn_model and champion_model first")
        service = model_service(tracking_config, version)
        with compute.engine() as engine:
            config, _ = feast.stage(run_id, engine, PUBLISHED, key, FEATURE_TIMESTAMP)
            apply_model_service(config, service, [*version_spec(tracking_config, version)["serving_features"], ELIGIBLE],
                                f"Features read by {tracking_config.registered_model_name} version {version}", key,
                                FEATURE_TIMESTAMP)
            customers = materialize_online(config, engine, service, as_of, key, FEATURE_TIMESTAMP)
        mark_online(settings.data_path, run_id)
        features = service_features(config, service)
        context.log.info(f"wrote {customers} customers x {len(features)} features of {service} as of "
                         f"{as_of.isoformat()} to {config.online_store['type']}")
        summary = {"service": service, "view": online_view_name(service), "model_version": version,
                   "as_of": as_of.isoformat(), "online_store": config.online_store["type"], "project": config.project,
                   "customers": customers, "features": len(features)}
        return dg.Output(summary, metadata={
            "customers": dg.MetadataValue.int(customers),
            "features": dg.MetadataValue.int(len(features)),
            "feature_service": dg.MetadataValue.text(service),
            "model_version": dg.MetadataValue.text(version),
            "as_of": dg.MetadataValue.text(summary["as_of"]),
            "online_store": dg.MetadataValue.json(config.online_store),
            "feast_project": dg.MetadataValue.text(config.project),
        })

    return [feast_features, training_set, online_features]
