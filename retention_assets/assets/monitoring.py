"""monitoring: drift of the scoring population and realized performance of matured scoring cohorts.

Both assets carry a signal in their metadata (`drift_signal`, `performance_signal`) that the
sensors in automation.py turn into a retraining run, and a non-blocking check that shows it.
"""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd

from retention_assets.assets.metadata import table_metadata
from retention_assets.core.columns import FIRST_SEEN
from retention_assets.core.names import DRIFT, GOLD, PERFORMANCE, RECOMMENDATIONS, SCORES, TIMELINE, raw_name
from retention_assets.resources.compute import EngineResource
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings

MONITORING_GROUP = "monitoring"
SCORE_ROW = "__predicted_score"
SHOWN = 15


RUN_COLUMNS = ("as_of", "model_version", "trained_as_of")  # constant per run, stored with every row


def split_drift_table(table: "pd.DataFrame") -> "tuple[pd.DataFrame, float]":
    """The per-feature rows and the predicted-score PSI stored beside them."""
    score = table.loc[table["feature"] == SCORE_ROW, "psi"]
    return table[table["feature"] != SCORE_ROW].reset_index(drop=True), float(score.iloc[0]) if len(score) else 0.0


def drift_run(table: "pd.DataFrame") -> dict[str, str]:
    """The as-of time, scoring model version and its trained-as-of time stored with a drift table."""
    return {c: (str(table[c].iloc[0]) if c in table.columns and len(table) else "") for c in RUN_COLUMNS}


def build_monitoring_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    key = settings.entity.entity_key
    monitoring = settings.monitoring
    # the same entity dates the naming rules read (features/meanings.py: run_vocabulary)
    date_columns = [*settings.entity_date_columns, *([FIRST_SEEN] if settings.entity.derived_from else [])]

    def bands():
        from retention_assets.monitoring.drift import Bands

        return Bands(monitoring.psi_moderate, monitoring.psi_significant)

    @dg.asset(name=DRIFT, group_name=MONITORING_GROUP, deps=[GOLD, SCORES], kinds={"pandas", "parquet"},
              description="The active scoring population against the training reference logged with the scoring "
                          "model: PSI on reference-quantile bins, KS or chi-square, missing rates, new and vanished "
                          "categories, the predicted-score distribution; weighted by the model's feature importance.")
    def feature_drift(context: dg.AssetExecutionContext, tracking: MlflowTracking,
                      compute: EngineResource) -> dg.Output:
        import pandas as pd

        from retention_assets.core.columns import FEATURE_TIMESTAMP
        from retention_assets.core.plots import drift_contribution_png, markdown_image
        from retention_assets.model.scoring import score_summary
        from retention_assets.monitoring.drift import (
            active_probabilities,
            answered,
            calendar_features,
            current_population,
            drift_signal,
            drift_table,
            elapsed_days,
            numeric_psi,
        )
        from retention_assets.monitoring.drift_history import (
            append_drift_history,
            history_markdown,
            history_rows,
            recent_top,
        )
        from retention_assets.monitoring.drift_report import summary_markdown
        from retention_assets.model.serving import version_glossary
        from retention_assets.model.tracking import version_run_id
        from retention_assets.monitoring.reference import load_reference

        with compute.engine() as engine:
            version = str(score_summary(engine, SCORES).model_version)
            reference = load_reference(tracking.config(), version)
            glossary = version_glossary(tracking.config(), version_run_id(tracking.config(), version))
            published = engine.column_types(engine.relation(GOLD))
            numeric = [c for c in reference.numeric if c in published]
            categorical = [c for c in reference.categorical if c in published]
            current = current_population(engine, GOLD, key, [*numeric, *categorical], monitoring.current_rows)
            probabilities = active_probabilities(engine, SCORES)
        as_of = pd.Timestamp(current[FEATURE_TIMESTAMP].iloc[0]).isoformat() if len(current) else ""
        calendar = calendar_features(numeric, date_columns)
        elapsed = elapsed_days(reference.frame.get(FEATURE_TIMESTAMP), reference.trained_as_of,
                               as_of or reference.trained_as_of, len(reference.frame))
        table = drift_table(reference.frame, current, numeric, categorical, reference.importance, bands(),
                            monitoring.psi_bins, calendar=calendar, calendar_mode=monitoring.calendar_features,
                            elapsed=elapsed)
        score_psi = numeric_psi(reference.scores, probabilities, monitoring.psi_bins)
        answered_by = version if answered(reference.trained_as_of, as_of) else None
        signal = drift_signal(table, score_psi, bands(), monitoring.drifted_importance_share, answered_by=answered_by)
        context.log.info(signal.reason)
        score_row = {"feature": SCORE_ROW, "kind": "score", "psi": score_psi, "test": "", "statistic": float("nan"),
                     "p_value": float("nan"), "missing_reference": 0.0, "missing_current": 0.0, "new_categories": [],
                     "vanished_categories": [], "importance_share": 0.0, "weighted_psi": 0.0,
                     "severity": bands().severity(score_psi), "calendar": False, "raw_psi": score_psi}
        output = pd.concat([table, pd.DataFrame([score_row])], ignore_index=True).assign(
            as_of=as_of, model_version=version, trained_as_of=reference.trained_as_of)
        history = append_drift_history(settings.data_path, history_rows(table, context.run.run_id, as_of, version))
        top = table.head(SHOWN)
        ageing = (f"compared with the reference aged by {float(elapsed.min()):.0f}-{float(elapsed.max()):.0f} days"
                  if monitoring.calendar_features == "shift" and len(elapsed) else "reported as expected ageing")
        return dg.Output(output, metadata=table_metadata(
            output, as_of=as_of,
            drift_signal=dg.MetadataValue.bool(signal.fired),
            signal_reason=dg.MetadataValue.text(signal.reason),
            answered_by=dg.MetadataValue.text(signal.answered_by or ""),
            drifted_importance_share=dg.MetadataValue.float(signal.drifted_share),
            weighted_psi=dg.MetadataValue.float(signal.weighted_psi),
            score_psi=dg.MetadataValue.float(score_psi),
            model_version=dg.MetadataValue.text(version),
            trained_as_of=dg.MetadataValue.text(reference.trained_as_of),
            severity_counts=dg.MetadataValue.json(table["severity"].value_counts().to_dict()),
            calendar_features=dg.MetadataValue.json({"mode": monitoring.calendar_features, "features": calendar,
                                                     "comparison": ageing}),
            drift_summary=dg.MetadataValue.md(summary_markdown(
                table, SHOWN, {f: m.name for f, m in glossary.meanings.items()} if glossary else None)),
            drift_history=dg.MetadataValue.md(history_markdown(recent_top(history))),
            psi_plot=dg.MetadataValue.md(markdown_image(
                drift_contribution_png(top["feature"], top["weighted_psi"], top["psi"], top["severity"],
                                       top["calendar"],
                                       f"Top {len(top)} features by importance-weighted drift (PSI significant >= "
                                       f"{monitoring.psi_significant})"),
                "Importance-weighted drift per feature")),
        ))

    deps = [raw_name(settings.entity.name), *(raw_name(n) for n in settings.events)]

    @dg.asset(name=PERFORMANCE, group_name=MONITORING_GROUP, deps=[SCORES, *deps],
              ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)}, kinds={"pandas", "parquet"},
              description="Per scoring cohort: ROC AUC, precision and recall estimated from the calibrated "
                          "probabilities before the labels mature (with a 5-95% band), and realized ROC AUC, PR AUC, "
                          "Brier score and calibration once the label horizon has passed, against the validation "
                          "ROC AUC of the model version that scored it.")
    def model_performance(context: dg.AssetExecutionContext, tracking: MlflowTracking, compute: EngineResource,
                          timeline: dict, plan: dict) -> dg.Output:
        from retention_assets.core.columns import FEATURE_TIMESTAMP, LABEL
        from retention_assets.core.plots import markdown_image, performance_over_time_png
        from retention_assets.core.timeline import Timeline
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.features.labels import labels_at
        from retention_assets.model.tracking import champion_version
        from retention_assets.monitoring.performance import (
            VersionFacts,
            cohort_performance,
            estimate_cohort,
            latest_numbers,
            load_cohorts,
            performance_markdown,
            performance_signal,
            performance_table,
        )

        tl = Timeline.from_dict(timeline)
        cohorts = [c for c in load_cohorts(settings.data_path) if len(c)]
        matured = [c for c in cohorts if c[FEATURE_TIMESTAMP].iloc[0] + tl.horizon <= tl.as_of]
        versions = VersionFacts(tracking.config())
        results = []
        if matured:
            times = tuple(sorted(c[FEATURE_TIMESTAMP].iloc[0].to_pydatetime() for c in matured))
            with compute.engine() as engine:
                labels = labels_at(engine, settings, RunPlan.from_dict(plan), times, tl.as_of)
            for cohort in matured:
                at = labels[labels[FEATURE_TIMESTAMP] == cohort[FEATURE_TIMESTAMP].iloc[0]]
                results.append(cohort_performance(cohort, at, key, LABEL,
                                                  versions.expected(str(cohort["model_version"].iloc[0])),
                                                  monitoring.min_cohort_rows))
        estimates = []
        for cohort in cohorts:
            version = str(cohort["model_version"].iloc[0])
            estimates.append(estimate_cohort(cohort, versions.threshold(version), versions.calibration(version),
                                             versions.expected(version), any(cohort is m for m in matured)))
        signal = performance_signal(results, monitoring.max_auc_drop, champion_version(tracking.config()),
                                    estimates, monitoring.estimate_triggers_retrain)
        context.log.info(signal.reason)
        table = performance_table(results, estimates)
        numbers = latest_numbers(table)
        extra = {}
        if len(table):
            nan = float("nan")
            plot = performance_over_time_png(
                table["as_of"], table["estimated_roc_auc"], table["estimated_roc_auc_low"],
                table["estimated_roc_auc_high"], [r if j else nan for r, j in zip(table["roc_auc"], table["judged"])],
                table["expected_roc_auc"].astype(float))
            extra["performance_over_time"] = dg.MetadataValue.md(markdown_image(plot, "ROC AUC over time"))
            extra["performance_by_cohort"] = dg.MetadataValue.md(performance_markdown(table))
            extra["calibration"] = dg.MetadataValue.text(str(table["calibration"].iloc[-1]))
        return dg.Output(table, metadata=table_metadata(
            table, as_of=tl.as_of.isoformat(),
            performance_signal=dg.MetadataValue.bool(signal.fired),
            signal_reason=dg.MetadataValue.text(signal.reason),
            cohort=dg.MetadataValue.text(signal.cohort or ""),
            model_version=dg.MetadataValue.text(signal.model_version or ""),
            matured_cohorts=dg.MetadataValue.int(len(results)),
            maturing_cohorts=dg.MetadataValue.int(len(cohorts) - len(matured)),
            max_auc_drop=dg.MetadataValue.float(monitoring.max_auc_drop),
            estimate_triggers_retrain=dg.MetadataValue.bool(monitoring.estimate_triggers_retrain),
            **{name: dg.MetadataValue.float(value) for name, value in numbers.items()},
            **extra,
        ))

    return [feature_drift, model_performance]


def build_monitoring_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    monitoring = settings.monitoring

    @dg.asset_check(asset=DRIFT, blocking=False,
                    description=f"No significant drift: less than {monitoring.drifted_importance_share:.0%} of the "
                                f"model's importance in drifted features (the retrain signal) and a predicted-score "
                                f"PSI below {monitoring.psi_significant}.")
    def no_significant_drift(feature_drift) -> dg.AssetCheckResult:
        from retention_assets.monitoring.drift import Bands, answered, drift_signal

        table, score_psi = split_drift_table(feature_drift)
        run = drift_run(feature_drift)
        bands = Bands(monitoring.psi_moderate, monitoring.psi_significant)
        answered_by = run["model_version"] if answered(run["trained_as_of"], run["as_of"]) else None
        signal = drift_signal(table, score_psi, bands, monitoring.drifted_importance_share, answered_by=answered_by)
        # A retrain on the drifted data answers the drift: the check clears with who answered it.
        passed = answered_by is not None or (not signal.fired and bands.severity(score_psi) != "significant")
        return dg.AssetCheckResult(passed=passed, description=signal.reason,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"drifted_importance_share": signal.drifted_share,
                                             "weighted_psi": signal.weighted_psi, "score_psi": signal.score_psi,
                                             "answered_by": answered_by or ""})

    @dg.asset_check(asset=PERFORMANCE, blocking=False,
                    description=f"The latest matured cohort's realized ROC AUC is within {monitoring.max_auc_drop} "
                                "of the scoring model's validation ROC AUC.")
    def no_performance_drop(model_performance) -> dg.AssetCheckResult:
        judged = model_performance[model_performance["judged"].astype(bool)]
        drop = float(judged["auc_drop"].iloc[-1]) if len(judged) else 0.0
        return dg.AssetCheckResult(passed=drop <= monitoring.max_auc_drop, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"latest_auc_drop": drop, "judged_cohorts": len(judged)})

    return [no_significant_drift, no_performance_drop]
