"""bronze_event: per event source, one asset per window, all computed in one scan of the events.

A multi-asset per source materializes one table per window: the UI shows
`bronze_event_<source>_<window>` as separate assets while the engine reads the events once for every
window and snapshot.
"""

import dagster as dg

from retention_assets.assets.metadata import stored_table_metadata
from retention_assets.core.names import RECOMMENDATIONS, TIMELINE, raw_name, window_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import EventSettings, Settings

BRONZE_EVENT_GROUP = "bronze_event"


def window_asset_names(settings: Settings) -> list[str]:
    return [window_name(source, window) for source in settings.events for window in settings.windows]


def _source_assets(settings: Settings, source: str, event: EventSettings, table_kinds: set[str]) -> dg.AssetsDefinition:
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
        from retention_assets.core.timeline import Timeline, parse_windows
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.features.event_windows import (
            EventFeatureSpec,
            orphan_events_sql,
            write_spine_tables,
            write_window_tables,
        )

        tl, run_plan = Timeline.from_dict(timeline), RunPlan.from_dict(plan)
        roles = run_plan.event_roles(source)
        spec = EventFeatureSpec(source=source, entity_key=event.entity_key, timestamp_column=event.timestamp_column,
                                value_columns=roles.value, aggregations=tuple(event.aggregations))
        tables = {window: window_name(source, window) for window in settings.windows}
        key = settings.entity.entity_key
        with compute.engine() as engine:
            events, entity = engine.relation(raw_name(source)), engine.relation(raw_name(settings.entity.name))
            if run_plan.is_selected(source):
                spec = write_window_tables(
                    engine, spec, parse_windows(settings.windows), events=events, entity=entity, entity_key=key,
                    snapshots=list(tl.snapshots), tables=tables, max_categories=event.max_categories,
                    categorical_columns=roles.category,
                ).spec
            else:  # deselected in the findings: keys only, no features
                context.log.warning(f"{source} is deselected in its findings; its window assets hold keys only")
                write_spine_tables(engine, entity, key, list(tl.snapshots), list(tables.values()))
            applied = list(roles.window_recommendations)
            mark_applied(settings.findings_path / REGISTRY_FILE, applied)
            orphans = int(engine.scalar(orphan_events_sql(engine.dialect, events, event.entity_key, entity, key)))
            if orphans:
                context.log.warning(f"{source}: {orphans} event(s) belong to keys missing from the entity table; "
                                    "they are not aggregated")
            for table in tables.values():
                yield dg.MaterializeResult(asset_key=table, metadata=stored_table_metadata(
                    engine, table, as_of=tl.as_of.isoformat(),
                    snapshots=dg.MetadataValue.json([s.isoformat() for s in tl.snapshots]),
                    events_without_customer=dg.MetadataValue.int(orphans),
                    categories=dg.MetadataValue.json({k: list(v) for k, v in spec.categories.items()}),
                    value_columns=dg.MetadataValue.json(list(spec.value_columns)),
                    applied_recommendations=dg.MetadataValue.json(applied),
                ))

    return _assets


def build_bronze_event_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [_source_assets(settings, source, event, table_kinds) for source, event in settings.events.items()]
