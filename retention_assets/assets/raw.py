"""raw: one asset per declared source (read, type, validate), and the run's shared timeline."""

import dagster as dg

from retention_assets.assets.failures import input_errors_as_failures
from retention_assets.assets.metadata import log_step, summary_metadata
from retention_assets.core.names import TIMELINE, raw_name
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings

RAW_GROUP = "raw"
SOURCE_FINGERPRINT = "source_fingerprint"  # of the files this run read; the source sensor compares against it


def _raw_asset(settings: Settings, source: str, description: str, table_kinds: set[str]) -> dg.AssetsDefinition:
    derived_from = settings.entity.derived_from
    entity_table = raw_name(settings.entity.name)
    if source == settings.entity.name:  # a derived entity is read from its validated event source
        deps = [raw_name(derived_from)] if derived_from else None
    else:  # event sources are checked against the entity table, except the one it is derived from
        deps = None if source == derived_from else [entity_table]

    @dg.asset(name=raw_name(source), group_name=RAW_GROUP, description=description, kinds=table_kinds,
              deps=deps)
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource) -> dg.MaterializeResult:
        with input_errors_as_failures():  # one clear sentence in the UI and the logs, not a traceback
            report = compute.run_step(context, "raw", settings, source=source)
        log_step(context, report)
        values = report.values
        metadata = summary_metadata(report.tables[raw_name(source)],
                                    source_file=dg.MetadataValue.path(values["source_file"]),
                                    repairs=dg.MetadataValue.json(values["repairs"]))
        if values.get("derived_from"):
            metadata["derived_from"] = dg.MetadataValue.text(raw_name(values["derived_from"]))
            metadata["derivation"] = dg.MetadataValue.text(
                "one row per key: first_seen / last_seen = min / max event time; last_seen is never a feature")
        if values["time_span"]:
            metadata["first_event"] = dg.MetadataValue.text(values["time_span"][0])
            metadata["last_event"] = dg.MetadataValue.text(values["time_span"][1])
        if values["duplicate_key_rows"]:
            metadata["duplicate_key_rows"] = dg.MetadataValue.int(values["duplicate_key_rows"])
        if values["quarantine"]:
            metadata["quarantined_events"] = dg.MetadataValue.int(values["quarantine"]["rows"])
            metadata["quarantined_after"] = dg.MetadataValue.text(values["quarantine"]["after"])
        if values["negative_values"]:
            metadata["negative_values"] = dg.MetadataValue.json(values["negative_values"])
        if values["key_coverage"]:
            coverage = values["key_coverage"]
            metadata["events_with_customer"] = dg.MetadataValue.float(round(coverage["matched_share"], 6))
            metadata["customers_with_events"] = dg.MetadataValue.float(round(coverage["covered_share"], 6))
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def _timeline_asset(settings: Settings) -> dg.AssetsDefinition:
    event_keys = [dg.AssetKey(raw_name(name)) for name in settings.events]
    deps = event_keys or [dg.AssetKey(raw_name(settings.entity.name))]  # undated data: its entity dates

    @dg.asset(name=TIMELINE, group_name=RAW_GROUP, deps=deps, kinds={"python"},
              description="The as-of timestamp shared by every source in this run and the training cutoffs "
                          "before it (explicit in the settings, or the latest event in the data).")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource) -> dg.Output[dict]:
        from retention_assets.core.files import fingerprint
        from retention_assets.core.timeline import (
            TimelineError,
            boundary_warnings,
            build_timeline,
            history_warnings,
            is_static_target,
            parse_windows,
            static_target_cutoffs,
            undated_timeline,
        )
        from retention_assets.features.raw import earliest_timestamp, latest_timestamp, stamps_at

        timeline_settings = settings.timeline
        static = is_static_target(settings.label.kind, settings.label.label_timestamp_column)
        cutoffs, collapsed = static_target_cutoffs(timeline_settings.training_cutoffs, bool(settings.events), static)
        if collapsed:
            context.log.warning(collapsed)
        undated = None
        if timeline_settings.as_of == "auto" and not settings.events and static:
            with compute.engine() as engine:
                dates = [latest_timestamp(engine, raw_name(settings.entity.name), c)
                         for c in settings.entity_date_columns]
            dates = [d for d in dates if d is not None]
            undated, message = undated_timeline(max(dates) if dates else None, settings.label.horizon_days)
            context.log.info(message)
            as_of, origin = undated.as_of, undated.as_of_source
        elif timeline_settings.as_of == "auto":
            with compute.engine() as engine:
                latest = [latest_timestamp(engine, raw_name(name), event.timestamp_column)
                          for name, event in settings.events.items()]
            latest = [ts for ts in latest if ts is not None]
            if not latest:
                raise dg.Failure("timeline.as_of is 'auto' but no event source has any event; set timeline.as_of")
            as_of, origin = max(latest), "data"
        else:
            as_of, origin = timeline_settings.as_of, "settings"
        try:
            timeline = undated or build_timeline(
                as_of, settings.label.horizon_days, cutoffs, timeline_settings.cutoff_spacing_days, origin,
                validation_cutoffs=None if collapsed else timeline_settings.validation_cutoffs,
                date_only=timeline_settings.date_only_events)
        except TimelineError as exc:
            raise dg.Failure(str(exc)) from None
        warnings = []
        with compute.engine() as engine:
            earliest = [earliest_timestamp(engine, raw_name(name), event.timestamp_column)
                        for name, event in settings.events.items()]
            for name, event in settings.events.items():
                counts, midnight_only = stamps_at(engine, raw_name(name), event.timestamp_column,
                                                  list(timeline.snapshots))
                warnings += boundary_warnings(timeline, f"events.{name}", counts, midnight_only)
        earliest = [ts for ts in earliest if ts is not None]
        warnings += history_warnings(timeline, min(earliest) if earliest else None, parse_windows(settings.windows))
        context.log.info(f"as-of {timeline.as_of.isoformat()} ({origin}); training cutoffs "
                         f"{[c.isoformat() for c in timeline.cutoffs]} ({timeline.cutoffs_source}); validated out "
                         f"of time at {[c.isoformat() for c in timeline.validation_cutoffs] or 'none'}; "
                         f"{timeline.day_boundary}")
        for warning in warnings:
            context.log.warning(warning)
        return dg.Output(timeline.to_dict(), metadata={
            "as_of": dg.MetadataValue.text(timeline.as_of.isoformat()),
            "as_of_source": dg.MetadataValue.text(origin),
            "training_cutoffs": dg.MetadataValue.json([c.isoformat() for c in timeline.cutoffs]),
            "validation_cutoffs": dg.MetadataValue.json([c.isoformat() for c in timeline.validation_cutoffs]),
            "day_boundary": dg.MetadataValue.text(timeline.day_boundary),
            "warnings": dg.MetadataValue.json(warnings),
            "horizon_days": dg.MetadataValue.int(settings.label.horizon_days),
            SOURCE_FINGERPRINT: dg.MetadataValue.text(fingerprint(settings.source_paths, settings.base_dir)),
        })

    return _asset


def build_raw_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    entity = settings.entity
    entity_description = (
        f"The customer table derived from raw_{entity.derived_from}: one row per key with first_seen and last_seen "
        "(min/max event time; last_seen is future information to every cutoff and never a feature)."
        if entity.derived_from else f"The entity table {entity.path}, validated and typed.")
    assets = [_raw_asset(settings, entity.name, entity_description, table_kinds)]
    assets += [
        _raw_asset(settings, name, f"Events from {event.path}, validated (their keys against the entity table), "
                                   "typed and normalised to UTC.", table_kinds)
        for name, event in settings.events.items()
    ]
    assets.append(_timeline_asset(settings))
    return assets
