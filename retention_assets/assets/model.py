"""model: the trained churn model and the per-customer scores it produces."""

import dagster as dg
import pandas as pd

from retention_assets.assets.gold import GOLD
from retention_assets.assets.metadata import table_metadata
from retention_assets.assets.raw import TIMELINE
from retention_assets.settings import Settings

MODEL_GROUP = "model"
MODEL = "churn_model"
SCORES = "churn_scores"
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "precision", "recall", "f1", "threshold", "base_rate")


def _metrics_table(candidates: dict[str, dict[str, float]], chosen: str) -> str:
    names = ["roc_auc", "pr_auc", "brier", "precision", "recall", "threshold"]
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, metrics in candidates.items():
        label = f"**{model}** (chosen)" if model == chosen else model
        lines.append(f"| {label} | " + " | ".join(f"{metrics[n]:.4f}" for n in names) + " |")
    return "\n".join(lines)


def build_model_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    key = settings.entity.entity_key
    model_settings = settings.model

    @dg.asset(name=MODEL, group_name=MODEL_GROUP, ins={"gold": dg.AssetIn(GOLD), "timeline": dg.AssetIn(TIMELINE)},
              kinds={"scikitlearn"},
              description="A scikit-learn Pipeline (preprocessing inside) chosen between logistic regression and "
                          "gradient boosting by out-of-time (else cross-validated) ROC AUC.")
    def churn_model(context: dg.AssetExecutionContext, gold: pd.DataFrame, timeline: dict):
        from retention_assets.lib.gold import feature_columns, training_rows
        from retention_assets.lib.labels import FEATURE_TIMESTAMP, LABEL
        from retention_assets.lib.modeling import fit_churn_model
        from retention_assets.lib.plots import markdown_image, roc_curve_png
        from retention_assets.lib.windows import Timeline

        tl = Timeline.from_dict(timeline)
        train = training_rows(gold)
        model = fit_churn_model(
            train, feature_columns(gold, key), LABEL, FEATURE_TIMESTAMP,
            seed=model_settings.random_seed, folds=model_settings.cv_folds, threshold=model_settings.threshold,
            trained_as_of=tl.as_of.isoformat(),
        )
        metrics = model.metrics
        context.log.info(f"{model.model_name}: ROC AUC {metrics['roc_auc']:.3f}, PR AUC {metrics['pr_auc']:.3f} "
                         f"({model.validation})")
        roc = roc_curve_png(*model.roc_curve, auc=metrics["roc_auc"], title=f"ROC ({model.validation})")
        importance = "\n".join(["| feature | AUC drop |", "|---|---|"] +
                               [f"| {f} | {v:.4f} |" for f, v in model.feature_importance.items()])
        metadata = {name: dg.MetadataValue.float(metrics[name]) for name in HEADLINE_METRICS}
        metadata.update({
            "model": dg.MetadataValue.text(model.model_name),
            "validation": dg.MetadataValue.text(model.validation),
            "as_of": dg.MetadataValue.text(tl.as_of.isoformat()),
            "training_rows": dg.MetadataValue.int(metrics["n_train"]),
            "validation_rows": dg.MetadataValue.int(metrics["n_validation"]),
            "feature_count": dg.MetadataValue.int(len(model.feature_columns)),
            "candidates": dg.MetadataValue.md(_metrics_table(model.candidate_metrics, model.model_name)),
            "roc_curve": dg.MetadataValue.md(markdown_image(roc, "ROC curve")),
            "permutation_importance": dg.MetadataValue.md(importance),
        })
        return dg.Output(model, metadata=metadata)

    @dg.asset(name=SCORES, group_name=MODEL_GROUP, ins={"gold": dg.AssetIn(GOLD), "model": dg.AssetIn(MODEL)},
              kinds={"pandas", "parquet"},
              description="Churn probability and risk tier per customer as of the scoring timestamp.")
    def churn_scores(gold: pd.DataFrame, model) -> dg.Output[pd.DataFrame]:
        from retention_assets.lib.gold import scoring_rows
        from retention_assets.lib.labels import ELIGIBLE, FEATURE_TIMESTAMP
        from retention_assets.lib.plots import histogram_png, markdown_image
        from retention_assets.lib.scoring import score_customers

        rows = scoring_rows(gold)
        scores = score_customers(model, rows, key, model_settings.risk_tier_bounds)
        tiers = scores["risk_tier"].value_counts().reindex(["high", "medium", "low"], fill_value=0).to_dict()
        plot = histogram_png(scores["churn_probability"], "Churn probability")
        as_of = str(rows[FEATURE_TIMESTAMP].iloc[0].isoformat()) if len(rows) else None
        return dg.Output(scores, metadata=table_metadata(
            scores, as_of=as_of,
            risk_tiers=dg.MetadataValue.json({k: int(v) for k, v in tiers.items()}),
            active_customers=dg.MetadataValue.int(int(rows[ELIGIBLE].sum())),
            distribution=dg.MetadataValue.md(markdown_image(plot, "score distribution")),
        ))

    return [churn_model, churn_scores]
