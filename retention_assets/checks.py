"""Blocking asset checks: where a failure must stop the graph before a model is trained or scored."""

import dagster as dg
import pandas as pd

from retention_assets.assets.exploration import RECOMMENDATIONS
from retention_assets.assets.feature_store import TRAINING_SET
from retention_assets.assets.gold import GOLD
from retention_assets.assets.model import MODEL
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.assets.silver import SILVER
from retention_assets.settings import Settings

FEATURE_TIMESTAMP = "feature_timestamp"


def build_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    key = settings.entity.entity_key
    max_auc = settings.model.max_single_feature_auc
    max_separation = settings.model.max_separation_auc

    @dg.asset_check(asset=SILVER, blocking=True, description="Exactly one row per (entity key, feature_timestamp).")
    def silver_unique_keys(silver_joined: pd.DataFrame) -> dg.AssetCheckResult:
        dup = silver_joined.duplicated([key, FEATURE_TIMESTAMP], keep=False)
        examples = silver_joined.loc[dup, key].drop_duplicates().head(5).tolist()
        return dg.AssetCheckResult(passed=not dup.any(), metadata={
            "duplicate_rows": int(dup.sum()), "example_keys": dg.MetadataValue.json(examples)})

    specs = [
        dg.AssetCheckSpec("point_in_time", asset=GOLD, blocking=True,
                          description="Every feature_timestamp is before its label_timestamp."),
        dg.AssetCheckSpec("two_label_classes", asset=GOLD, blocking=True,
                          description="The training rows hold both churned and retained customers."),
        dg.AssetCheckSpec("leakage_probe", asset=GOLD, blocking=True, additional_deps=[RECOMMENDATIONS],
                          description=f"Before training: no single feature separates the training labels with ROC AUC "
                                      f"above {max_auc} (per cutoff or pooled); no depth-3 tree separates them above "
                                      f"{max_separation}; no source timestamp lies after its row's feature_timestamp; "
                                      "no identifier-like column is a feature."),
    ]

    @dg.multi_asset_check(specs=specs, ins={"gold": dg.AssetIn(GOLD), "plan": dg.AssetIn(RECOMMENDATIONS)},
                          name="gold_feature_checks")
    def gold_checks(gold: pd.DataFrame, plan: dict):
        from retention_assets.features.gold import feature_columns, training_rows
        from retention_assets.features.labels import LABEL, LABEL_TIMESTAMP
        from retention_assets.features.leakage import (
            future_dates,
            identifier_like,
            near_perfect_separation,
            single_feature_auc_by_group,
            too_predictive,
        )

        late = gold[FEATURE_TIMESTAMP] >= gold[LABEL_TIMESTAMP]
        yield dg.AssetCheckResult(check_name="point_in_time", passed=not late.any(), asset_key=GOLD,
                                  metadata={"violating_rows": int(late.sum())})

        train = training_rows(gold)
        classes = train[LABEL].value_counts().to_dict() if len(train) else {}
        yield dg.AssetCheckResult(check_name="two_label_classes", asset_key=GOLD, passed=len(classes) == 2,
                                  metadata={"class_counts": dg.MetadataValue.json({str(k): int(v) for k, v in classes.items()})})

        features = feature_columns(gold, key)
        aucs = (single_feature_auc_by_group(train, features, LABEL, FEATURE_TIMESTAMP) if len(classes) == 2
                else pd.DataFrame(columns=["feature", "auc", "scope"]))
        # Every "days since" column measures back from the row's feature timestamp; a negative value means a
        # source timestamp after it.
        durations = [c for c in features if "days_since" in c]
        identifiers = [c for cols in plan.get("identifiers", {}).values() for c in cols]
        findings = (too_predictive(aucs, max_auc) + future_dates(train, durations)
                    + identifier_like(train, features, identifiers))
        if not findings and len(classes) == 2:
            findings = near_perfect_separation(train, features, LABEL, max_separation)
        description = "; ".join(f"{f.column}: {f.evidence}" for f in findings) or None
        yield dg.AssetCheckResult(
            check_name="leakage_probe", asset_key=GOLD, passed=not findings, description=description,
            metadata={
                "suspect_columns": dg.MetadataValue.json([f.column for f in findings]),
                "top_single_feature_auc": dg.MetadataValue.md(aucs.head(10).to_markdown(index=False, floatfmt=".4f")),
            },
        )

    tolerance = settings.model.champion_tolerance

    @dg.asset_check(asset=MODEL, blocking=True, additional_ins={"gold": dg.AssetIn(GOLD)},
                    description="The challenger is at least as good as the registry's champion on the challenger's "
                                "out-of-sample validation rows; a worse one stops before champion_model.")
    def beats_champion(tracking: MlflowTracking, churn_model, gold: pd.DataFrame) -> dg.AssetCheckResult:
        from retention_assets.model.champion import evaluate_against_champion

        champion, decision = evaluate_against_champion(tracking.config(), churn_model, gold, tolerance)
        return dg.AssetCheckResult(passed=decision.passed, description=decision.reason, metadata={
            "challenger_roc_auc": dg.MetadataValue.float(decision.challenger_auc),
            "champion_roc_auc": dg.MetadataValue.float(decision.champion_auc if decision.champion_auc is not None
                                                       else float("nan")),
            "champion_version": dg.MetadataValue.text(str(champion)),
            "challenger_version": dg.MetadataValue.text(str(churn_model.registered_version)),
        })

    @dg.asset_check(asset=TRAINING_SET, blocking=True, additional_ins={"gold": dg.AssetIn(GOLD)},
                    description="The training set served by Feast equals gold's training rows, value for value: the "
                                "feature store neither dropped, shifted nor retyped a feature.")
    def matches_gold(training_set: pd.DataFrame, gold: pd.DataFrame) -> dg.AssetCheckResult:
        from retention_assets.features.gold import training_rows

        expected = training_rows(gold)
        same_shape = list(expected.columns) == list(training_set.columns) and len(expected) == len(training_set)
        differing = ([c for c in expected.columns if not expected[c].equals(training_set[c])] if same_shape
                     else sorted(set(expected.columns) ^ set(training_set.columns)))
        return dg.AssetCheckResult(passed=same_shape and not differing, metadata={
            "rows": dg.MetadataValue.int(len(training_set)), "expected_rows": dg.MetadataValue.int(len(expected)),
            "differing_columns": dg.MetadataValue.json(differing[:20])})

    return [silver_unique_keys, gold_checks, beats_champion, matches_gold]
