"""One engine for the exploration tests: an in-process DuckDB session over a temporary table directory."""

from __future__ import annotations

import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    with DuckDBEngine(tables_dir=tmp_path_factory.mktemp("engine") / "tables", memory_limit="1GB") as session:
        yield session
