"""The Spark engine: a Spark Connect session over Delta Lake tables.

Only the Spark Connect surface is used (`spark.sql`, `spark.table`, DataFrame reads and writes; no RDD,
no `sparkContext`, no JVM), so the same code runs in a Databricks job's active session, through
Databricks Connect, and on Sail (a Rust engine that speaks the Spark Connect protocol, with native
Delta Lake) on a machine without a cluster. Each table is a Delta table at `<tables_dir>/<name>`,
replaced by one overwrite commit: readers see the previous version or the new one, and a failed write
commits nothing. The SQL is the project's own, in the SPARK dialect; sessions run in UTC.

Written only with idioms valid on Databricks and on Sail: `format("delta").mode("overwrite")` with
`overwriteSchema`; no REPLACE, OPTIMIZE or VACUUM.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retention_assets.core.files import atomic_write
from retention_assets.engine.base import ColumnKind, Engine, TableInfo, TableMissingError
from retention_assets.engine.catalog import CatalogLayout
from retention_assets.engine.dialect import SPARK

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_INTEGER = ("tinyint", "smallint", "int", "bigint", "byte", "short", "long", "integer")
_FLOAT = ("float", "double", "decimal", "real")


def _read_errors() -> tuple[type[BaseException], ...]:
    try:
        from pyspark.errors import PySparkException
    except ImportError:  # pragma: no cover - the engine cannot run without pyspark anyway
        return ()
    return (PySparkException,)


class SparkEngine(Engine):
    """Spark SQL over Delta tables in `tables_dir` (or in a Unity Catalog, `catalog`), through a Spark
    Connect session (`remote`, an `sc://host:port` URL, or an existing `session`, e.g. a job's)."""

    dialect = SPARK
    name = "spark"

    def __init__(self, tables_dir: str | Path | None = None, remote: str | None = None, session=None,
                 scratch_dir: str | Path | None = None, catalog: CatalogLayout | None = None) -> None:
        if tables_dir is None and catalog is None:
            raise ValueError("a Spark engine needs a tables directory or a catalog layout")
        self.catalog = catalog
        self.tables_dir = Path(tables_dir).resolve() if tables_dir is not None else None
        if scratch_dir is None:
            scratch_dir = (self.tables_dir.parent / ".spark_scratch" if self.tables_dir is not None
                           else Path(tempfile.gettempdir()) / "retention_spark_scratch")
        self.scratch_dir = Path(scratch_dir).resolve()
        self._schemas: set[str] = set()
        self._remote = remote
        self._session = session
        self._owned = False
        self._views = 0
        self.read_errors = _read_errors()

    @property
    def spark(self):
        if self._session is None:
            from pyspark.sql import SparkSession

            # A session of its own (its temporary views are this engine's), stopped by close().
            self._session = SparkSession.builder.remote(self._remote).create()
            self._owned = True
            self._session.conf.set("spark.sql.session.timeZone", "UTC")
        return self._session

    def close(self) -> None:
        """Stop the session this engine opened (a session handed in belongs to its owner, e.g. a job).
        A client left open would try to reach its server again when the interpreter exits."""
        if self._session is not None and self._owned:
            try:
                self._session.stop()
            except Exception:  # noqa: BLE001, S110 - the server may be gone already; nothing is left to release
                pass
        self._session = None

    # ----------------------------------------------------------------------------------------------

    def path(self, table: str) -> Path:
        if self.tables_dir is None:
            raise ValueError(f"{table} lives in the catalog {self.catalog.catalog}, not in a directory")
        return self.tables_dir / table

    def _url(self, path: Path) -> str:
        return path.resolve().as_uri()

    def relation(self, table: str) -> str:
        if not self.exists(table):
            raise TableMissingError(table, self.location(table))
        if self.catalog is not None:
            return self.catalog.quoted(table)
        return f"delta.`{self._url(self.path(table))}`"

    def exists(self, table: str) -> bool:
        if self.catalog is not None:
            return bool(self.spark.catalog.tableExists(self.catalog.full_name(table)))
        return (self.path(table) / "_delta_log").is_dir()

    def location(self, table: str) -> str:
        return self.catalog.full_name(table) if self.catalog is not None else str(self.path(table))

    def _view(self, frame) -> str:
        self._views += 1
        name = f"__retention_view_{self._views}"
        frame.createOrReplaceTempView(name)
        return self.dialect.ident(name)

    def file_relation(self, path: Path, file_format: Literal["csv", "parquet"]) -> str:
        if file_format == "csv":  # every column as text, header required: typing is the raw layer's decision
            return self._view(self.spark.read.option("header", "true").option("inferSchema", "false")
                              .option("multiLine", "true").option("escape", '"').csv(self._url(Path(path))))
        return f"parquet.`{self._url(self._spark_readable(Path(path)))}`"

    def _spark_readable(self, path: Path) -> Path:
        """Spark engines do not read Parquet TIMESTAMP(NANOS) (pandas' default): such a file is rewritten
        once, batch by batch, with microsecond timestamps (the same instants to the microsecond)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        nanos = [i for i, f in enumerate(schema) if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]
        if not nanos:
            return path
        stat = path.stat()
        digest = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        target = self.scratch_dir / f"{path.stem}.{digest}.parquet"
        if target.exists():
            return target
        fields = [pa.field(f.name, pa.timestamp("us", tz=f.type.tz), f.nullable) if i in nanos else f
                  for i, f in enumerate(schema)]
        micro = pa.schema(fields, metadata=schema.metadata)

        def write(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, micro) as writer:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=200_000):
                    writer.write_table(pa.Table.from_batches([batch]).cast(micro))

        atomic_write(target, write)
        return target

    def column_types(self, relation: str) -> dict[str, str]:
        schema = self.spark.sql(f"SELECT * FROM {relation} LIMIT 0").schema
        return {field.name: field.dataType.simpleString() for field in schema.fields}

    def column_kind(self, engine_type: str) -> ColumnKind:
        kind = engine_type.lower()
        if kind == "string" or kind.startswith(("varchar", "char")):
            return "string"
        if kind == "boolean":
            return "boolean"
        if kind == "timestamp":  # an instant (shown in the session's zone, UTC)
            return "timestamp_tz"
        if kind == "timestamp_ntz":
            return "timestamp"
        if kind == "date":
            return "date"
        if kind.startswith(_INTEGER):
            return "integer"
        if kind.startswith(_FLOAT):
            return "float"
        return "other"

    # ----------------------------------------------------------------------------------------------

    def query(self, sql: str) -> pa.Table:
        return _utc(self.spark.sql(sql).toArrow())

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        table = self.query(sql)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return list(zip(*columns)) if columns else []

    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result in batches of `rows`. The result is fetched whole first (Spark Connect's Arrow
        stream is not exposed batch by batch), so memory is bounded by the result, not the batch: what
        streams through Python at scale (batch scoring) belongs in a Spark-side step on this engine."""
        yield from self.query(sql).to_batches(max_chunksize=rows)

    # ----------------------------------------------------------------------------------------------

    def _write(self, table: str, frame) -> TableInfo:
        if self.catalog is None:
            target = self.path(table)
            target.parent.mkdir(parents=True, exist_ok=True)
            frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(self._url(target))
            return self.table_info(table)
        self._write_registered(frame, self.catalog.full_name(table), self.catalog.storage(table))
        return self.table_info(table)

    def _write_registered(self, frame, name: str, storage: str) -> None:
        """One overwrite commit at `storage`, then the registration of `name` there (data first: registering
        an empty location leaves a table without a Delta log; a registration follows its location's versions)."""
        frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(storage)
        schema = name.rsplit(".", 1)[0]
        if schema not in self._schemas:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            self._schemas.add(schema)
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING delta LOCATION '{storage}'")

    def publish(self, table: str) -> str | None:
        """In a catalog: the table copied to its published name in the serving schema (one commit)."""
        if self.catalog is None:
            return None
        name = self.catalog.published_name(table)
        self._write_registered(self.spark.sql(f"SELECT * FROM {self.relation(table)}"), name,
                               self.catalog.published_storage(table))
        return name

    def write_table(self, table: str, sql: str) -> TableInfo:
        return self._write(table, self.spark.sql(sql))

    def write_batches(self, table: str, batches: Iterable[pa.RecordBatch | pd.DataFrame],
                      schema: pa.Schema | None = None) -> TableInfo:
        import pyarrow as pa

        parts = [b if isinstance(b, (pa.RecordBatch, pa.Table)) else pa.Table.from_pandas(b, preserve_index=False)
                 for b in batches]
        if not parts and schema is None:
            raise ValueError(f"write_batches({table!r}): no batches and no schema")
        tables = [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in parts]
        data = pa.concat_tables(tables) if tables else schema.empty_table()
        if schema is not None:
            data = data.cast(schema)
        return self._write(table, self._frame_of(data))

    maps_in_parallel = True

    def write_mapped(self, table: str, sql: str, fn, schema: pa.Schema, rows: int = 50_000) -> TableInfo:
        """`fn` runs on the executors through `mapInPandas` (Spark's Arrow batches), not in this process.
        Timestamps reach `fn` as naive UTC (the session's zone) and are read back as UTC instants."""
        from pyspark.sql.pandas.types import from_arrow_schema

        def apply(batches):
            for batch in batches:
                yield fn(batch)

        self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(int(rows)))
        return self._write(table, self.spark.sql(sql).mapInPandas(apply, schema=from_arrow_schema(schema)))

    def _frame_of(self, table: pa.Table):
        """A Spark DataFrame of a small Arrow table, with its schema given (an empty one has nothing to infer)."""
        from pyspark.sql.pandas.types import from_arrow_schema

        table = _micro(table)
        return self.spark.createDataFrame(table, schema=from_arrow_schema(table.schema))

    def export(self, sql: str, path: Path) -> int:
        import pyarrow.parquet as pq

        data = self.query(sql)
        atomic_write(Path(path), lambda tmp: pq.write_table(data, tmp, compression="zstd"))
        return data.num_rows

    def snapshot(self, table: str, path: Path) -> int:
        """The table's current Delta version as one Parquet file (what a file-reading tool needs)."""
        return self.export(f"SELECT * FROM {self.relation(table)}", path)

    def drop(self, table: str) -> None:
        if self.catalog is None:
            shutil.rmtree(self.path(table), ignore_errors=True)
            return
        self.spark.sql(f"DROP TABLE IF EXISTS {self.catalog.full_name(table)}")
        storage = self.catalog.storage(table)
        if storage.startswith("file:"):  # an external table's data outlives its registration
            from urllib.parse import urlparse

            shutil.rmtree(urlparse(storage).path, ignore_errors=True)

    @contextmanager
    def registered(self, name: str, data: pd.DataFrame | pa.Table) -> Iterator[str]:
        import pandas as pd
        import pyarrow as pa

        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(
            data if isinstance(data, pd.DataFrame) else pd.DataFrame(data), preserve_index=False)
        self._frame_of(table).createOrReplaceTempView(name)
        try:
            yield self.dialect.ident(name)
        finally:
            self.spark.catalog.dropTempView(name)


def _utc(table: pa.Table) -> pa.Table:
    """Spark's TIMESTAMP columns as UTC instants (Arrow results carry the session's zone, UTC)."""
    import pyarrow as pa

    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None and field.type.tz != "UTC":
            field = pa.field(field.name, pa.timestamp(field.type.unit, tz="UTC"), field.nullable)
        fields.append(field)
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _micro(table: pa.Table) -> pa.Table:
    """Timestamps at microsecond precision (what Spark stores)."""
    import pyarrow as pa

    fields = [pa.field(f.name, pa.timestamp("us", tz=f.type.tz), f.nullable)
              if pa.types.is_timestamp(f.type) and f.type.unit == "ns" else f for f in table.schema]
    return table.cast(pa.schema(fields), safe=False) if fields != list(table.schema) else table


_EMBEDDED: dict[str, object] = {}


def embedded_server() -> str:
    """The `sc://` URL of a Sail Spark Connect server running in this process (started on first use)."""
    if "url" not in _EMBEDDED:
        from pysail.spark import SparkConnectServer

        server = SparkConnectServer("127.0.0.1", 0)
        server.start(background=True)
        _, port = server.listening_address
        _EMBEDDED.update(server=server, url=f"sc://127.0.0.1:{port}")
    return str(_EMBEDDED["url"])
