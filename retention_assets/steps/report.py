"""What a step hands back to the asset that launched it: plain, JSON-safe values.

A step may run in another process on another machine (a Databricks job), so its outcome crosses the
wire as JSON; the local track round-trips it the same way, so both tracks show identical metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

PREVIEW_ROWS = 5


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: timestamps as ISO text, NaN as null, numpy scalars as Python."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if getattr(value, "ndim", 0) == 1:  # a list column read back as a numpy array
        return [jsonable(v) for v in value.tolist()]
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        return jsonable(item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class TableSummary:
    """A table a step wrote: what the UI shows about it."""

    name: str
    rows: int
    columns: dict[str, str]
    location: str
    preview: list[dict[str, Any]]  # the first rows, JSON-safe

    @classmethod
    def of(cls, engine, table: str) -> TableSummary:
        info = engine.table_info(table)
        frame = engine.preview(table, PREVIEW_ROWS)
        records = [{str(k): jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
        return cls(info.name, info.rows, dict(info.columns), info.location, records)


@dataclass(frozen=True)
class StepLog:
    level: Literal["info", "warning"]
    message: str


@dataclass
class StepReport:
    """The tables a step wrote, the values the asset reports, and what it wants logged."""

    tables: dict[str, TableSummary] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    logs: list[StepLog] = field(default_factory=list)

    def add_table(self, engine, table: str) -> TableSummary:
        self.tables[table] = TableSummary.of(engine, table)
        return self.tables[table]

    def info(self, message: str) -> None:
        self.logs.append(StepLog("info", message))

    def warning(self, message: str) -> None:
        self.logs.append(StepLog("warning", message))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"tables": {k: asdict(v) for k, v in self.tables.items()}, "values": self.values,
                         "logs": [asdict(log) for log in self.logs]})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepReport:
        return cls(tables={k: TableSummary(**v) for k, v in data["tables"].items()}, values=dict(data["values"]),
                   logs=[StepLog(**log) for log in data["logs"]])
