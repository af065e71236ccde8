"""The dialect-specific pieces of the generated SQL, in one place.

The feature and label SQL is written once against this small interface; DuckDB runs it on the
local track and Spark SQL on the Databricks track. Anything that differs between the two engines
belongs here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


def quote(identifier: str) -> str:
    """An ANSI (DuckDB) quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    name: str

    def ident(self, identifier: str) -> str:
        if self.name == "spark":
            return "`" + identifier.replace("`", "``") + "`"
        return quote(identifier)

    def string(self, value: str) -> str:
        escaped = value.replace("'", "''")
        if self.name == "spark":
            escaped = escaped.replace("\\", "\\\\")
        return f"'{escaped}'"

    def timestamp(self, ts: datetime) -> str:
        """A UTC timestamp literal (sessions run in UTC on both engines)."""
        text = ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.name == "spark":
            return f"TIMESTAMP '{text}'"
        return f"TIMESTAMPTZ '{text}+00'"

    def minus_hours(self, ts_expr: str, hours: int) -> str:
        if self.name == "spark":
            return f"({ts_expr} - INTERVAL {hours} HOURS)"
        return f"({ts_expr} - INTERVAL '{hours} hours')"

    def plus_hours(self, ts_expr: str, hours: int) -> str:
        if self.name == "spark":
            return f"({ts_expr} + INTERVAL {hours} HOURS)"
        return f"({ts_expr} + INTERVAL '{hours} hours')"

    def epoch_seconds(self, ts_expr: str) -> str:
        if self.name == "spark":
            return f"(CAST({ts_expr} AS DOUBLE))"
        return f"epoch({ts_expr})"

    def days_between(self, later: str, earlier: str) -> str:
        return f"(({self.epoch_seconds(later)} - {self.epoch_seconds(earlier)}) / 86400.0)"

    def as_string(self, expr: str) -> str:
        return f"CAST({expr} AS {'STRING' if self.name == 'spark' else 'VARCHAR'})"

    def snapshot_values(self, column: str, timestamps: list[datetime]) -> str:
        """A relation with one timestamp column holding the given values."""
        rows = ", ".join(f"({self.timestamp(ts)})" for ts in timestamps)
        return f"(SELECT * FROM (VALUES {rows}) AS s({self.ident(column)}))"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
