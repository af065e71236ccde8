"""The local engine: an in-process DuckDB session over Parquet tables in a directory.

Each table is one Parquet file `<tables_dir>/<name>.parquet`, replaced atomically (written to a
temporary file beside it, then renamed). DuckDB runs every query out of core: beyond `memory_limit`
it spills to `temp_dir`, so a layer never has to fit in memory. Sessions run in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

from retention_assets.core.files import atomic_write
from retention_assets.engine.base import ColumnKind, Engine, TableInfo, TableMissingError
from retention_assets.engine.dialect import DUCKDB

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT")
_FLOAT = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_dir: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session in UTC (timestamps compare and print as UTC regardless of the host)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {sql_path(temp_dir)}")
    return con


def sql_path(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class DuckDBEngine(Engine):
    """DuckDB on Parquet files: the embedded engine of the local and production profiles."""

    read_errors = (duckdb.Error,)

    dialect = DUCKDB
    name = "duckdb"

    def __init__(self, tables_dir: str | Path, memory_limit: str | None = "3GB", threads: int | None = None,
                 temp_dir: str | Path | None = None) -> None:
        self.tables_dir = Path(tables_dir)
        self._settings = (memory_limit, threads, temp_dir or self.tables_dir.parent / ".duckdb_tmp")
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect(*self._settings)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    # ----------------------------------------------------------------------------------------------

    def path(self, table: str) -> Path:
        return self.tables_dir / f"{table}.parquet"

    def relation(self, table: str) -> str:
        path = self.path(table)
        if not path.exists():
            raise TableMissingError(table, str(path))
        return f"read_parquet({sql_path(path)})"

    def exists(self, table: str) -> bool:
        return self.path(table).exists()

    def location(self, table: str) -> str:
        return str(self.path(table))

    def file_relation(self, path: Path, file_format: Literal["csv", "parquet"]) -> str:
        if file_format == "csv":
            return f"read_csv({sql_path(path)}, all_varchar = true, header = true)"
        return f"read_parquet({sql_path(path)})"

    def column_types(self, relation: str) -> dict[str, str]:
        return {name: dtype for name, dtype, *_ in self.connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}

    def column_kind(self, engine_type: str) -> ColumnKind:
        kind = engine_type.upper()
        if kind in ("VARCHAR", "TEXT", "STRING") or kind.startswith("VARCHAR"):
            return "string"
        if kind == "BOOLEAN":
            return "boolean"
        if kind.startswith("TIMESTAMPTZ") or "WITH TIME ZONE" in kind:
            return "timestamp_tz"
        if kind.startswith("TIMESTAMP"):
            return "timestamp"
        if kind == "DATE":
            return "date"
        if kind.startswith(_INTEGER):
            return "integer"
        if kind.startswith(_FLOAT):
            return "float"
        return "other"

    # ----------------------------------------------------------------------------------------------

    def query(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def frame(self, sql: str) -> pd.DataFrame:
        relation = self.connection.sql(sql)
        frame = relation.df()
        # DuckDB (1.x) hands TIMESTAMPTZ_NS columns (nanosecond UTC instants, e.g. from pandas-written
        # Parquet) to pandas without their time zone; they are UTC instants, so say so.
        for column, kind in zip(relation.columns, relation.types):
            if str(kind) == "TIMESTAMPTZ_NS" and getattr(frame[column].dtype, "tz", None) is None:
                frame[column] = frame[column].dt.tz_localize("UTC")
        return frame

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql).fetchall()

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from self.connection.sql(sql).to_arrow_reader(rows)

    # ----------------------------------------------------------------------------------------------

    def _copy(self, sql: str, target: Path) -> int:
        counted: list[int] = []

        def write(tmp: Path) -> None:
            result = self.connection.execute(
                f"COPY ({sql}) TO {sql_path(tmp)} (FORMAT PARQUET, COMPRESSION ZSTD)").fetchone()
            counted.append(int(result[0]) if result else 0)

        atomic_write(target, write)
        return counted[0]

    def write_table(self, table: str, sql: str) -> TableInfo:
        rows = self._copy(sql, self.path(table))
        return TableInfo(table, rows, self.column_types(self.relation(table)), self.location(table))

    def write_batches(self, table: str, batches: Iterable[pa.RecordBatch | pd.DataFrame],
                      schema: pa.Schema | None = None) -> TableInfo:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = 0

        def write(tmp: Path) -> None:
            nonlocal rows
            writer = None
            try:
                for batch in batches:
                    if not isinstance(batch, (pa.RecordBatch, pa.Table)):
                        batch = pa.Table.from_pandas(batch, preserve_index=False, schema=writer.schema if writer else schema)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, schema or batch.schema, compression="zstd")
                    table_batch = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
                    writer.write_table(table_batch.cast(writer.schema) if table_batch.schema != writer.schema
                                       else table_batch)
                    rows += batch.num_rows
                if writer is None:
                    if schema is None:
                        raise ValueError(f"write_batches({table!r}): no batches and no schema")
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
            finally:
                if writer is not None:
                    writer.close()

        atomic_write(self.path(table), write)
        return TableInfo(table, rows, self.column_types(self.relation(table)), self.location(table))

    def export(self, sql: str, path: Path) -> int:
        return self._copy(sql, Path(path))

    def snapshot(self, table: str, path: Path) -> int:
        """A hard link to the table's file: free, and safe because every write replaces the file (a new
        inode) instead of changing it. A copy where the two paths are on different filesystems."""
        import os
        import shutil

        source, path = Path(self.location(table)), Path(path)
        if not source.exists():
            raise TableMissingError(table, str(source))
        path.parent.mkdir(parents=True, exist_ok=True)

        def link(tmp: Path) -> None:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)

        atomic_write(path, link)
        return int(self.scalar(f"SELECT count(*) FROM {self.file_relation(path, 'parquet')}"))

    def drop(self, table: str) -> None:
        self.path(table).unlink(missing_ok=True)

    @contextmanager
    def registered(self, name: str, data: pd.DataFrame | pa.Table) -> Iterator[str]:
        self.connection.register(name, data)
        try:
            yield self.dialect.ident(name)
        finally:
            self.connection.unregister(name)
