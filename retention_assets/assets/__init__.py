"""Thin Dagster wiring over `retention_assets.lib`: one module per layer."""
