"""bronze_entity: the cleaned entity table (duplicate policy, type fixes, capping, imputation, text)."""

import dagster as dg

from retention_assets.assets.metadata import stored_table_metadata
from retention_assets.core.names import BRONZE_ENTITY, RECOMMENDATIONS, raw_name
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.settings import Settings


def _report_markdown(report: dict) -> str:
    lines = ["| column | action | detail |", "|---|---|---|"]
    for column, cap in report["caps"].items():
        lines.append(f"| {column} | capped at IQR fences | [{cap['lower']:.4g}, {cap['upper']:.4g}], {cap['n_capped']} value(s) |")
    for column, imp in report["imputations"].items():
        lines.append(f"| {column} | imputed ({imp['strategy']}) | {imp['value']!r}, {imp['n_filled']} value(s) |")
    for fix, count in report["type_fixes"].items():
        lines.append(f"| {fix.split(':')[0]} | type fix | {fix.split(':', 1)[1].strip()}, {count} value(s) |")
    lines.append(f"| (rows) | duplicate keys dropped | {report['duplicates_dropped']} |")
    return "\n".join(lines)


def build_bronze_entity_asset(settings: Settings, table_kinds: set[str]) -> dg.AssetsDefinition:
    entity = settings.entity
    exploration = settings.exploration

    @dg.asset(name=BRONZE_ENTITY, group_name="bronze_entity", deps=[raw_name(entity.name)],
              ins={"plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description="The entity table cleaned: one row per key, capped outliers, imputed gaps, typed columns.")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource, plan: dict) -> dg.MaterializeResult:
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.features.entity import CleaningPlan, clean_entity_table
        from retention_assets.features.labels import label_definition
        from retention_assets.features.text import replace_text_with_components

        run_plan = RunPlan.from_dict(plan)
        definition = label_definition(settings, run_plan)
        label_columns = [c for c in (definition.target_column, definition.label_timestamp_column) if c]
        excluded = [c for c in run_plan.excluded_columns(entity.name) if c != entity.entity_key]
        recs = run_plan.active("bronze_entity", entity.name)
        with compute.engine() as engine:
            report = clean_entity_table(
                engine, relation=engine.relation(raw_name(entity.name)), key=entity.entity_key,
                plan=CleaningPlan.from_recommendations(recs), target=BRONZE_ENTITY,
                duplicate_policy=entity.duplicate_keys, order_by=entity.order_by,
                passthrough=tuple(settings.entity_date_columns), drop=tuple(dict.fromkeys([*label_columns, *excluded])),
            )
            text_applied = []
            for rec in recs:
                if rec.action == "text_svd" and rec.column in engine.column_types(engine.relation(BRONZE_ENTITY)):
                    replace_text_with_components(
                        engine, table=BRONZE_ENTITY, key=entity.entity_key, source=entity.name, column=rec.column,
                        n_components=int(rec.params.get("components", exploration.text_components)),
                        max_features=exploration.text_max_features, fit_rows=exploration.text_fit_rows)
                    text_applied.append(rec.id)
            applied = sorted([*report.applied, *text_applied])
            mark_applied(settings.findings_path / REGISTRY_FILE, applied)
            if report.duplicates_dropped:
                context.log.warning(f"dropped {report.duplicates_dropped} duplicate key row(s) ({entity.duplicate_keys})")
            report_dict = report.to_dict()
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, BRONZE_ENTITY,
                cleaning=dg.MetadataValue.md(_report_markdown(report_dict)),
                cleaning_statistics=dg.MetadataValue.json(report_dict),
                applied_recommendations=dg.MetadataValue.json(applied),
                excluded_by_review=dg.MetadataValue.json(excluded),
            ))

    return _asset
