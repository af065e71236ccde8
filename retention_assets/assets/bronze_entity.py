"""bronze_entity: the cleaned entity table (duplicate policy, type fixes, capping, imputation)."""

import dagster as dg
import pandas as pd

from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import raw_name
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import Settings

BRONZE_ENTITY = "bronze_entity"


def label_only_columns(settings: Settings) -> list[str]:
    """Entity columns that hold the label: they never become features."""
    label = settings.label
    if label.kind != "target_column":
        return []
    return [c for c in (label.target_column, label.label_timestamp_column) if c]


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
              kinds={"pandas", "parquet"},
              description="The entity table cleaned: one row per key, capped outliers, imputed gaps, typed columns.")
    def _asset(context: dg.AssetExecutionContext, tables: LocalTableStorage) -> dg.Output[pd.DataFrame]:
        from retention_assets.lib.entity_cleaning import CleaningPlan, clean_entity

        raw = pd.read_parquet(tables.table_path(raw_name(entity.name)))
        raw = raw.drop(columns=[c for c in label_only_columns(settings) if c in raw.columns])
        passthrough = tuple(entity.date_columns) + ((entity.signup_column,) if entity.signup_column else ())
        plan = CleaningPlan.default_for(raw, entity.entity_key, entity.outlier_iqr_multiplier)
        cleaned, report = clean_entity(
            raw, entity.entity_key, plan, duplicate_policy=entity.duplicate_keys, order_by=entity.order_by,
            passthrough=passthrough,
        )
        if report.duplicates_dropped:
            context.log.warning(f"dropped {report.duplicates_dropped} duplicate key row(s) ({entity.duplicate_keys})")
        report_dict = report.to_dict()
        return dg.Output(cleaned, metadata=table_metadata(
            cleaned,
            cleaning=dg.MetadataValue.md(_report_markdown(report_dict)),
            cleaning_statistics=dg.MetadataValue.json(report_dict),
        ))

    return _asset
