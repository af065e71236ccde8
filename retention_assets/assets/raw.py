"""raw: one asset per declared source (read, type, validate), and the run's shared timeline."""

import dagster as dg

from retention_assets.assets.metadata import schema_metadata
from retention_assets.core.errors import DataValidationError
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import EventSettings, Settings

RAW_GROUP = "raw"
TIMELINE = "analysis_timeline"
SOURCE_FINGERPRINT = "source_fingerprint"  # of the files this run read; the source sensor compares against it


def raw_name(source: str) -> str:
    return f"raw_{source}"


def source_specs(settings: Settings):
    """The validation spec of every declared source, entity first."""
    from retention_assets.features.raw import SourceSpec

    entity = settings.entity
    label = settings.label
    target_cols = [label.target_column] if label.kind == "target_column" and label.target_column else []
    label_ts_cols = [label.label_timestamp_column] if label.kind == "target_column" and label.label_timestamp_column else []
    specs = {
        entity.name: SourceSpec(
            name=entity.name,
            path=settings.resolve(entity.path),
            file_format=entity.file_format,
            entity_key=entity.entity_key,
            date_columns=tuple(dict.fromkeys([*entity.date_columns, *label_ts_cols,
                                              *([entity.signup_column] if entity.signup_column else [])])),
            numeric_columns=tuple(entity.numeric_columns or ()),
            string_columns=tuple(dict.fromkeys([*(entity.categorical_columns or ()), *target_cols])),
            unique_key=entity.duplicate_keys == "error",
            keep_other_columns=True,
            exclude_columns=tuple(entity.exclude_columns),
        )
    }
    for name, event in settings.events.items():
        specs[name] = event_source_spec(settings, name, event)
    return specs


def event_source_spec(settings: Settings, name: str, event: EventSettings):
    from retention_assets.features.raw import SourceSpec

    return SourceSpec(
        name=name,
        path=settings.resolve(event.path),
        file_format=event.file_format,
        entity_key=event.entity_key,
        timestamp_columns=(event.timestamp_column,),
        numeric_columns=tuple(event.value_columns or ()),
        string_columns=tuple(dict.fromkeys([*(event.categorical_columns or ()), *(event.text_columns or ())])),
        naive_timezone=event.naive_timestamps_timezone,
        keep_other_columns=True,
    )


def _raw_asset(settings: Settings, source: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=raw_name(source), group_name=RAW_GROUP, description=description,
              kinds={"duckdb", "parquet"})
    def _asset(context: dg.AssetExecutionContext, tables: LocalTableStorage, compute: DuckDBCompute) -> dg.MaterializeResult:
        from retention_assets.engine.duckdb import parquet_relation
        from retention_assets.features.raw import validate_and_write

        spec = source_specs(settings)[source]
        target = tables.table_path(raw_name(source))
        con = compute.connect()
        try:
            report = validate_and_write(con, spec, target)
        except DataValidationError as exc:
            # One clear sentence in the UI and the logs instead of a library traceback.
            raise dg.Failure(description=str(exc), metadata={"file": str(spec.path), "column": str(exc.column)},
                             allow_retries=False) from None
        preview = con.execute(f"SELECT * FROM {parquet_relation(target)} LIMIT 5").df()
        for repair in report.repairs:
            context.log.info(f"{raw_name(source)} repair: {repair}")
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(report.rows),
            "dagster/column_schema": schema_metadata(report.columns),
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
            "source_file": dg.MetadataValue.path(str(spec.path)),
            "table": dg.MetadataValue.path(str(target)),
            "repairs": dg.MetadataValue.json(report.repairs),
        }
        if report.time_span:
            metadata["first_event"] = dg.MetadataValue.text(report.time_span[0])
            metadata["last_event"] = dg.MetadataValue.text(report.time_span[1])
        if report.duplicate_key_rows:
            metadata["duplicate_key_rows"] = dg.MetadataValue.int(report.duplicate_key_rows)
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def _timeline_asset(settings: Settings) -> dg.AssetsDefinition:
    event_keys = [dg.AssetKey(raw_name(name)) for name in settings.events]

    @dg.asset(name=TIMELINE, group_name=RAW_GROUP, deps=event_keys, kinds={"python"},
              description="The as-of timestamp shared by every source in this run and the training cutoffs "
                          "before it (explicit in the settings, or the latest event in the data).")
    def _asset(context: dg.AssetExecutionContext, tables: LocalTableStorage, compute: DuckDBCompute) -> dg.Output[dict]:
        from retention_assets.engine.duckdb import parquet_relation
        from retention_assets.core.files import fingerprint
        from retention_assets.engine.dialect import quote
        from retention_assets.core.timeline import build_timeline

        timeline_settings = settings.timeline
        if timeline_settings.as_of == "auto":
            con = compute.connect()
            latest = [
                con.execute(f"SELECT max({quote(event.timestamp_column)}) FROM "
                            f"{parquet_relation(tables.table_path(raw_name(name)))}").fetchone()[0]
                for name, event in settings.events.items()
            ]
            latest = [ts for ts in latest if ts is not None]
            if not latest:
                raise dg.Failure("timeline.as_of is 'auto' but no event source has any event; set timeline.as_of")
            as_of, origin = max(latest), "data"
        else:
            as_of, origin = timeline_settings.as_of, "settings"
        timeline = build_timeline(as_of, settings.label.horizon_days, timeline_settings.training_cutoffs,
                                  timeline_settings.cutoff_spacing_days, origin)
        context.log.info(f"as-of {timeline.as_of.isoformat()} ({origin}); cutoffs {[c.isoformat() for c in timeline.cutoffs]}")
        return dg.Output(timeline.to_dict(), metadata={
            "as_of": dg.MetadataValue.text(timeline.as_of.isoformat()),
            "as_of_source": dg.MetadataValue.text(origin),
            "training_cutoffs": dg.MetadataValue.json([c.isoformat() for c in timeline.cutoffs]),
            "horizon_days": dg.MetadataValue.int(settings.label.horizon_days),
            SOURCE_FINGERPRINT: dg.MetadataValue.text(fingerprint(settings.source_paths)),
        })

    return _asset


def build_raw_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    assets = [_raw_asset(settings, settings.entity.name, f"The entity table {settings.entity.path}, validated and typed.")]
    assets += [
        _raw_asset(settings, name, f"Events from {event.path}, validated, typed and normalised to UTC.")
        for name, event in settings.events.items()
    ]
    assets.append(_timeline_asset(settings))
    return assets
