"""Thin Dagster wiring over the framework-free packages: one module per layer, no SQL and no engine names."""
