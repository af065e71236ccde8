"""DuckDB sessions configured the way every query here expects: UTC, bounded memory, atomic writes."""

from __future__ import annotations

from pathlib import Path

import duckdb

from retention_assets.core.files import atomic_write


def connect(memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session in UTC (timestamps compare and print as UTC regardless of the host)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def sql_path(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def parquet_relation(path: Path | str) -> str:
    return f"read_parquet({sql_path(path)})"


def copy_query_to_parquet(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    """Write a query's result to `target` atomically: a temporary file, then a rename."""
    atomic_write(target, lambda tmp: con.execute(f"COPY ({query}) TO {sql_path(tmp)} (FORMAT PARQUET, COMPRESSION ZSTD)"))
