"""The feature store. Local track: Feast with its registry file, file offline store and SQLite
online store inside the data directory; the production profile points them at Postgres and Redis."""

from __future__ import annotations

import dagster as dg


class FeatureStoreResource(dg.ConfigurableResource):
    """Feast repository settings; `config()` hands them to the Dagster-free functions in lib."""

    project: str
    repo_path: str
    registry: str
    online_store: dict[str, str]

    def config(self):
        from retention_assets.feature_store.repository import FeastConfig
        from retention_assets.profiles import ensure_postgres_database

        ensure_postgres_database(self.registry)
        return FeastConfig(self.project, self.repo_path, self.registry, dict(self.online_store))
