"""Both engines for contract tests: DuckDB in process, and Spark through a Spark Connect session on Sail,
with tables at paths and with tables in a catalog (three-level names, external Delta tables)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["duckdb", "spark", "spark_catalog"])
def any_engine(request, tmp_path):
    """Each engine over its own table store (use as the engine under test)."""
    if request.param == "duckdb":
        from retention_assets.engine.duckdb_engine import DuckDBEngine

        with DuckDBEngine(tmp_path / "tables", memory_limit="1GB") as engine:
            yield engine
    elif request.param == "spark":
        from retention_assets.engine.spark_engine import SparkEngine

        with SparkEngine(tmp_path / "tables", remote=request.getfixturevalue("sail_remote")) as engine:
            yield engine
    else:
        from retention_assets.engine.catalog import CatalogLayout
        from retention_assets.engine.spark_engine import SparkEngine

        # Sail's built-in catalog; the Databricks-profile tests use Unity Catalog through the workspace stand-in.
        layout = CatalogLayout("spark_catalog", (tmp_path / "lake").as_uri())
        with SparkEngine(remote=request.getfixturevalue("sail_remote"), catalog=layout) as engine:
            yield engine
