"""feature_store: gold published to Feast, the training set read back as of each cutoff, the online store.

Training reads `get_historical_features` with one entity row per (customer, cutoff), so every row
gets the features as of its own timestamp; scoring and serving read the online store.
"""

import dagster as dg
import pandas as pd

from retention_assets.assets.gold import GOLD
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.settings import Settings

FEATURE_STORE_GROUP = "feature_store"
PUBLISHED = "feast_features"
TRAINING_SET = "training_set"
ONLINE = "online_features"


def build_feature_store_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    key = settings.entity.entity_key

    @dg.asset(name=PUBLISHED, group_name=FEATURE_STORE_GROUP, ins={"gold": dg.AssetIn(GOLD)}, kinds={"feast", "parquet"},
              description="Gold features (labels removed) written as the Feast file source; the entity, source and "
                          "the churn_features view applied to the registry.")
    def feast_features(feast: FeatureStoreResource, gold: pd.DataFrame) -> dg.Output[dict]:
        from retention_assets.feature_store.repository import publish
        from retention_assets.features.gold import ROW_ROLE
        from retention_assets.features.labels import FEATURE_TIMESTAMP, LABEL, LABEL_AVAILABLE, LABEL_TIMESTAMP

        features = gold.drop(columns=[LABEL, LABEL_TIMESTAMP, LABEL_AVAILABLE, ROW_ROLE])
        config = feast.config()
        summary = publish(config, features, key, FEATURE_TIMESTAMP)
        stamps = features[FEATURE_TIMESTAMP].value_counts().sort_index()
        return dg.Output(summary, metadata=table_metadata(
            features,
            feast_project=dg.MetadataValue.text(config.project),
            feature_view=dg.MetadataValue.text(summary["view"]),
            feature_count=dg.MetadataValue.int(len(summary["features"])),
            rows_by_feature_timestamp=dg.MetadataValue.json({str(k): int(v) for k, v in stamps.items()}),
            offline_source=dg.MetadataValue.path(summary["source"]),
            registry=dg.MetadataValue.text(config.registry),
            feast_repo=dg.MetadataValue.path(config.repo_path),
        ))

    @dg.asset(name=TRAINING_SET, group_name=FEATURE_STORE_GROUP, ins={"gold": dg.AssetIn(GOLD)}, deps=[PUBLISHED],
              kinds={"feast", "parquet"},
              description="Training rows (customer, cutoff, label) with features from Feast get_historical_features: "
                          "each row gets the feature values as of its own cutoff.")
    def training_set(feast: FeatureStoreResource, gold: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        from retention_assets.feature_store.repository import historical_features
        from retention_assets.features.gold import feature_columns, training_rows
        from retention_assets.features.labels import FEATURE_TIMESTAMP, LABEL

        train = training_rows(gold)
        features = feature_columns(gold, key)
        entity_rows = train.drop(columns=features)
        frame = historical_features(feast.config(), entity_rows, key, FEATURE_TIMESTAMP, features)
        frame = frame[list(train.columns)].astype(train.dtypes.to_dict())
        rates = frame.groupby(frame[FEATURE_TIMESTAMP].astype(str))[LABEL].agg(["size", "mean"])
        return dg.Output(frame, metadata=table_metadata(
            frame, rows_by_cutoff=dg.MetadataValue.json({k: int(v) for k, v in rates["size"].items()}),
            churn_rate_by_cutoff=dg.MetadataValue.json({k: round(float(v), 4) for k, v in rates["mean"].items()}),
        ))

    @dg.asset(name=ONLINE, group_name=FEATURE_STORE_GROUP, deps=[PUBLISHED], ins={"timeline": dg.AssetIn(TIMELINE)},
              kinds={"feast"},
              description="The scoring snapshot (features as of the as-of time) materialized to the online store.")
    def online_features(context: dg.AssetExecutionContext, feast: FeatureStoreResource, timeline: dict) -> dg.Output[dict]:
        from retention_assets.feature_store.repository import VIEW, materialize_online
        from retention_assets.features.labels import FEATURE_TIMESTAMP
        from retention_assets.core.timeline import Timeline

        as_of = Timeline.from_dict(timeline).as_of
        config = feast.config()
        customers = materialize_online(config, as_of, FEATURE_TIMESTAMP)
        context.log.info(f"wrote {customers} customers of {VIEW} as of {as_of.isoformat()} to "
                         f"{config.online_store['type']}")
        summary = {"view": VIEW, "as_of": as_of.isoformat(), "online_store": config.online_store["type"],
                   "project": config.project, "customers": customers}
        return dg.Output(summary, metadata={
            "customers": dg.MetadataValue.int(customers),
            "as_of": dg.MetadataValue.text(summary["as_of"]),
            "online_store": dg.MetadataValue.json(config.online_store),
            "feast_project": dg.MetadataValue.text(config.project),
        })

    return [feast_features, training_set, online_features]
