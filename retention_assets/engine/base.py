"""The engine protocol: where set-based work runs and where its tables live.

Every layer that works on whole tables (raw validation, cleaning, windows, silver, labels, gold,
the training set, scores) is SQL handed to an `Engine`, which runs it out of core and writes the
result straight to storage. Python sees only what it must: a sample, a few statistics, or batches of
rows streamed through a model. An engine knows its dialect, how to name a stored table in SQL and
how to replace a table atomically; nothing outside `retention_assets.engine` knows which engine runs.

Tables are addressed by name (the asset that owns them, e.g. `silver_joined`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retention_assets.engine.dialect import Dialect

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

ColumnKind = Literal["string", "integer", "float", "boolean", "timestamp_tz", "timestamp", "date", "other"]
"""Engine-neutral kinds of a column's physical type, for code that must branch on types."""

NUMERIC_KINDS: tuple[str, ...] = ("integer", "float")
TIMESTAMP_KINDS: tuple[str, ...] = ("timestamp_tz", "timestamp", "date")


@dataclass(frozen=True)
class TableInfo:
    """A written table: its name, row count, columns with their engine types, and where it lives."""

    name: str
    rows: int
    columns: dict[str, str]
    location: str


class Engine(ABC):
    """A SQL engine with a table store. Use as a context manager; `close()` releases the session."""

    dialect: Dialect
    name: str  # shown in the UI as the kind of the assets it computes
    read_errors: tuple[type[BaseException], ...] = ()  # what the engine raises for input it cannot read

    # ----------------------------------------------------------------------------------------------
    # naming what exists

    @abstractmethod
    def relation(self, table: str) -> str:
        """A SQL relation reading the stored table `table` (raises if it has not been written)."""

    @abstractmethod
    def exists(self, table: str) -> bool:
        """Whether the table has been written."""

    @abstractmethod
    def location(self, table: str) -> str:
        """Where the table lives (a path or a catalog name), for metadata and links."""

    @abstractmethod
    def file_relation(self, path: Path, file_format: Literal["csv", "parquet"]) -> str:
        """A relation over a user's source file. CSV columns are all read as text (headers required)
        so that typing is the raw layer's decision, never the reader's guess."""

    @abstractmethod
    def column_types(self, relation: str) -> dict[str, str]:
        """Column name -> engine type of a relation, in order."""

    @abstractmethod
    def column_kind(self, engine_type: str) -> ColumnKind:
        """The engine-neutral kind of one of this engine's type names."""

    def column_kinds(self, relation: str) -> dict[str, ColumnKind]:
        return {name: self.column_kind(kind) for name, kind in self.column_types(relation).items()}

    # ----------------------------------------------------------------------------------------------
    # reading results (small ones, or streamed)

    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """The whole result as Arrow: for results that fit in memory (samples, statistics)."""

    def frame(self, sql: str) -> pd.DataFrame:
        """The whole result as pandas: for samples, metadata and model inputs."""
        return self.query(sql).to_pandas()

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The result as Python tuples (statistics, a handful of example rows)."""

    def scalar(self, sql: str) -> Any:
        result = self.rows(sql)
        return result[0][0] if result else None

    @abstractmethod
    def batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result streamed in record batches of about `rows` rows (bounded memory)."""

    # ----------------------------------------------------------------------------------------------
    # writing tables

    @abstractmethod
    def write_table(self, table: str, sql: str) -> TableInfo:
        """Replace `table` with the result of `sql`, atomically: readers see the old table or the new
        one, never a partial write, and a failed write leaves the old table in place."""

    @abstractmethod
    def write_batches(self, table: str, batches: Iterable[pa.RecordBatch | pd.DataFrame],
                      schema: pa.Schema | None = None) -> TableInfo:
        """Replace `table` with rows produced in Python, batch by batch (atomically, bounded memory).
        An empty iterable needs `schema`."""

    def write_frame(self, table: str, frame: pd.DataFrame | pa.Table) -> TableInfo:
        """Replace `table` with a small in-memory table."""
        import pyarrow as pa

        data = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        return self.write_batches(table, data.to_batches(), schema=data.schema)

    maps_in_parallel: bool = False  # whether write_mapped runs the function where the data is, in parallel

    def write_mapped(self, table: str, sql: str, fn: Callable[[pd.DataFrame], pd.DataFrame], schema: pa.Schema,
                     rows: int = 50_000) -> TableInfo:
        """Replace `table` with `fn` applied to the result of `sql` batch by batch (pandas in, pandas out with
        `schema`). `fn` must be row-wise: the engine may split and order the batches as it likes, and on a
        cluster runs it on the workers (so it must pickle). Here: batch by batch in this process."""
        return self.write_batches(table, (fn(batch.to_pandas()) for batch in self.batches(sql, rows)), schema=schema)

    @abstractmethod
    def export(self, sql: str, path: Path) -> int:
        """Write a query's result as one Parquet file at `path` (atomically), for tools that read files
        (the Feast file source, score history). Returns the row count."""

    @abstractmethod
    def snapshot(self, table: str, path: Path) -> int:
        """Pin the table's current contents at `path`, a Parquet file no later write of `table` changes
        (what a published generation holds). Returns the row count."""

    def publish(self, table: str) -> str | None:
        """Make the table's current contents what readers of its published name see, for engines whose
        tables users query in place (a catalog); returns that name. None: the release manifest, with its
        snapshots, is the only publication (the default)."""
        return None

    @abstractmethod
    def drop(self, table: str) -> None:
        """Remove a table if it exists."""

    @abstractmethod
    @contextmanager
    def registered(self, name: str, data: pd.DataFrame | pa.Table) -> Iterator[str]:
        """A small in-memory frame visible to SQL as a relation for the duration of the block."""

    # ----------------------------------------------------------------------------------------------

    def table_info(self, table: str) -> TableInfo:
        relation = self.relation(table)
        return TableInfo(table, int(self.scalar(f"SELECT count(*) FROM {relation}")), self.column_types(relation),
                         self.location(table))

    def preview(self, table: str, rows: int = 5) -> pd.DataFrame:
        return self.frame(f"SELECT * FROM {self.relation(table)} LIMIT {int(rows)}")

    def close(self) -> None:  # noqa: B027 - engines without a session have nothing to release
        """Release the session."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TableMissingError(LookupError):
    """A table was read before the asset that writes it was materialized."""

    def __init__(self, table: str, location: str) -> None:
        super().__init__(f"table {table} has not been materialized (nothing at {location}); materialize it first")
        self.table = table
