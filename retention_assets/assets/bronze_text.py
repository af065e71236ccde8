"""Text columns to numeric features: one conditional asset per source.

Every source gets a `bronze_text_<source>` asset, because which columns are free text is decided at
run time by the findings (and the people reviewing them). A source without an accepted text
recommendation produces an empty feature table (keys only): nothing to add, nothing fails.
"""

import dagster as dg
import pandas as pd

from retention_assets.assets.exploration import RECOMMENDATIONS, REGISTRY_FILE
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE, raw_name
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import Settings


def text_asset_name(source: str) -> str:
    return f"bronze_text_{source}"


def text_asset_names(settings: Settings) -> list[str]:
    return [text_asset_name(s) for s in settings.events]


def _event_text_asset(settings: Settings, source: str) -> dg.AssetsDefinition:
    event = settings.events[source]
    key = settings.entity.entity_key

    @dg.asset(name=text_asset_name(source), group_name="bronze_event", kinds={"scikitlearn", "parquet"},
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)},
              deps=[dg.AssetKey(raw_name(source)), dg.AssetKey(raw_name(settings.entity.name))],
              description=f"TF-IDF + truncated SVD components of {source}'s free-text columns, averaged per "
                          "customer per window; fitted only on text written by the earliest training cutoff.")
    def _asset(context: dg.AssetExecutionContext, tables: LocalTableStorage, compute: DuckDBCompute,
               timeline: dict, plan: dict) -> dg.Output[pd.DataFrame]:
        from retention_assets.exploration.plan import event_columns
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.features.text import event_text_window_features
        from retention_assets.core.timeline import Timeline, parse_windows

        tl = Timeline.from_dict(timeline)
        roles = event_columns(plan, source)
        entity_keys = pd.read_parquet(tables.table_path(raw_name(settings.entity.name)),
                                      columns=[key])[key].astype(str).drop_duplicates()
        spine = pd.DataFrame([(k, pd.Timestamp(s)) for s in tl.snapshots for k in entity_keys],
                             columns=[key, "feature_timestamp"])
        features, fitted = spine, {}
        if roles["text"]:
            columns = [event.entity_key, event.timestamp_column, *roles["text"]]
            events = pd.read_parquet(tables.table_path(raw_name(source)), columns=columns)
            events = events.rename(columns={event.entity_key: key}) if event.entity_key != key else events
            con = compute.connect()
            for column in roles["text"]:
                frames, model = event_text_window_features(
                    con, events, source=source, entity_key=key, timestamp_column=event.timestamp_column,
                    text_column=column, windows=parse_windows(settings.windows), entity_keys=entity_keys,
                    snapshots=list(tl.snapshots), n_components=settings.exploration.text_components,
                    max_features=settings.exploration.text_max_features,
                )
                fitted[column] = {"components": model.n_components, "fitted_rows": model.fitted_rows,
                                  "fitted_through": model.fitted_through}
                for frame in frames.values():
                    frame = frame.assign(feature_timestamp=pd.to_datetime(frame["feature_timestamp"], utc=True))
                    features = features.merge(frame, on=[key, "feature_timestamp"], how="left", validate="one_to_one")
        applied = [i for i in roles["ids"] if ":text_svd" in i]
        mark_applied(settings.findings_path / REGISTRY_FILE, applied)
        if not roles["text"]:
            context.log.info(f"{source}: no accepted text column; producing keys only")
        return dg.Output(features, metadata=table_metadata(
            features, as_of=tl.as_of.isoformat(),
            text_columns=dg.MetadataValue.json(roles["text"]),
            text_models=dg.MetadataValue.json(fitted),
            applied_recommendations=dg.MetadataValue.json(applied),
        ))

    return _asset


def build_text_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [_event_text_asset(settings, source) for source in settings.events]
