"""Experiment tracking with MLflow: one run per trained model, registered under a model name.

Kept free of Dagster so the same function logs from a notebook, a test or the asset. The model is
serialised with cloudpickle on every track (MLflow's default differs between local and Databricks
URIs), so both tracks write the same kind of artifact.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retention_assets.model.training import TrainedModel


UNITY_CATALOG_REGISTRY = "databricks-uc"


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are tracked and models registered. `registry_uri` None: the tracking store's own
    registry; `databricks-uc`: the Unity Catalog registry, whose model names are `catalog.schema.model`."""

    tracking_uri: str
    artifact_location: str | None
    experiment_name: str
    registered_model_name: str
    registry_uri: str | None = None

    def __post_init__(self) -> None:
        if self.registry_uri == UNITY_CATALOG_REGISTRY:
            parts = self.registered_model_name.split(".")
            if len(parts) != 3 or not all(p.replace("_", "a").isalnum() for p in parts):
                raise ValueError(f"model name {self.registered_model_name!r}: the Unity Catalog registry needs a "
                                 "three-level name catalog.schema.model (letters, digits, underscores)")

    def to_dict(self) -> dict[str, str | None]:
        return {"tracking_uri": self.tracking_uri, "artifact_location": self.artifact_location,
                "experiment_name": self.experiment_name, "registered_model_name": self.registered_model_name,
                "registry_uri": self.registry_uri}

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> TrackingConfig:
        return cls(**data)

    def client(self):
        """A client of these stores (always named: MLflow would otherwise fall back to a process-wide registry)."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri or self.tracking_uri)

    def activate(self) -> None:
        """Point MLflow's module-level API (logging, registering, loading `models:/`) at these stores."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)


@dataclass(frozen=True)
class TrackedModel:
    run_id: str
    experiment_id: str
    model_uri: str
    model_version: str


def experiment_id(client, name: str, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def log_churn_model(
    config: TrackingConfig,
    model: TrainedModel,
    input_example: pd.DataFrame,
    *,
    params: dict[str, object],
    tags: dict[str, str],
    images: dict[str, str],
    files: list[Path],
    documents: dict[str, dict] | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> TrackedModel:
    """Log params, metrics, plots (base64 PNGs), files, JSON documents and Parquet tables (by
    artifact path) and the model; register a new model version as a candidate.

    The version is created with its state tag in one call (`retention.state=candidate`, with the Dagster
    run that made it), so no version can exist untagged: a candidate becomes `champion` or `rejected`
    only when its run publishes, and recovery deletes candidates of runs that never did."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    if config.tracking_uri.startswith("sqlite:///"):  # the embedded store: make sure its directory exists
        Path(config.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = config.client()
    exp_id = experiment_id(client, config.experiment_name, config.artifact_location)
    config.activate()
    ensure_model_schema(config)
    example = input_example.head(5)
    frame = model_input(model, example)
    signature = infer_signature(frame, model.predict_proba(example))
    with mlflow.start_run(experiment_id=exp_id, tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in model.metrics.items()})
        with tempfile.TemporaryDirectory() as tmp:
            for name, png in images.items():
                path = Path(tmp) / f"{name}.png"
                path.write_bytes(base64.b64decode(png))
                mlflow.log_artifact(str(path), artifact_path="plots")
        for path in files:
            if path.exists():
                mlflow.log_artifact(str(path), artifact_path="exploration")
        mlflow.log_dict(model.feature_importance, "feature_importance.json")
        for artifact, document in (documents or {}).items():
            mlflow.log_dict(document, artifact)
        with tempfile.TemporaryDirectory() as tmp:
            for artifact, table in (tables or {}).items():
                path = Path(tmp) / Path(artifact).name
                table.to_parquet(path, index=False)
                mlflow.log_artifact(str(path), artifact_path=str(Path(artifact).parent))
        info = mlflow.sklearn.log_model(
            sk_model=model.pipeline, name="model", signature=signature, input_example=frame,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )
        version = mlflow.register_model(info.model_uri, config.registered_model_name, tags={
            STATE_TAG: CANDIDATE, RUN_TAG: tags.get("dagster_run_id", "")})
    return TrackedModel(run_id=run.info.run_id, experiment_id=exp_id, model_uri=info.model_uri,
                        model_version=str(version.version))


def ensure_model_schema(config: TrackingConfig) -> None:
    """The Unity Catalog registry keeps a model in a schema that must exist: create it on first use
    (with the workspace credentials of the environment, as MLflow's own `databricks-uc` store does)."""
    if config.registry_uri != UNITY_CATALOG_REGISTRY:
        return
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound

    catalog, schema, _ = config.registered_model_name.split(".")
    workspace = WorkspaceClient()
    try:
        workspace.schemas.get(f"{catalog}.{schema}")
    except NotFound:
        workspace.schemas.create(name=schema, catalog_name=catalog, comment="retention-assets models")


def model_input(model: TrainedModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The frame the pipeline itself receives (typed feature columns only)."""
    from retention_assets.model.training import model_frame

    return model_frame(rows, model.numeric_columns, model.categorical_columns)


CHAMPION_ALIAS = "champion"
STATE_TAG = "retention.state"  # candidate -> champion | rejected, set when the version's run publishes
RUN_TAG = "retention.dagster_run_id"
CANDIDATE, CHAMPION_STATE, REJECTED = "candidate", "champion", "rejected"


def store_exists(config: TrackingConfig) -> bool:
    """Whether the tracking store has been created (an embedded SQLite file that is not there yet is not
    created just to be asked a question)."""
    return not config.tracking_uri.startswith("sqlite:///") or Path(
        config.tracking_uri.removeprefix("sqlite:///")).exists()


@dataclass(frozen=True)
class VersionState:
    version: str
    state: str | None  # None: a version registered before states existed
    dagster_run_id: str | None
    mlflow_run_id: str


def version_states(config: TrackingConfig) -> list[VersionState]:
    """Every live version of the registered model with its state tag."""
    client = config.client()
    found, token = [], None
    while True:
        page = client.search_model_versions(f"name = '{config.registered_model_name}'", page_token=token)
        for v in page:
            if config.registry_uri == UNITY_CATALOG_REGISTRY:  # its search results carry no tags
                v = client.get_model_version(config.registered_model_name, v.version)
            found.append(VersionState(str(v.version), v.tags.get(STATE_TAG), v.tags.get(RUN_TAG), v.run_id))
        token = page.token
        if not token:
            return sorted(found, key=lambda v: int(v.version))


def set_version_state(config: TrackingConfig, version: str, state: str) -> None:
    config.client().set_model_version_tag(config.registered_model_name, version,
                                                                         STATE_TAG, state)


def delete_version(config: TrackingConfig, version: str) -> None:
    config.client().delete_model_version(config.registered_model_name, version)


def unfinished_runs(config: TrackingConfig) -> list[tuple[str, str | None]]:
    """(MLflow run id, Dagster run id) of the experiment's runs still marked RUNNING."""
    client = config.client()
    experiment = client.get_experiment_by_name(config.experiment_name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    return [(r.info.run_id, r.data.tags.get("dagster_run_id")) for r in runs]


def end_run(config: TrackingConfig, run_id: str, status: str = "KILLED") -> None:
    config.client().set_terminated(run_id, status)


def clear_champion(config: TrackingConfig) -> None:
    config.client().delete_registered_model_alias(config.registered_model_name,
                                                                                 CHAMPION_ALIAS)


def champion_version(config: TrackingConfig) -> str | None:
    """The registered version holding the champion alias, or None before the first promotion."""
    from mlflow.exceptions import MlflowException

    client = config.client()
    try:
        return str(client.get_model_version_by_alias(config.registered_model_name, CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def version_run_id(config: TrackingConfig, version: str) -> str:
    return config.client().get_model_version(config.registered_model_name,
                                                                            version).run_id


def version_record(config: TrackingConfig, version: str) -> tuple[str | None, float | None]:
    """The data as-of time and validation ROC AUC logged with a registered version's run."""
    client = config.client()
    run = client.get_run(client.get_model_version(config.registered_model_name, version).run_id)
    return run.data.params.get("as_of"), run.data.metrics.get("roc_auc")


def load_version(config: TrackingConfig, version: str):
    import mlflow.sklearn

    config.activate()
    return mlflow.sklearn.load_model(f"models:/{config.registered_model_name}/{version}")


def set_champion(config: TrackingConfig, version: str) -> None:
    config.client().set_registered_model_alias(
        config.registered_model_name, CHAMPION_ALIAS, version)


def pipeline_input(pipeline, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows shaped for a logged pipeline: its own input columns, missing ones as nulls (imputed by it)."""
    columns = list(pipeline.feature_names_in_)
    frame = rows.reindex(columns=columns)
    for column in columns:
        if pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().all():
            continue
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


OVERRIDE_TAG = "retention.champion_override"  # a person set (or cleared) the alias: recovery leaves it alone


@dataclass(frozen=True)
class RegistryVersion:
    """One registered version as `retention champion list` shows it."""

    version: str
    roc_auc: float | None
    validation: str | None
    trained_as_of: str | None
    state: str | None
    champion: bool


def registry_versions(config: TrackingConfig) -> list[RegistryVersion]:
    """Every live version with its validation ROC AUC, validation mode, data as-of time, state and alias."""
    client = config.client()
    current = champion_version(config)
    found = []
    for v in version_states(config):
        run = client.get_run(v.mlflow_run_id)
        found.append(RegistryVersion(v.version, run.data.metrics.get("roc_auc"), run.data.params.get("validation"),
                                     run.data.params.get("as_of"), v.state, v.version == current))
    return found


def champion_override(config: TrackingConfig) -> str | None:
    """The version a person set the alias to ('none' after clearing it), until the next run publishes."""
    from mlflow.exceptions import MlflowException

    try:
        model = config.client().get_registered_model(config.registered_model_name)
    except MlflowException:  # nothing registered yet
        return None
    return (model.tags or {}).get(OVERRIDE_TAG)


def override_champion(config: TrackingConfig, version: str | None) -> None:
    """Move the champion alias to `version` (None: remove it) by hand, marked so recovery keeps it."""
    client = config.client()
    if version is None:
        if champion_version(config) is not None:
            clear_champion(config)
    else:
        set_champion(config, version)
        set_version_state(config, version, CHAMPION_STATE)
    client.set_registered_model_tag(config.registered_model_name, OVERRIDE_TAG, version or "none")


def end_override(config: TrackingConfig) -> None:
    """A published run decided the champion again: the manual override has been judged and ends."""
    from mlflow.exceptions import MlflowException

    try:
        config.client().delete_registered_model_tag(config.registered_model_name, OVERRIDE_TAG)
    except MlflowException:
        pass
