"""Text columns to numeric features: one conditional asset per source.

Every source gets a `bronze_text_<source>` asset, because which columns are free text is decided at
run time by the findings (and the people reviewing them). A source without an accepted text
recommendation produces a keys-only table: nothing to add, nothing fails.
"""

import dagster as dg

from retention_assets.assets.metadata import stored_table_metadata
from retention_assets.core.names import RECOMMENDATIONS, TIMELINE, raw_name, text_name, text_terms_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings


def _event_text_asset(settings: Settings, source: str, table_kinds: set[str]) -> dg.AssetsDefinition:
    event = settings.events[source]
    exploration = settings.exploration

    @dg.asset(name=text_name(source), group_name="bronze_event", kinds={"scikitlearn", *table_kinds},
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)},
              deps=[raw_name(source), raw_name(settings.entity.name)],
              description=f"TF-IDF + truncated SVD components of {source}'s free-text columns, averaged per "
                          "customer per window; fitted only on text written by the earliest training cutoff.")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict,
               plan: dict) -> dg.MaterializeResult:
        from retention_assets.core.timeline import Timeline, parse_windows
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.features.text import build_event_text_features, terms_table

        tl, run_plan = Timeline.from_dict(timeline), RunPlan.from_dict(plan)
        roles = run_plan.event_roles(source)
        components = {r.column: int(r.params.get("components", exploration.text_components))
                      for r in run_plan.active("bronze_event", source, "text_svd")}
        with compute.engine() as engine:
            report = build_event_text_features(
                engine, events=engine.relation(raw_name(source)), entity=engine.relation(raw_name(settings.entity.name)),
                source=source, event_key=event.entity_key, entity_key=settings.entity.entity_key,
                timestamp_column=event.timestamp_column, text_columns=list(roles.text),
                windows=parse_windows(settings.windows), snapshots=list(tl.snapshots), n_components=components,
                max_features=exploration.text_max_features, fit_rows=exploration.text_fit_rows,
                target=text_name(source),
            )
            engine.write_frame(text_terms_name(source), terms_table(source, report.columns))
            applied = list(roles.text_recommendations)
            mark_applied(settings.findings_path / REGISTRY_FILE, applied)
            if not roles.text:
                context.log.info(f"{source}: no accepted text column; producing keys only")
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, text_name(source), as_of=tl.as_of.isoformat(),
                text_columns=dg.MetadataValue.json(list(roles.text)),
                text_models=dg.MetadataValue.json(report.to_dict()),
                applied_recommendations=dg.MetadataValue.json(applied),
            ))

    return _asset


def build_text_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [_event_text_asset(settings, source, table_kinds) for source in settings.events]
