"""How the model's numbers and links read in the catalog: rounded headline metrics, MLflow addresses.

Full-precision values stay in numeric metadata (Dagster plots them over time); these strings are what a
person reads first.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DISPLAY_METRICS = (("roc_auc", "ROC AUC", 3), ("pr_auc", "PR AUC", 3), ("brier", "Brier", 4),
                   ("log_loss", "log loss", 3), ("precision", "precision", 3), ("recall", "recall", 3),
                   ("f1", "F1", 3), ("threshold", "threshold", 3), ("lift_top_decile", "lift top decile", 2),
                   ("base_rate", "base rate", 3))


def metrics_summary(metrics: dict[str, float]) -> str:
    """One Markdown line of the headline metrics, rounded for reading (e.g. `ROC AUC 0.899 | PR AUC 0.712`)."""
    parts = [f"{label} {float(metrics[name]):.{digits}f}" for name, label, digits in DISPLAY_METRICS
             if name in metrics]
    return "**" + " | ".join(parts[:2]) + "**" + (" | " + " | ".join(parts[2:]) if parts[2:] else "")


@dataclass(frozen=True)
class MlflowLinks:
    """Where a person opens the model's run and registered version: URLs when the tracking server has a UI
    (http(s) tracking URI), else None with the `mlflow ui` command that serves the store."""

    run_url: str | None
    version_url: str | None
    ui_hint: str


def mlflow_links(tracking_uri: str, experiment_id: str, run_id: str, model_name: str, version: str) -> MlflowLinks:
    hint = f"mlflow ui --backend-store-uri {tracking_uri}"
    if not tracking_uri.startswith(("http://", "https://")):
        return MlflowLinks(None, None, hint)
    base = tracking_uri.rstrip("/")
    return MlflowLinks(f"{base}/#/experiments/{experiment_id}/runs/{run_id}",
                       f"{base}/#/models/{quote(model_name, safe='')}/versions/{version}", hint)
