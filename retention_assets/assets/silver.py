"""silver: entity attributes and every window's features, one row per customer and snapshot."""

import dagster as dg

from retention_assets.assets.metadata import log_step, summary_metadata
from retention_assets.core.names import BRONZE_ENTITY, SILVER, TIMELINE, silver_inputs
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings


def build_silver_asset(settings: Settings, table_kinds: set[str]) -> dg.AssetsDefinition:
    inputs = silver_inputs(settings)

    @dg.asset(name=SILVER, group_name="silver", deps=[BRONZE_ENTITY, *inputs], ins={"timeline": dg.AssetIn(TIMELINE)},
              kinds=table_kinds,
              description="bronze_entity joined with every bronze_event window and text feature table on "
                          "(entity key, feature_timestamp); a join that would fan out is an error.")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict) -> dg.MaterializeResult:
        report = compute.run_step(context, "silver", settings, timeline=timeline)
        log_step(context, report)
        return dg.MaterializeResult(metadata=summary_metadata(
            report.tables[SILVER], as_of=timeline["as_of"],
            customers=dg.MetadataValue.int(report.values["customers"]),
            snapshots=dg.MetadataValue.json([*timeline["cutoffs"], timeline["as_of"]]),
            feature_count=dg.MetadataValue.int(report.values["feature_count"]),
        ))

    return _asset
