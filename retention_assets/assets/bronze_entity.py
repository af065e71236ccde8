"""bronze_entity: the cleaned entity table (duplicate policy, type fixes, capping, imputation, text)."""

import dagster as dg

from retention_assets.assets.metadata import log_step, summary_metadata
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

    @dg.asset(name=BRONZE_ENTITY, group_name="bronze_entity", deps=[raw_name(entity.name)],
              ins={"plan": dg.AssetIn(RECOMMENDATIONS)}, kinds=table_kinds,
              description="The entity table cleaned: one row per key, capped outliers, imputed gaps, typed columns.")
    def _asset(context: dg.AssetExecutionContext, compute: EngineResource, plan: dict) -> dg.MaterializeResult:
        from retention_assets.exploration.recommendations import mark_applied

        report = compute.run_step(context, "bronze_entity", settings, plan=plan)
        values = report.values
        mark_applied(settings.findings_path / REGISTRY_FILE, values["applied"])
        log_step(context, report)
        return dg.MaterializeResult(metadata=summary_metadata(
            report.tables[BRONZE_ENTITY],
            cleaning=dg.MetadataValue.md(_report_markdown(values["cleaning"])),
            cleaning_statistics=dg.MetadataValue.json(values["cleaning"]),
            applied_recommendations=dg.MetadataValue.json(values["applied"]),
            excluded_by_review=dg.MetadataValue.json(values["excluded"]),
        ))

    return _asset
