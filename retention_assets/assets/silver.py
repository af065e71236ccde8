"""silver: entity attributes and every window's features, one row per customer and snapshot."""

import dagster as dg

from retention_assets.assets.bronze_event import window_asset_names
from retention_assets.assets.metadata import stored_table_metadata
from retention_assets.core.names import BRONZE_ENTITY, SILVER, TIMELINE, text_name
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings


def silver_inputs(settings: Settings) -> list[str]:
    """The tables silver joins to the entity table, in column order: every window, then every text table."""
    return window_asset_names(settings) + [text_name(s) for s in settings.events]


def build_silver_asset(settings: Settings, table_kinds: set[str]) -> dg.AssetsDefinition:
    inputs = silver_inputs(settings)
    entity = settings.entity

    @dg.asset(name=SILVER, group_name="silver", deps=[BRONZE_ENTITY, *inputs], ins={"timeline": dg.AssetIn(TIMELINE)},
              kinds=table_kinds,
              description="bronze_entity joined with every bronze_event window and text feature table on "
                          "(entity key, feature_timestamp); a join that would fan out is an error.")
    def _asset(compute: EngineResource, timeline: dict) -> dg.MaterializeResult:
        from retention_assets.core.timeline import Timeline
        from retention_assets.features.silver import build_silver

        tl = Timeline.from_dict(timeline)
        with compute.engine() as engine:
            info = build_silver(engine, entity_table=BRONZE_ENTITY, key=entity.entity_key, snapshots=list(tl.snapshots),
                                inputs=inputs, date_columns=settings.entity_date_columns, target=SILVER)
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, SILVER, as_of=tl.as_of.isoformat(),
                customers=dg.MetadataValue.int(info.rows // len(tl.snapshots)),
                snapshots=dg.MetadataValue.json([s.isoformat() for s in tl.snapshots]),
                feature_count=dg.MetadataValue.int(len(info.columns) - 2),
            ))

    return _asset
