"""bronze_entity: the cleaned entity table (duplicate policy, type fixes, capping, imputation)."""

import dagster as dg
import pandas as pd

from retention_assets.assets.exploration import RECOMMENDATIONS, REGISTRY_FILE
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import raw_name
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import Settings

BRONZE_ENTITY = "bronze_entity"


def label_only_columns(settings: Settings, plan: dict) -> list[str]:
    """Entity columns that hold the label: they never become features."""
    from retention_assets.exploration.plan import effective_target

    label = settings.label
    target = effective_target(plan, settings.entity.name, label.target_column if label.kind == "target_column" else None)
    return [c for c in (target, label.label_timestamp_column if target else None) if c]


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


def build_bronze_entity_asset(settings: Settings) -> dg.AssetsDefinition:
    entity = settings.entity

    @dg.asset(name=BRONZE_ENTITY, group_name="bronze_entity", deps=[dg.AssetKey(raw_name(entity.name))],
              ins={"plan": dg.AssetIn(RECOMMENDATIONS)}, kinds={"pandas", "parquet"},
              description="The entity table cleaned: one row per key, capped outliers, imputed gaps, typed columns.")
    def _asset(context: dg.AssetExecutionContext, tables: LocalTableStorage, plan: dict) -> dg.Output[pd.DataFrame]:
        from retention_assets.features.entity import CleaningPlan, clean_entity
        from retention_assets.exploration.plan import layer_recommendations
        from retention_assets.exploration.recommendations import mark_applied

        raw = pd.read_parquet(tables.table_path(raw_name(entity.name)))
        label_columns = label_only_columns(settings, plan)
        excluded = [c for c in plan.get("excluded", {}).get(entity.name, []) if c != entity.entity_key]
        raw = raw.drop(columns=[c for c in (*label_columns, *excluded) if c in raw.columns])
        passthrough = tuple(entity.date_columns) + ((entity.signup_column,) if entity.signup_column else ())
        recs = layer_recommendations(plan, "bronze_entity", entity.name)
        cleaned, report = clean_entity(
            raw, entity.entity_key, CleaningPlan.from_recommendations(recs), duplicate_policy=entity.duplicate_keys,
            order_by=entity.order_by, passthrough=passthrough,
        )
        cleaned, text_applied = _text_components(cleaned, entity.entity_key, entity.name, recs, settings)
        applied = sorted([*report.applied, *text_applied])
        mark_applied(settings.findings_path / REGISTRY_FILE, applied)
        if report.duplicates_dropped:
            context.log.warning(f"dropped {report.duplicates_dropped} duplicate key row(s) ({entity.duplicate_keys})")
        report_dict = report.to_dict()
        return dg.Output(cleaned, metadata=table_metadata(
            cleaned,
            cleaning=dg.MetadataValue.md(_report_markdown(report_dict)),
            cleaning_statistics=dg.MetadataValue.json(report_dict),
            applied_recommendations=dg.MetadataValue.json(applied),
            excluded_by_review=dg.MetadataValue.json(excluded),
        ))

    return _asset


def _text_components(frame: pd.DataFrame, key: str, source: str, recs, settings: Settings):
    """Replace accepted free-text entity columns by their TF-IDF + SVD components."""
    from retention_assets.features.text import entity_text_features, fit_text_model

    applied = []
    for rec in recs:
        if rec.action != "text_svd" or rec.column not in frame:
            continue
        model = fit_text_model(frame[rec.column], rec.column, n_components=settings.exploration.text_components,
                               max_features=settings.exploration.text_max_features)
        components = entity_text_features(frame, key, source, rec.column, model)
        frame = frame.drop(columns=[rec.column]).merge(components, on=key, how="left", validate="one_to_one")
        applied.append(rec.id)
    return frame, applied
