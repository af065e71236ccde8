"""silver: entity attributes and every window's features, one row per customer and snapshot."""

import dagster as dg
import pandas as pd

from retention_assets.assets.bronze_entity import BRONZE_ENTITY
from retention_assets.assets.bronze_event import window_asset_names
from retention_assets.assets.bronze_text import text_asset_names
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE
from retention_assets.settings import Settings

SILVER = "silver_joined"


def entity_date_columns(settings: Settings) -> list[str]:
    entity = settings.entity
    return list(dict.fromkeys([*entity.date_columns, *([entity.signup_column] if entity.signup_column else [])]))


def build_silver_asset(settings: Settings) -> dg.AssetsDefinition:
    window_names = window_asset_names(settings) + text_asset_names(settings)
    ins = {"entity": dg.AssetIn(BRONZE_ENTITY), "timeline": dg.AssetIn(TIMELINE)}
    ins.update({name: dg.AssetIn(name) for name in window_names})

    @dg.asset(name=SILVER, group_name="silver", ins=ins, kinds={"pandas", "parquet"},
              description="bronze_entity joined with every bronze_event window and text feature table on "
                          "(entity key, feature_timestamp); a join that would fan out is an error.")
    def _asset(context: dg.AssetExecutionContext, **inputs) -> dg.Output[pd.DataFrame]:
        from retention_assets.features.silver import join_silver
        from retention_assets.core.timeline import Timeline

        tl = Timeline.from_dict(inputs["timeline"])
        joined = join_silver(
            inputs["entity"], settings.entity.entity_key, list(tl.snapshots),
            {name: inputs[name] for name in window_names}, date_columns=entity_date_columns(settings),
        )
        return dg.Output(joined, metadata=table_metadata(
            joined, as_of=tl.as_of.isoformat(),
            customers=dg.MetadataValue.int(int(joined[settings.entity.entity_key].nunique())),
            snapshots=dg.MetadataValue.json([s.isoformat() for s in tl.snapshots]),
            feature_count=dg.MetadataValue.int(joined.shape[1] - 2),
        ))

    return _asset
