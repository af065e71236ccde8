"""model: the trained churn model and the per-customer scores it produces."""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd

from retention_assets.assets.metadata import log_step, stored_table_metadata, summary_metadata
from retention_assets.core.names import (
    CAMPAIGN,
    CHAMPION,
    GOLD,
    MODEL,
    PUBLISHED,
    RECOMMENDATIONS,
    SCORES,
    TIMELINE,
    TRAINING_SET,
)
from retention_assets.exploration.recommendations import REGISTRY_FILE
from retention_assets.resources.compute import EngineResource
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings

MODEL_GROUP = "model"
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "precision", "recall", "f1", "threshold",
                    "lift_top_decile", "base_rate")
TRIGGER_TAG = "retention/trigger"
TOP_IMPORTANCES = 15
SHAP_SAMPLE_ROWS = 1000
SHAP_BACKGROUND_ROWS = 200


def _metrics_table(candidates: dict[str, dict[str, float]], chosen: str) -> str:
    names = ["roc_auc", "pr_auc", "brier", "precision", "recall", "threshold"]
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, metrics in candidates.items():
        label = f"**{model}** (chosen)" if model == chosen else model
        lines.append(f"| {label} | " + " | ".join(f"{metrics[n]:.4f}" for n in names) + " |")
    return "\n".join(lines)


def history_table(history, deciding_run: str | None = None) -> str:
    """The last 20 iterations; the champion column is what the run recorded when it published (or failed),
    and "decided by champion_model" for the iteration of `deciding_run`, whose decision comes later."""
    lines = ["| iteration | parent | trigger | model | version | ROC AUC | PR AUC | data as of | champion |",
             "|---|---|---|---|---|---|---|---|---|"]
    for it in history[-20:]:
        champion = {True: "yes", False: "no"}.get(it.champion, "pending")
        if it.champion is None and it.run_id == deciding_run:
            champion = "this run: decided by champion_model"
        lines.append(f"| {it.id} | {it.parent or ''} | {it.trigger} | {it.model_name} | {it.model_version or ''} | "
                     f"{it.metrics['roc_auc']:.4f} | {it.metrics['pr_auc']:.4f} | {it.data_as_of} | {champion} |")
    return "\n".join(lines)


def _mlflow_metadata(config, tracked) -> dict[str, dg.MetadataValue]:
    """Links to the MLflow run and registered version when the tracking server has a UI, else how to open one."""
    from retention_assets.model.display import mlflow_links

    links = mlflow_links(config.tracking_uri, tracked.experiment_id, tracked.run_id, config.registered_model_name,
                         str(tracked.model_version))
    if links.run_url is None:
        return {"mlflow_ui": dg.MetadataValue.text(links.ui_hint)}
    return {"mlflow_run": dg.MetadataValue.url(links.run_url),
            "mlflow_registered_version": dg.MetadataValue.url(links.version_url)}


def population_rules(settings: Settings) -> str:
    """The rules that decide who is in the training population, in words."""
    rules = []
    if settings.label.kind == "inactivity" and settings.label.active_within_days:
        rules.append(f"label.active_within_days={settings.label.active_within_days}")
    if settings.entity.signup_column:
        rules.append(f"signed up by the cutoff ({settings.entity.signup_column})")
    return ", ".join(rules) or "no population rule"


def build_model_assets(settings: Settings, table_kinds: set[str]) -> list[dg.AssetsDefinition]:
    key = settings.entity.entity_key
    model_settings = settings.model

    def _shap_background(train: "pd.DataFrame") -> "pd.DataFrame":
        """The reference rows SHAP values are measured against (a seeded sample of training rows)."""
        return train.sample(n=min(len(train), SHAP_BACKGROUND_ROWS), random_state=model_settings.random_seed)

    def _global_shap(model, train: "pd.DataFrame", glossary) -> tuple[str, str, dict[str, float]]:
        """Mean |SHAP| per feature on a sample of the validation rows, by the readable names reasons use:
        a table, a bar plot, all values (by feature column, the names' stable keys)."""
        from retention_assets.model.explain import global_importance, shap_contributions
        from retention_assets.core.plots import bar_png

        valid = train.iloc[model.validation_rows]
        sample = valid.sample(n=min(len(valid), SHAP_SAMPLE_ROWS), random_state=model_settings.random_seed)
        everything = global_importance(shap_contributions(model, sample, _shap_background(train)))
        importance = everything.head(TOP_IMPORTANCES)
        table = "\n".join(["| meaning | feature | mean abs SHAP (log-odds) |", "|---|---|---|"] +
                          [f"| {glossary.name(f)} | `{f}` | {v:.4f} |" for f, v in importance.items()])
        labels = [glossary.name(f) for f in importance.index]
        return (table, bar_png(labels, importance.to_numpy(), "Mean |SHAP| (log-odds)"),
                {f: float(v) for f, v in everything.items()})

    def _record_iteration(context: dg.AssetExecutionContext, model, plan, tl, model_version: str):
        """Append this model to the iteration history and propose dropping features that did not matter."""
        from retention_assets.exploration.iterations import (
            HISTORY_FILE,
            Iteration,
            drop_proposals,
            load_history,
            low_importance_features,
            next_iteration_id,
            resolve_trigger,
            write_history,
        )
        from retention_assets.exploration.recommendations import add_proposals

        history_path = settings.findings_path / HISTORY_FILE
        history = load_history(history_path)
        parent = history[-1].id if history else None
        iteration_id = next_iteration_id(history)
        threshold = model_settings.low_importance_threshold
        low = low_importance_features(model.feature_importance, threshold)
        add_proposals(settings.findings_path / REGISTRY_FILE,
                      drop_proposals(iteration_id, low, model.feature_importance, threshold))
        received = plan.proposed_by(parent)
        iteration = Iteration(
            id=iteration_id, parent=parent, trigger=resolve_trigger(context.run.tags.get(TRIGGER_TAG), history),
            run_id=context.run.run_id, data_as_of=tl.as_of.isoformat(), model_name=model.model_name,
            findings_versions=dict(plan.findings_versions),
            recommendations_version=plan.recommendations_version,
            metrics={k: round(float(v), 6) for k, v in model.metrics.items()},
            feature_importance=dict(list(model.feature_importance.items())[:TOP_IMPORTANCES]),
            feedback_received=received, feedback_proposed=low, model_version=model_version,
        )
        history.append(iteration)
        write_history(history_path, history)
        return iteration, history

    @dg.asset(name=MODEL, group_name=MODEL_GROUP, kinds={"scikitlearn", "mlflow"},
              deps=[TRAINING_SET], ins={"timeline": dg.AssetIn(TIMELINE), "plan": dg.AssetIn(RECOMMENDATIONS)},
              description="A scikit-learn Pipeline (preprocessing inside) chosen between logistic regression and "
                          "gradient boosting by out-of-time (else cross-validated) ROC AUC, trained on the "
                          "training set (a seeded sample beyond model.max_training_rows), logged in MLflow and "
                          "registered as a candidate version, with a Feast feature service of its own.")
    def churn_model(context: dg.AssetExecutionContext, tracking: MlflowTracking, feast: FeatureStoreResource,
                    compute: EngineResource, timeline: dict, plan: dict):
        from retention_assets.core.columns import ELIGIBLE, FEATURE_TIMESTAMP, LABEL
        from retention_assets.exploration.iterations import HISTORY_FILE, load_history, next_iteration_id, resolve_trigger
        from retention_assets.exploration.plan import RunPlan
        from retention_assets.feature_store.repository import apply_model_service
        from retention_assets.feature_store.training_set import (
            describe_population,
            population_summary,
            read_training_rows,
        )
        from retention_assets.features.gold import feature_columns
        from retention_assets.model.business import threshold_source
        from retention_assets.model.display import metrics_summary
        from retention_assets.model.training import fit_churn_model
        from retention_assets.monitoring.reference import (
            REFERENCE_ARTIFACT,
            SCORES_ARTIFACT,
            SHAP_IMPORTANCE_ARTIFACT,
            drift_reference,
            score_reference,
        )
        from retention_assets.core.plots import calibration_png, markdown_image, precision_recall_png, roc_curve_png
        from retention_assets.model.serving import (
            BACKGROUND_ARTIFACT,
            GLOSSARY_ARTIFACT,
            SPEC_ARTIFACT,
            model_service,
            serving_spec,
        )
        from retention_assets.core.names import terms_tables
        from retention_assets.features.meanings import run_vocabulary
        from retention_assets.features.text import read_terms
        from retention_assets.model.reasons import build_glossary
        from retention_assets.model.tracking import log_churn_model
        from retention_assets.core.timeline import Timeline

        tl, run_plan = Timeline.from_dict(timeline), RunPlan.from_dict(plan)
        with compute.engine() as engine:
            total = engine.table_info(TRAINING_SET).rows
            train = read_training_rows(engine, TRAINING_SET, key, model_settings.max_training_rows)
            population = population_summary(engine, GOLD, TRAINING_SET, key)
            terms = read_terms(engine, terms_tables(settings))
        if len(train) < total:
            context.log.info(f"fitting on a seeded sample of {len(train):,} of the {total:,} training rows "
                             f"(model.max_training_rows)")
        model = fit_churn_model(
            train, feature_columns(train.columns, key), LABEL, FEATURE_TIMESTAMP,
            seed=model_settings.random_seed, folds=model_settings.cv_folds, threshold=model_settings.threshold,
            trained_as_of=tl.as_of.isoformat(), threads=model_settings.threads, key=key,
            validation_cutoffs=list(tl.validation_cutoffs) or None,
        )
        model.population = {**population, "rules": population_rules(settings)}
        glossary = build_glossary(model.feature_columns, model.categorical_columns, train, LABEL,
                                  run_vocabulary(settings, run_plan, terms))
        metrics = model.metrics
        from retention_assets.core.timeline import training_rows_warning

        classes = train[LABEL].astype(int).value_counts()
        few_rows = training_rows_warning(int(metrics["n_train"]), int(classes.min()) if len(classes) == 2 else 0)
        context.log.info(f"trained on {describe_population(population, model.population['rules'])}")
        if few_rows:
            context.log.warning(few_rows)
        context.log.info(f"{model.model_name}: ROC AUC {metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f} "
                         f"({model.validation}: {model.validation_reason})")
        roc = roc_curve_png(*model.roc_curve, auc=metrics["roc_auc"], title=f"ROC ({model.validation})")
        previous = load_history(settings.findings_path / HISTORY_FILE)
        iteration_id = next_iteration_id(previous)
        trigger = resolve_trigger(context.run.tags.get(TRIGGER_TAG), previous)
        shap_table, shap_plot, shap_importance = _global_shap(model, train, glossary)
        pr_plot = precision_recall_png(model.validation_labels, model.validation_proba)
        calibration_plot = calibration_png(model.validation_labels, model.validation_proba)
        findings_dir = settings.findings_path
        tracking_config = tracking.config()
        tracked = log_churn_model(
            tracking_config, model, train,
            params={"model": model.model_name, "validation": model.validation,
                    "validation_reason": model.validation_reason, "repeated_customers": model.repeated_customers,
                    "training_customers": population["customers"], "features": len(model.feature_columns),
                    "windows": settings.windows, "horizon_days": settings.label.horizon_days,
                    "label": settings.label.kind, "cutoffs": [c.isoformat() for c in tl.cutoffs],
                    "as_of": tl.as_of.isoformat(), "seed": model_settings.random_seed},
            tags={"dagster_run_id": context.run.run_id, "dagster_asset_key": MODEL,
                  "retention_iteration": iteration_id, "retention_trigger": trigger,
                  "retention_validation": model.validation},
            images={"roc_curve": roc, "shap_summary": shap_plot, "precision_recall": pr_plot,
                    "calibration": calibration_plot},
            files=sorted(findings_dir.glob("*.yaml")),
            documents={SPEC_ARTIFACT: serving_spec(model), SHAP_IMPORTANCE_ARTIFACT: shap_importance,
                       GLOSSARY_ARTIFACT: glossary.to_dict()},
            tables={BACKGROUND_ARTIFACT: _shap_background(train)[model.feature_columns],
                    REFERENCE_ARTIFACT: drift_reference(model, train, settings.monitoring.reference_rows,
                                                        model_settings.random_seed),
                    SCORES_ARTIFACT: score_reference(model)},
        )
        model.registered_version = tracked.model_version
        iteration, history = _record_iteration(context, model, run_plan, tl, tracked.model_version)
        with compute.engine() as engine:
            staged, _ = feast.stage(context.run.run_id, engine, PUBLISHED, key, FEATURE_TIMESTAMP)
        service = apply_model_service(
            staged, model_service(tracking_config, tracked.model_version), [*model.serving_features, ELIGIBLE],
            f"Features read by {tracking_config.registered_model_name} version {tracked.model_version} "
            f"(MLflow run {tracked.run_id})", key, FEATURE_TIMESTAMP)
        context.log.info(f"MLflow run {tracked.run_id}, model version {tracked.model_version}, feature service {service}")
        top = list(model.feature_importance.items())[:TOP_IMPORTANCES]
        importance = "\n".join(["| meaning | feature | AUC drop |", "|---|---|---|"] +
                               [f"| {glossary.name(f)} | `{f}` | {v:.4f} |" for f, v in top])
        metadata = {  # read first: rounded; the float entries below keep full precision for plots over time
            "summary": dg.MetadataValue.md(
                f"{metrics_summary(metrics)}\n\n{model.model_name}, validated {model.validation.replace('_', ' ')} "
                f"on {int(metrics['n_validation']):,} rows (trained on {int(metrics['n_train']):,}); registered "
                f"as version {tracked.model_version}"),
            **_mlflow_metadata(tracking_config, tracked),
            **{name: dg.MetadataValue.float(metrics[name]) for name in HEADLINE_METRICS},
        }
        metadata.update({
            "model": dg.MetadataValue.text(model.model_name),
            "validation": dg.MetadataValue.text(model.validation),
            "validation_reason": dg.MetadataValue.text(model.validation_reason),
            "repeated_customers": dg.MetadataValue.int(model.repeated_customers),
            "threshold_chosen_by": dg.MetadataValue.text(threshold_source(model_settings.threshold)),
            "training_population": dg.MetadataValue.json(model.population),
            "training_customers": dg.MetadataValue.int(population["customers"]),
            "as_of": dg.MetadataValue.text(tl.as_of.isoformat()),
            "training_rows": dg.MetadataValue.int(metrics["n_train"]),
            "validation_rows": dg.MetadataValue.int(metrics["n_validation"]),
            "feature_count": dg.MetadataValue.int(len(model.feature_columns)),
            "serving_features": dg.MetadataValue.int(len(model.serving_features)),
            "training_set_rows": dg.MetadataValue.int(total),
            "validation_cutoffs": dg.MetadataValue.json([c.isoformat() for c in tl.validation_cutoffs]),
            "warnings": dg.MetadataValue.json([few_rows] if few_rows else []),
            "candidates": dg.MetadataValue.md(_metrics_table(model.candidate_metrics, model.model_name)),
            "roc_curve": dg.MetadataValue.md(markdown_image(roc, "ROC curve")),
            "permutation_importance": dg.MetadataValue.md(importance),
            "shap_importance": dg.MetadataValue.md(shap_table),
            "shap_summary": dg.MetadataValue.md(markdown_image(shap_plot, "mean |SHAP| per feature")),
            "precision_recall": dg.MetadataValue.md(markdown_image(pr_plot, "precision-recall on validation")),
            "calibration": dg.MetadataValue.md(markdown_image(calibration_plot, "calibration on validation")),
            "mlflow_run_id": dg.MetadataValue.text(tracked.run_id),
            "mlflow_model_uri": dg.MetadataValue.text(tracked.model_uri),
            "mlflow_model_version": dg.MetadataValue.text(tracked.model_version),
            "mlflow_tracking_uri": dg.MetadataValue.text(tracking.tracking_uri),
            "feast_feature_service": dg.MetadataValue.text(service),
            "iteration": dg.MetadataValue.text(iteration.id),
            "parent_iteration": dg.MetadataValue.text(iteration.parent or "none"),
            "trigger": dg.MetadataValue.text(iteration.trigger),
            "feedback_received": dg.MetadataValue.json(iteration.feedback_received),
            "feedback_proposed": dg.MetadataValue.int(len(iteration.feedback_proposed)),
            "iteration_history": dg.MetadataValue.md(history_table(history, context.run.run_id)),
        })
        return dg.Output(model, metadata=metadata)

    @dg.asset(name=SCORES, group_name=MODEL_GROUP, deps=[GOLD, CHAMPION], kinds={"mlflow", *table_kinds},
              description="Churn probability, risk tier and top SHAP reasons per customer as of the scoring time: the "
                          "run's champion (its gate's decision, else the published champion) applied to gold's "
                          "scoring rows (only the features it reads), by the same scoring function as serving. "
                          "Published with the run, when each scoring cohort is also kept in "
                          "<data dir>/score_history for performance monitoring.")
    def churn_scores(context: dg.AssetExecutionContext, tracking: MlflowTracking,
                     compute: EngineResource) -> dg.MaterializeResult:
        from retention_assets.core.plots import histogram_png, markdown_image
        from retention_assets.publication.staging import run_champion

        version = run_champion(settings.data_path, context.run.run_id)
        if version is None:
            raise dg.Failure("no champion yet: materialize churn_model and champion_model first")
        report = compute.run_step(context, "scores", settings, tracking=tracking.config().to_dict(), version=version)
        log_step(context, report)
        values = report.values
        plot = histogram_png(values["distribution"], "Churn probability")
        return dg.MaterializeResult(metadata=summary_metadata(
            report.tables[SCORES], as_of=values["as_of"],
            model_version=dg.MetadataValue.text(values["model_version"]),
            feature_service=dg.MetadataValue.text(values["feature_service"]),
            risk_tiers=dg.MetadataValue.json(values["tiers"]),
            active_customers=dg.MetadataValue.int(values["active"]),
            distribution=dg.MetadataValue.md(markdown_image(plot, "score distribution")),
        ))

    business = settings.business

    @dg.asset(name=CAMPAIGN, group_name=MODEL_GROUP, kinds=table_kinds, deps=[GOLD, TRAINING_SET, SCORES],
              ins={"model": dg.AssetIn(MODEL)},
              description="Whom to contact: active customers whose expected net value of a retention offer is "
                          "positive, at the threshold that maximised realised net value on validation.")
    def retention_campaign(context: dg.AssetExecutionContext, compute: EngineResource, model) -> dg.MaterializeResult:
        import numpy as np

        from retention_assets.core.plots import line_png, markdown_image
        from retention_assets.feature_store.training_set import read_rows_at
        from retention_assets.model.business import (
            NO_VALUE_COLUMN,
            best_threshold,
            customer_value,
            flag_warning,
            flagged_share,
            net_value_curve,
            plan_campaign,
            threshold_source,
        )
        from retention_assets.model.scoring import score_summary

        months = business.value_months or settings.label.horizon_days / 30.0
        with compute.engine() as engine:
            summary = score_summary(engine, SCORES)
            if summary.model_version is not None and summary.model_version != str(model.registered_version):
                context.log.warning(f"scores come from champion version {summary.model_version}, the value "
                                    f"threshold from this run's model (version {model.registered_version}) validation")
            value_column = business.value_column
            has_value = value_column is not None and value_column in engine.column_types(engine.relation(TRAINING_SET))
            extra = {}
            if has_value:
                valid = read_rows_at(engine, TRAINING_SET, key, model.validation_keys, columns=[value_column])
                curve = net_value_curve(
                    np.asarray(model.validation_labels), np.asarray(model.validation_proba),
                    customer_value(valid, value_column, months, business.default_value_usd),
                    business.offer_acceptance_rate, business.contact_cost_usd,
                )
                threshold = best_threshold(curve)
                chosen_by = "where the realised net value on validation peaks"
                plot = line_png(curve["threshold"], curve["net_value"], "Net value on validation (USD)", "threshold",
                                marker_x=threshold)
                extra = {"validation_net_value_usd": dg.MetadataValue.float(float(curve["net_value"].max())),
                         "net_value_curve": dg.MetadataValue.md(markdown_image(plot, "net value by threshold"))}
                valuation = f"value column {value_column}"
            else:
                threshold = float(model.threshold)
                chosen_by = f"the model's threshold ({threshold_source(model_settings.threshold)})"
                valuation = (NO_VALUE_COLUMN if value_column is None else
                             f"value column {value_column} is not a column of the data: ranked by churn risk, "
                             "no dollar figures")
                context.log.warning(f"campaign: {valuation}")
            info, expected = plan_campaign(engine, scores_table=SCORES, gold_table=GOLD, key=key,
                                           value_column=value_column if has_value else None,
                                           months=months, default_value=business.default_value_usd,
                                           acceptance=business.offer_acceptance_rate, cost=business.contact_cost_usd,
                                           threshold=threshold, target=CAMPAIGN)
            share = flagged_share(engine, SCORES, threshold)
            warning = flag_warning(share, threshold, chosen_by, business.warn_flagged_share)
            if warning:
                context.log.warning(warning)
            return dg.MaterializeResult(metadata=stored_table_metadata(
                engine, CAMPAIGN, as_of=model.trained_as_of,
                value_threshold=dg.MetadataValue.float(threshold),
                threshold_chosen_by=dg.MetadataValue.text(chosen_by),
                f1_threshold=dg.MetadataValue.float(model.threshold),
                valuation=dg.MetadataValue.text(valuation),
                expected_net_value_usd=dg.MetadataValue.float(float(expected) if expected is not None else float("nan")),
                contacts=dg.MetadataValue.int(info.rows),
                flagged_share=dg.MetadataValue.float(share),
                threshold_warning=dg.MetadataValue.text(warning or "none"),
                assumptions=dg.MetadataValue.json({"contact_cost_usd": business.contact_cost_usd,
                                                   "offer_acceptance_rate": business.offer_acceptance_rate,
                                                   "value_column": value_column if has_value else None,
                                                   "value_months": months if has_value else None}),
                **extra,
            ))

    @dg.asset(name=CHAMPION, group_name=MODEL_GROUP, kinds={"mlflow"}, deps=[TRAINING_SET],
              ins={"model": dg.AssetIn(MODEL)},
              description="The run's champion decision: this run's model when it beats the published champion on "
                          "the same validation rows (the blocking beats_champion check stops a worse challenger "
                          "before this step). The registry's champion alias moves when the run is published.")
    def champion_model(context: dg.AssetExecutionContext, tracking: MlflowTracking, compute: EngineResource, model):
        from retention_assets.model.champion import decide_champion
        from retention_assets.publication import ChampionDecision, generation_dir, generation_id, write_decision

        with compute.engine() as engine:
            previous, decision = decide_champion(tracking.config(), model, engine, TRAINING_SET, key,
                                                 model_settings.champion_tolerance)
        champion = model.registered_version if decision.promote else previous
        write_decision(generation_dir(settings.data_path, generation_id(context.run.run_id)), ChampionDecision(
            str(champion), str(model.registered_version), decision.promote, decision.reason))
        context.log.info(f"champion: version {champion} ({decision.reason}); published with the run")
        return dg.Output({"champion_version": champion, "challenger_version": model.registered_version,
                          "promoted": decision.promote, "reason": decision.reason}, metadata={
            "champion_version": dg.MetadataValue.text(str(champion)),
            "challenger_version": dg.MetadataValue.text(str(model.registered_version)),
            "promoted": dg.MetadataValue.bool(decision.promote),
            "reason": dg.MetadataValue.text(decision.reason),
        })

    return [churn_model, churn_scores, retention_campaign, champion_model]
