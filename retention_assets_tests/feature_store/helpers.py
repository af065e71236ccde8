"""What the feast_features asset does, for tests of the repository functions."""

from retention_assets.feature_store.repository import stage_offline


def publish(config, engine, sql: str, key: str, timestamp: str):
    """The source table on the engine, then staged into the repository (offline source and view)."""
    engine.write_table("feast_source", sql)
    return stage_offline(config, engine, "feast_source", key, timestamp)
