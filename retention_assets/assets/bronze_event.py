"""bronze_event: per event source, one asset per window, all computed in one scan of the events.

A multi-asset per source yields one output per window: the UI shows `bronze_event_<source>_<window>`
as separate assets while DuckDB reads the events once for every window and snapshot.
"""


import dagster as dg

from retention_assets.assets.exploration import RECOMMENDATIONS, REGISTRY_FILE
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE, raw_name
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import EventSettings, Settings

BRONZE_EVENT_GROUP = "bronze_event"


def window_asset_name(source: str, window: str) -> str:
    return f"bronze_event_{source}_{window}"


def window_asset_names(settings: Settings) -> list[str]:
    return [window_asset_name(source, window) for source in settings.events for window in settings.windows]


def _source_assets(settings: Settings, source: str, event: EventSettings) -> dg.AssetsDefinition:
    outs = {
        window_asset_name(source, window): dg.AssetOut(
            group_name=BRONZE_EVENT_GROUP,
            kinds={"duckdb", "parquet"},
            description=f"{source} aggregated per customer over the {window} window ending at each snapshot "
                        f"(events in (as_of - {window}, as_of]).",
        )
        for window in settings.windows
    }

    @dg.multi_asset(
        name=f"bronze_event_{source}",
        outs=outs,
        ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)},
        deps=[dg.AssetKey(raw_name(source)), dg.AssetKey(raw_name(settings.entity.name))],
    )
    def _assets(context: dg.AssetExecutionContext, tables: LocalTableStorage, compute: DuckDBCompute, timeline: dict,
                plan: dict):
        from retention_assets.engine.duckdb import parquet_relation
        from retention_assets.features.event_windows import (
            EventFeatureSpec,
            compute_window_features,
            orphan_events_sql,
            snapshot_spine_sql,
        )
        from retention_assets.exploration.plan import event_columns
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.engine.dialect import DUCKDB
        from retention_assets.core.timeline import Timeline, parse_windows

        tl = Timeline.from_dict(timeline)
        roles = event_columns(plan, source)
        spec = EventFeatureSpec(source=source, entity_key=event.entity_key, timestamp_column=event.timestamp_column,
                                value_columns=tuple(roles["value"]), aggregations=tuple(event.aggregations))
        con = compute.connect()
        events = parquet_relation(tables.table_path(raw_name(source)))
        entity = parquet_relation(tables.table_path(raw_name(settings.entity.name)))
        if plan.get("selected", {}).get(source, True):
            frames, spec = compute_window_features(
                con, spec, parse_windows(settings.windows), events=events, entity=entity,
                entity_key=settings.entity.entity_key, snapshots=list(tl.snapshots),
                max_categories=event.max_categories, categorical_columns=roles["category"],
            )
        else:  # deselected in the findings: keys only, no features
            context.log.warning(f"{source} is deselected in its findings; its window assets hold keys only")
            spine = con.execute(f"SELECT * FROM {snapshot_spine_sql(DUCKDB, entity, settings.entity.entity_key, list(tl.snapshots))} "
                                f"ORDER BY feature_timestamp, {DUCKDB.ident(settings.entity.entity_key)}").df()
            frames = {window: spine for window in settings.windows}
        applied = [i for i in roles["ids"] if ":aggregate_windows" in i]
        mark_applied(settings.findings_path / REGISTRY_FILE, applied)
        orphans = con.execute(orphan_events_sql(DUCKDB, events, event.entity_key, entity, settings.entity.entity_key)).fetchone()[0]
        if orphans:
            context.log.warning(f"{source}: {orphans} event(s) belong to keys missing from the entity table; "
                                "they are not aggregated")
        for window, frame in frames.items():
            yield dg.Output(
                frame,
                output_name=window_asset_name(source, window),
                metadata=table_metadata(
                    frame, as_of=tl.as_of.isoformat(),
                    snapshots=dg.MetadataValue.json([s.isoformat() for s in tl.snapshots]),
                    events_without_customer=dg.MetadataValue.int(int(orphans)),
                    categories=dg.MetadataValue.json({k: list(v) for k, v in spec.categories.items()}),
                    value_columns=dg.MetadataValue.json(list(spec.value_columns)),
                    applied_recommendations=dg.MetadataValue.json(applied),
                ),
            )

    return _assets


def build_bronze_event_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [_source_assets(settings, source, event) for source, event in settings.events.items()]
