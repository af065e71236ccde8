"""bronze_event: per event source, one asset per window, all computed in one scan of the events.

A multi-asset per source materializes one table per window: the UI shows
`bronze_event_<source>_<window>` as separate assets while the engine reads the events once for every
window and snapshot.
"""

import dagster as dg

from retention_assets.assets.metadata import log_step, summary_metadata
from retention_assets.core.names import RECOMMENDATIONS, TIMELINE, raw_name, window_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings

BRONZE_EVENT_GROUP = "bronze_event"


def _source_assets(settings: Settings, source: str, table_kinds: set[str]) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            window_name(source, window), group_name=BRONZE_EVENT_GROUP, kinds=table_kinds,
            deps=[raw_name(source), raw_name(settings.entity.name), TIMELINE, RECOMMENDATIONS],
            description=f"{source} aggregated per customer over the {window} window ending at each snapshot "
                        f"(events in (as_of - {window}, as_of]).",
        )
        for window in settings.windows
    ]

    @dg.multi_asset(name=f"bronze_event_{source}", specs=specs,
                    ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)})
    def _assets(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict, plan: dict):
        from retention_assets.exploration.recommendations import mark_applied

        report = compute.run_step(context, "bronze_event", settings, source=source, timeline=timeline, plan=plan)
        values = report.values
        mark_applied(settings.findings_path / REGISTRY_FILE, values["applied"])
        log_step(context, report)
        for window in settings.windows:
            table = window_name(source, window)
            yield dg.MaterializeResult(asset_key=table, metadata=summary_metadata(
                report.tables[table], as_of=timeline["as_of"],
                snapshots=dg.MetadataValue.json([*timeline["cutoffs"], timeline["as_of"]]),
                events_without_customer=dg.MetadataValue.int(values["orphans"]),
                categories=dg.MetadataValue.json(values["categories"]),
                value_columns=dg.MetadataValue.json(values["value_columns"]),
                applied_recommendations=dg.MetadataValue.json(values["applied"]),
            ))

    return _assets


def build_bronze_event_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [_source_assets(settings, source, table_kinds) for source in settings.events]
