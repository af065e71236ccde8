"""The feature store. Local track: Feast with a registry file, the file offline store and a SQLite
online store in each generation's directory; the production profile shares a Postgres registry and
Redis between generations (each generation is a Feast project of its own)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class FeatureStoreResource(dg.ConfigurableResource):
    """Feast repository settings. `staged(run_id)` is the repository a run writes and reads; the
    published one is named by the release manifest (`retention_assets.publication`)."""

    project: str
    data_dir: str
    registry: str | None = None  # a SQL URL shared by every generation, or None: a file per generation
    online_store: dict[str, str]

    def layout(self):
        from retention_assets.feature_store.repository import FeastLayout
        from retention_assets.profiles import ensure_postgres_database

        if self.registry:
            ensure_postgres_database(self.registry)
        return FeastLayout(self.project, self.registry or None, dict(self.online_store))

    def staged(self, run_id: str):
        """The Feast repository of this run's generation (see `publication.staging`)."""
        from retention_assets.publication.staging import staged_feast

        return staged_feast(self.layout(), Path(self.data_dir), run_id)

    def stage(self, run_id: str, engine, table: str, key: str, timestamp: str, restage: bool = False):
        """The run's repository with its offline source and view applied (once per run)."""
        from retention_assets.publication.staging import stage_feast

        return stage_feast(self.layout(), Path(self.data_dir), run_id, engine, table, key, timestamp,
                           restage=restage)
