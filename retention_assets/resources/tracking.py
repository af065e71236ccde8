"""Experiment tracking. Local track: MLflow on SQLite with artifacts inside the data directory;
the production profile points it at Postgres."""

from __future__ import annotations

import dagster as dg


class MlflowTracking(dg.ConfigurableResource):
    """One MLflow run per model materialization, tagged with the Dagster run and asset.

    The embedded default needs no server; point `tracking_uri` at a server or Postgres
    (`postgresql://...`) to share runs across machines.
    """

    tracking_uri: str
    artifact_location: str | None = None
    experiment_name: str = "retention-churn"
    registered_model_name: str = "churn_model"
    registry_uri: str | None = None  # `databricks-uc`: the Unity Catalog registry (name catalog.schema.model)

    def config(self):
        from retention_assets.model.tracking import TrackingConfig
        from retention_assets.profiles import ensure_postgres_database

        ensure_postgres_database(self.tracking_uri)
        return TrackingConfig(self.tracking_uri, self.artifact_location, self.experiment_name,
                              self.registered_model_name, self.registry_uri)
