"""gold: labels kept apart from features, and the model-ready table with point-in-time columns."""

import dagster as dg

from retention_assets.assets.failures import input_errors_as_failures
from retention_assets.assets.metadata import stored_table_metadata
from retention_assets.core.names import GOLD, LABELS, RECOMMENDATIONS, SILVER, TIMELINE, raw_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings

GOLD_GROUP = "gold"


def build_gold_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    entity, label = settings.entity, settings.label
    key = entity.entity_key
    # Every source: a target chosen in the findings can switch the label definition at run time.
    deps = [raw_name(entity.name), *(raw_name(name) for name in settings.events)]

    @dg.asset(name=LABELS, group_name=GOLD_GROUP, deps=deps,
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description=f"The churn label of every customer at every snapshot ({label.kind}, horizon "
                          f"{label.horizon_days} days). Labels read data after a cutoff, so they never feed a feature.")
    def churn_labels(compute: EngineResource, timeline: dict, plan: dict) -> dg.MaterializeResult:
        from retention_assets.core.timeline import Timeline
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.features.labels import activity_sources, label_definition, label_rates_sql, write_labels

        tl = Timeline.from_dict(timeline)
        definition = label_definition(settings, RunPlan.from_dict(plan))
        with compute.engine() as engine, input_errors_as_failures():
            write_labels(engine, definition, entity=engine.relation(raw_name(entity.name)),
                         activity=activity_sources(engine, settings), snapshots=list(tl.snapshots), as_of=tl.as_of,
                         target=LABELS, source_path=str(settings.resolve(entity.path)))
            rates = engine.rows(label_rates_sql(engine.dialect, engine.relation(LABELS)))
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, LABELS, as_of=tl.as_of.isoformat(),
                label_definition=dg.MetadataValue.text(definition.kind),
                churn_rate_by_cutoff=dg.MetadataValue.json({c: round(float(r), 4) for c, _, r in rates}),
                eligible_training_rows=dg.MetadataValue.int(sum(int(n) for _, n, _ in rates)),
            ))

    @dg.asset(name=GOLD, group_name=GOLD_GROUP, deps=[SILVER, LABELS],
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description="Model-ready features with feature_timestamp, label_timestamp and label_available: "
                          "training rows at each cutoff, scoring rows at the as-of time.")
    def gold_features(compute: EngineResource, timeline: dict, plan: dict) -> dg.MaterializeResult:
        from retention_assets.core.timeline import Timeline
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.features.gold import build_gold, gold_summary

        tl = Timeline.from_dict(timeline)
        with compute.engine() as engine:
            _, applied = build_gold(engine, silver_table=SILVER, labels_table=LABELS, key=key, as_of=tl.as_of,
                                    recommendations=RunPlan.from_dict(plan).active("gold"), target=GOLD)
            mark_applied(settings.findings_path / REGISTRY_FILE, applied)
            summary = gold_summary(engine, GOLD)
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, GOLD, as_of=tl.as_of.isoformat(),
                rows_by_role=dg.MetadataValue.json(summary.rows_by_role),
                training_rows=dg.MetadataValue.int(summary.training_rows),
                training_churn_rate=dg.MetadataValue.float(summary.training_churn_rate),
                applied_recommendations=dg.MetadataValue.json(applied),
            ))

    return [churn_labels, gold_features]
