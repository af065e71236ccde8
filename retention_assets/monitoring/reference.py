"""What monitoring compares against: the training reference logged with every model version.

Each registered version carries `monitoring/reference.parquet` (a seeded sample of its training rows'
features) and `monitoring/reference_scores.parquet` (its out-of-sample validation scores: in-sample
scores of a flexible model are more extreme than anything it will produce on new customers, which
would look like drift on day one) and `monitoring/shap_importance.json` (mean |SHAP| per feature,
the drift weights: unlike permutation importance it does not hand all the credit of correlated
features to one of them), so drift is always measured against the population the scoring model
actually learned from.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from retention_assets.model.training import TrainedModel
from retention_assets.model.tracking import TrackingConfig

REFERENCE_ARTIFACT = "monitoring/reference.parquet"
SCORES_ARTIFACT = "monitoring/reference_scores.parquet"
SHAP_IMPORTANCE_ARTIFACT = "monitoring/shap_importance.json"
SCORE = "__score"
LABEL = "__label"  # the validation labels beside the scores: what calibrates them for estimated performance


def drift_reference(model: TrainedModel, train: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A seeded sample of the training rows' features, with each row's feature timestamp (what calendar
    features are aged from, see monitoring/drift.py)."""
    from retention_assets.core.columns import FEATURE_TIMESTAMP

    columns = [*model.feature_columns, *([FEATURE_TIMESTAMP] if FEATURE_TIMESTAMP in train.columns else [])]
    return train.sample(n=min(len(train), rows), random_state=seed)[columns].reset_index(drop=True)


def score_reference(model: TrainedModel) -> pd.DataFrame:
    frame = pd.DataFrame({SCORE: pd.Series(model.validation_proba, dtype="float64")})
    if len(model.validation_labels) == len(frame):
        frame[LABEL] = pd.Series(model.validation_labels, dtype="int64")
    return frame


@dataclass
class Reference:
    version: str
    frame: pd.DataFrame  # features (and feature_timestamp, in versions logged since calendar features age)
    scores: pd.Series  # out-of-sample validation scores
    numeric: list[str]
    categorical: list[str]
    importance: dict[str, float]  # mean |SHAP| per feature
    validation_roc_auc: float | None
    trained_as_of: str  # the data as-of time the version was trained on


def load_reference(tracking: TrackingConfig, version: str) -> Reference:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import mlflow.artifacts

    from retention_assets.model.serving import version_spec
    from retention_assets.model.tracking import version_record, version_run_id

    from mlflow.exceptions import MlflowException

    tracking.activate()
    run_id = version_run_id(tracking, version)
    try:
        frame = pd.read_parquet(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACT, tracking_uri=tracking.tracking_uri))
        scores = pd.read_parquet(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=SCORES_ARTIFACT, tracking_uri=tracking.tracking_uri))[SCORE]
        importance = mlflow.artifacts.load_dict(f"runs:/{run_id}/{SHAP_IMPORTANCE_ARTIFACT}")
    except MlflowException as exc:
        raise LookupError(f"{tracking.registered_model_name} version {version} (MLflow run {run_id}) has no "
                          f"monitoring reference ({REFERENCE_ARTIFACT}, {SCORES_ARTIFACT}, "
                          f"{SHAP_IMPORTANCE_ARTIFACT}); it was logged before monitoring existed. Retrain "
                          "(the retrain job) to register a version that can be monitored.") from exc
    spec = version_spec(tracking, version)
    return Reference(version, frame, scores, spec["numeric_columns"], spec["categorical_columns"], importance,
                     version_record(tracking, version)[1], spec["trained_as_of"])


def load_validation_predictions(tracking: TrackingConfig, version: str) -> pd.DataFrame:
    """A version's out-of-sample validation scores (`SCORE`) and, if logged, labels (`LABEL`); empty if none."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from retention_assets.model.tracking import version_run_id

    tracking.activate()
    try:
        return pd.read_parquet(mlflow.artifacts.download_artifacts(
            run_id=version_run_id(tracking, version), artifact_path=SCORES_ARTIFACT,
            tracking_uri=tracking.tracking_uri))
    except MlflowException:
        return pd.DataFrame({SCORE: pd.Series(dtype="float64")})
