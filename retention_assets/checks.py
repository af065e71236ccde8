"""Blocking asset checks: where a failure must stop the graph before a model is trained or scored."""

import dagster as dg

from retention_assets.core.names import (
    BRONZE_ENTITY,
    GOLD,
    MODEL,
    PUBLISHED,
    RECOMMENDATIONS,
    SILVER,
    TRAINING_SET,
    silver_inputs,
)
from retention_assets.resources.compute import EngineResource
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings


def build_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    key = settings.entity.entity_key
    model_settings = settings.model
    max_auc = model_settings.max_single_feature_auc
    max_separation = model_settings.max_separation_auc

    @dg.asset_check(asset=SILVER, blocking=True, description="Exactly one row per (entity key, feature_timestamp).")
    def silver_unique_keys(compute: EngineResource) -> dg.AssetCheckResult:
        from retention_assets.core.columns import FEATURE_TIMESTAMP
        from retention_assets.features.silver import repeated_keys

        with compute.engine() as engine:
            duplicates = repeated_keys(engine, engine.relation(SILVER), [key, FEATURE_TIMESTAMP])
        return dg.AssetCheckResult(passed=not duplicates, metadata={
            "duplicate_keys_shown": len(duplicates),
            "example_keys": dg.MetadataValue.json(sorted({str(k) for k, _ in duplicates}))})

    specs = [
        dg.AssetCheckSpec("point_in_time", asset=GOLD, blocking=True,
                          description="Every feature_timestamp is before its label_timestamp."),
        dg.AssetCheckSpec("two_label_classes", asset=GOLD, blocking=True,
                          description="The training rows hold both churned and retained customers."),
        dg.AssetCheckSpec("leakage_probe", asset=GOLD, blocking=True, additional_deps=[RECOMMENDATIONS],
                          description=f"Before training: no single feature separates the training labels with ROC AUC "
                                      f"above {max_auc} (per cutoff or pooled); no depth-3 tree separates them above "
                                      f"{max_separation} on the columns no other probe flagged; no entity column "
                                      f"beats every event-window feature by more than "
                                      f"{model_settings.max_static_advantage} (single-feature AUC); no source "
                                      "timestamp lies after its row's feature_timestamp; no identifier-like column "
                                      "is a feature. Every suspect is named at once, by reason."),
    ]

    @dg.multi_asset_check(specs=specs, ins={"plan": dg.AssetIn(RECOMMENDATIONS)}, name="gold_feature_checks")
    def gold_checks(compute: EngineResource, plan: dict):
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.features.gold import gold_summary
        from retention_assets.features.leakage import describe, probe_gold, suspect_columns
        from retention_assets.features.silver import column_origins

        with compute.engine() as engine:
            summary = gold_summary(engine, GOLD)
            yield dg.AssetCheckResult(check_name="point_in_time", passed=summary.late_rows == 0, asset_key=GOLD,
                                      metadata={"violating_rows": summary.late_rows})
            classes = summary.training_classes
            yield dg.AssetCheckResult(
                check_name="two_label_classes", asset_key=GOLD, passed=len(classes) == 2,
                description=None if len(classes) == 2 else f"training rows by label: {classes or 'no training rows'}",
                metadata={"class_counts": dg.MetadataValue.json(classes)})
            # Entity attributes are export-time values unless versioned (read as of each snapshot) or derived
            # from the events (first seen only): only export-time ones are compared as static.
            static_table = None if settings.entity.valid_from_column or settings.entity.derived_from else BRONZE_ENTITY
            origins = column_origins(engine, entity_table=BRONZE_ENTITY, key=key, inputs=silver_inputs(settings),
                                     date_columns=settings.entity_date_columns)
            probe = probe_gold(engine, GOLD, key, RunPlan.from_dict(plan).identifier_columns, max_auc=max_auc,
                               max_separation=max_separation, sample_rows=model_settings.leakage_probe_rows,
                               both_classes=len(classes) == 2, origins=origins, entity_table=static_table,
                               max_static_advantage=model_settings.max_static_advantage)
        description = describe(probe.findings)
        yield dg.AssetCheckResult(
            check_name="leakage_probe", asset_key=GOLD, passed=not probe.findings, description=description,
            metadata={
                "suspect_columns": dg.MetadataValue.json(suspect_columns(probe.findings)),
                "suspects_by_reason": dg.MetadataValue.json(
                    {r: [c for f in probe.findings if f.reason == r for c in f.suspects]
                     for r in dict.fromkeys(f.reason for f in probe.findings)}),
                "top_single_feature_auc": dg.MetadataValue.md(probe.top_aucs.to_markdown(index=False, floatfmt=".4f")),
                "probed_rows": dg.MetadataValue.int(probe.rows),
            },
        )

    tolerance = model_settings.champion_tolerance

    @dg.asset_check(asset=MODEL, blocking=True, additional_deps=[TRAINING_SET],
                    description="The challenger is at least as good as the registry's champion on the challenger's "
                                "out-of-sample validation rows; a worse one stops before champion_model.")
    def beats_champion(tracking: MlflowTracking, compute: EngineResource, churn_model) -> dg.AssetCheckResult:
        from retention_assets.model.champion import decide_champion

        with compute.engine() as engine:
            champion, decision = decide_champion(tracking.config(), churn_model, engine, TRAINING_SET, key, tolerance)
        return dg.AssetCheckResult(passed=decision.passed, description=decision.reason, metadata={
            "challenger_roc_auc": dg.MetadataValue.float(decision.challenger_auc),
            "champion_roc_auc": dg.MetadataValue.float(decision.champion_auc if decision.champion_auc is not None
                                                       else float("nan")),
            "champion_version": dg.MetadataValue.text(str(champion)),
            "challenger_version": dg.MetadataValue.text(str(churn_model.registered_version)),
        })

    max_plausible = model_settings.max_plausible_auc

    @dg.asset_check(asset=MODEL, blocking=True, additional_deps=[TRAINING_SET],
                    description=f"The model's validation ROC AUC is at most model.max_plausible_auc ({max_plausible}): "
                                "churn is never that predictable from honest features, so a higher one is a leak "
                                "that passed the probes; it stops before champion_model, naming the top features.")
    def plausible_auc(compute: EngineResource, churn_model) -> dg.AssetCheckResult:
        from retention_assets.core.columns import LABEL
        from retention_assets.feature_store.training_set import read_rows_at
        from retention_assets.features.leakage import plausible_model

        names = [f for f in churn_model.feature_importance if f in set(churn_model.feature_columns)][:5]
        with compute.engine() as engine:
            valid = read_rows_at(engine, TRAINING_SET, key, churn_model.validation_keys, columns=names or [key])
        valid[LABEL] = list(churn_model.validation_labels)
        verdict = plausible_model(float(churn_model.metrics["roc_auc"]), churn_model.feature_importance, valid, LABEL,
                                  max_plausible)
        return dg.AssetCheckResult(passed=verdict.passed, description=verdict.reason, metadata={
            "validation_roc_auc": dg.MetadataValue.float(float(churn_model.metrics["roc_auc"])),
            "max_plausible_auc": dg.MetadataValue.float(max_plausible),
            "top_features": dg.MetadataValue.md(verdict.top_features.to_markdown(index=False, floatfmt=".4f")),
        })

    @dg.asset_check(asset=TRAINING_SET, blocking=True, additional_deps=[PUBLISHED],
                    description="Feast's own get_historical_features, asked for a seeded sample of the training rows, "
                                "returns exactly the training set's values and types: the as-of join on the engine "
                                "neither dropped, shifted nor retyped a feature.")
    def matches_feast(context: dg.AssetCheckExecutionContext, compute: EngineResource,
                      feast: FeatureStoreResource) -> dg.AssetCheckResult:
        from retention_assets.core.columns import FEATURE_TIMESTAMP
        from retention_assets.feature_store.training_set import verify_against_feast

        with compute.engine() as engine:
            staged, _ = feast.stage(context.run.run_id, engine, PUBLISHED, key, FEATURE_TIMESTAMP)
            report = verify_against_feast(staged, engine, TRAINING_SET, key, rows=model_settings.feast_verify_rows)
        return dg.AssetCheckResult(passed=report.passed, description=report.describe(), metadata={
            "rows_checked": dg.MetadataValue.int(report.rows_checked),
            "training_rows": dg.MetadataValue.int(report.total_rows),
            "features_checked": dg.MetadataValue.int(report.features_checked),
            "differing_columns": dg.MetadataValue.json(report.differing_columns[:20])})

    return [silver_unique_keys, gold_checks, beats_champion, plausible_auc, matches_feast]
