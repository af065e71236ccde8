"""The champion from the registry, and online scoring: the same scoring function as batch scores.

The champion is loaded from the MLflow registry (the pipeline plus the spec, SHAP background and
glossary of readable names logged with it); its feature service names the online features it reads. Every customer is scored
and explained by `model.scoring.score_rows`, whether the rows come from the offline tables (the
`churn_scores` asset, in batches) or from the online store (`retention score`,
`retention_assets.serving.predict`, the HTTP endpoint), so both give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from retention_assets.model.reasons import Glossary

from retention_assets.feature_store.repository import FeastConfig, online_features, service_name
from retention_assets.core.columns import FEATURE_TIMESTAMP
from retention_assets.model.training import TrainedModel
from retention_assets.model.tracking import TrackingConfig

SPEC_ARTIFACT = "serving/spec.json"
BACKGROUND_ARTIFACT = "serving/shap_background.parquet"
GLOSSARY_ARTIFACT = "serving/glossary.json"  # what each input means and its reference: the version's own reasons


class ServingError(LookupError):
    """Nothing to serve (no champion yet) or customers the online store does not know."""


@dataclass
class ServingModel:
    model: TrainedModel
    version: str
    feature_service: str
    background: pd.DataFrame  # the rows SHAP contributions are measured against
    glossary: Glossary | None = None  # readable names and references (None: the column names in words)


def serving_spec(model: TrainedModel) -> dict:
    """What scoring needs beside the pipeline; logged with every model version."""
    return {"model_name": model.model_name, "numeric_columns": model.numeric_columns,
            "categorical_columns": model.categorical_columns, "threshold": model.threshold,
            "trained_as_of": model.trained_as_of, "serving_features": model.serving_features}


def model_service(tracking: TrackingConfig, version: str) -> str:
    return service_name(tracking.registered_model_name, version)


def version_spec(tracking: TrackingConfig, version: str) -> dict:
    """The serving spec logged with a registered version (its feature columns, threshold, ...)."""
    import mlflow
    import mlflow.artifacts

    from retention_assets.model.tracking import version_run_id

    tracking.activate()
    return mlflow.artifacts.load_dict(f"runs:/{version_run_id(tracking, version)}/{SPEC_ARTIFACT}")


def load_champion(tracking: TrackingConfig, version: str | None = None) -> ServingModel:
    """The registry's champion (or a given version) with its spec and SHAP background."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import mlflow.artifacts
    import mlflow.sklearn

    from retention_assets.model.tracking import CHAMPION_ALIAS, champion_version, version_run_id

    version = version or champion_version(tracking)
    if version is None:
        raise ServingError(f"no model in the registry {tracking.tracking_uri} holds the '{CHAMPION_ALIAS}' alias of "
                           f"{tracking.registered_model_name}; materialize churn_model and champion_model first")
    tracking.activate()
    run_id = version_run_id(tracking, version)
    spec = version_spec(tracking, version)
    background = pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=BACKGROUND_ARTIFACT, tracking_uri=tracking.tracking_uri))
    pipeline = mlflow.sklearn.load_model(f"models:/{tracking.registered_model_name}/{version}")
    model = TrainedModel(
        pipeline=pipeline, model_name=spec["model_name"], numeric_columns=spec["numeric_columns"],
        categorical_columns=spec["categorical_columns"], threshold=float(spec["threshold"]), metrics={},
        candidate_metrics={}, validation="", roc_curve=([], []), trained_as_of=spec["trained_as_of"],
        registered_version=version,
        serving_features=spec.get("serving_features", [*spec["numeric_columns"], *spec["categorical_columns"]]),
    )
    return ServingModel(model, version, model_service(tracking, version), background,
                        version_glossary(tracking, run_id))


def version_glossary(tracking: TrackingConfig, run_id: str) -> Glossary | None:
    """The glossary logged with a version's run; None for a version logged before glossaries existed."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    try:
        return Glossary.from_dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{GLOSSARY_ARTIFACT}"))
    except (MlflowException, OSError):
        return None


def score_online(feast: FeastConfig, serving: ServingModel, key: str, ids: list[str],
                 bounds: dict[str, float], reasons: int = 3) -> pd.DataFrame:
    """Probability, risk tier and top SHAP reasons per customer from their online features.

    Customers the online store does not know raise ServingError: scoring them would silently score
    imputed defaults.
    """
    from retention_assets.model.scoring import score_rows

    ids = [str(i) for i in ids]
    try:
        rows = online_features(feast, serving.feature_service, key, ids, FEATURE_TIMESTAMP)
    except ValueError as exc:  # Feast: the service names features the current view no longer has
        raise ServingError(f"model version {serving.version} cannot be served from the current feature view "
                           f"(feature service {serving.feature_service}): {exc}") from exc
    unknown = rows.loc[rows[FEATURE_TIMESTAMP].isna(), key].tolist()
    if unknown:
        raise ServingError(f"{len(unknown)} customer(s) have no online features in Feast project "
                           f"'{feast.project}' (view as of the last materialization): {unknown[:10]}")
    return score_rows(serving, rows, key, bounds, reasons)
