"""gold: labels kept apart from features, and the model-ready table with point-in-time columns."""

import dagster as dg

from retention_assets.assets.failures import input_errors_as_failures
from retention_assets.assets.metadata import log_step, summary_metadata
from retention_assets.core.names import GOLD, LABELS, RECOMMENDATIONS, SILVER, TIMELINE, raw_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings

GOLD_GROUP = "gold"


def build_gold_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    entity, label = settings.entity, settings.label
    # Every source: a target chosen in the findings can switch the label definition at run time.
    deps = [raw_name(entity.name), *(raw_name(name) for name in settings.events)]

    @dg.asset(name=LABELS, group_name=GOLD_GROUP, deps=deps,
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description=f"The churn label of every customer at every snapshot ({label.kind}, horizon "
                          f"{label.horizon_days} days). Labels read data after a cutoff, so they never feed a feature.")
    def churn_labels(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict,
                     plan: dict) -> dg.MaterializeResult:
        with input_errors_as_failures():
            report = compute.run_step(context, "labels", settings, timeline=timeline, plan=plan)
        log_step(context, report)
        values = report.values
        return dg.MaterializeResult(metadata=summary_metadata(
            report.tables[LABELS], as_of=timeline["as_of"],
            label_definition=dg.MetadataValue.text(values["label_definition"]),
            churn_rate_by_cutoff=dg.MetadataValue.json(values["churn_rate_by_cutoff"]),
            eligible_training_rows=dg.MetadataValue.int(values["eligible_training_rows"]),
        ))

    @dg.asset(name=GOLD, group_name=GOLD_GROUP, deps=[SILVER, LABELS],
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description="Model-ready features with feature_timestamp, label_timestamp and label_available: "
                          "training rows at each cutoff, scoring rows at the as-of time.")
    def gold_features(context: dg.AssetExecutionContext, compute: EngineResource, timeline: dict,
                      plan: dict) -> dg.MaterializeResult:
        from retention_assets.exploration.recommendations import mark_applied

        report = compute.run_step(context, "gold", settings, timeline=timeline, plan=plan)
        values = report.values
        mark_applied(settings.findings_path / REGISTRY_FILE, values["applied"])
        log_step(context, report)
        return dg.MaterializeResult(metadata=summary_metadata(
            report.tables[GOLD], as_of=timeline["as_of"],
            rows_by_role=dg.MetadataValue.json(values["rows_by_role"]),
            training_rows=dg.MetadataValue.int(values["training_rows"]),
            training_churn_rate=dg.MetadataValue.float(values["training_churn_rate"]),
            applied_recommendations=dg.MetadataValue.json(values["applied"]),
        ))

    return [churn_labels, gold_features]
