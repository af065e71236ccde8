"""gold: labels kept apart from features, and the model-ready table with point-in-time columns."""

import dagster as dg
import pandas as pd

from retention_assets.assets.exploration import RECOMMENDATIONS, REGISTRY_FILE
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE, raw_name
from retention_assets.assets.silver import SILVER
from retention_assets.resources.compute import DuckDBCompute
from retention_assets.resources.storage import LocalTableStorage
from retention_assets.settings import Settings

GOLD_GROUP = "gold"
LABELS = "churn_labels"
GOLD = "gold_features"


def compute_labels(settings: Settings, tables: LocalTableStorage, compute: DuckDBCompute, tl, plan: dict) -> pd.DataFrame:
    from retention_assets.engine.duckdb import parquet_relation
    from retention_assets.features.entity import deduplicate, to_binary
    from retention_assets.features.event_windows import snapshot_spine_sql
    from retention_assets.exploration.plan import effective_target
    from retention_assets.features.labels import finalize_labels, inactivity_labels_sql, target_column_labels
    from retention_assets.engine.dialect import DUCKDB

    entity, label = settings.entity, settings.label
    entity_table = tables.table_path(raw_name(entity.name))
    target_column = effective_target(plan, entity.name, label.target_column if label.kind == "target_column" else None)
    if target_column:
        raw = pd.read_parquet(entity_table)
        raw, _ = deduplicate(raw, entity.entity_key, entity.duplicate_keys, entity.order_by)
        target = to_binary(raw[target_column], str(settings.resolve(entity.path)), target_column)
        label_ts = raw[label.label_timestamp_column] if label.label_timestamp_column else None
        signup = raw[entity.signup_column] if entity.signup_column else None
        return target_column_labels(raw, entity.entity_key, target, label_ts, list(tl.snapshots), tl.as_of, tl.horizon,
                                    signup=signup)

    q = DUCKDB.ident
    spine = snapshot_spine_sql(DUCKDB, parquet_relation(entity_table), entity.entity_key, list(tl.snapshots))
    if entity.signup_column:
        spine = (f"(SELECT s.*, min(k.{q(entity.signup_column)}) AS {q(entity.signup_column)} FROM {spine} s "
                 f"JOIN {parquet_relation(entity_table)} k ON CAST(k.{q(entity.entity_key)} AS VARCHAR) = "
                 f"s.{q(entity.entity_key)} GROUP BY ALL)")
    activity = [
        (parquet_relation(tables.table_path(raw_name(name))), settings.events[name].entity_key,
         settings.events[name].timestamp_column)
        for name in settings.activity_sources
    ]
    sql = inactivity_labels_sql(
        DUCKDB, activity, spine, entity.entity_key, horizon_hours=label.horizon_days * 24,
        active_within_hours=label.active_within_days * 24 if label.active_within_days else None,
        signup=entity.signup_column,
    )
    return finalize_labels(compute.connect().execute(sql).df(), tl.as_of, tl.horizon)


def build_gold_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    entity, label = settings.entity, settings.label
    key = entity.entity_key
    # Every source: a target chosen in the findings can switch the label definition at run time.
    deps = [dg.AssetKey(raw_name(entity.name))] + [dg.AssetKey(raw_name(name)) for name in settings.events]

    @dg.asset(name=LABELS, group_name=GOLD_GROUP, deps=deps,
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)},
              kinds={"duckdb", "parquet"},
              description=f"The churn label of every customer at every snapshot ({label.kind}, horizon "
                          f"{label.horizon_days} days). Labels read data after a cutoff, so they never feed a feature.")
    def churn_labels(tables: LocalTableStorage, compute: DuckDBCompute, timeline: dict,
                     plan: dict) -> dg.Output[pd.DataFrame]:
        from retention_assets.features.labels import ELIGIBLE, LABEL, LABEL_AVAILABLE
        from retention_assets.core.timeline import Timeline

        tl = Timeline.from_dict(timeline)
        labels = compute_labels(settings, tables, compute, tl, plan)
        observed = labels[labels[LABEL_AVAILABLE] & labels[ELIGIBLE]]
        rates = observed.groupby(observed["feature_timestamp"].astype(str))[LABEL].mean().round(4).to_dict()
        return dg.Output(labels, metadata=table_metadata(
            labels, as_of=tl.as_of.isoformat(),
            churn_rate_by_cutoff=dg.MetadataValue.json({k: float(v) for k, v in rates.items()}),
            eligible_training_rows=dg.MetadataValue.int(len(observed)),
        ))

    @dg.asset(name=GOLD, group_name=GOLD_GROUP, ins={"silver": dg.AssetIn(SILVER), "labels": dg.AssetIn(LABELS),
              "timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds={"pandas", "parquet"},
              description="Model-ready features with feature_timestamp, label_timestamp and label_available: "
                          "training rows at each cutoff, scoring rows at the as-of time.")
    def gold_features(silver: pd.DataFrame, labels: pd.DataFrame, timeline: dict,
                      plan: dict) -> dg.Output[pd.DataFrame]:
        from retention_assets.exploration.plan import layer_recommendations
        from retention_assets.features.gold import ROW_ROLE, apply_gold_recommendations, build_gold, training_rows
        from retention_assets.features.labels import LABEL
        from retention_assets.exploration.recommendations import mark_applied
        from retention_assets.core.timeline import Timeline

        tl = Timeline.from_dict(timeline)
        gold, applied = apply_gold_recommendations(build_gold(silver, labels, key, tl.as_of),
                                                   layer_recommendations(plan, "gold"), key)
        mark_applied(settings.findings_path / REGISTRY_FILE, applied)
        train = training_rows(gold)
        return dg.Output(gold, metadata=table_metadata(
            gold, as_of=tl.as_of.isoformat(),
            rows_by_role=dg.MetadataValue.json(gold[ROW_ROLE].value_counts().to_dict()),
            training_rows=dg.MetadataValue.int(len(train)),
            training_churn_rate=dg.MetadataValue.float(float(train[LABEL].mean()) if len(train) else float("nan")),
            applied_recommendations=dg.MetadataValue.json(applied),
        ))

    return [churn_labels, gold_features]
