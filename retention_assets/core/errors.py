"""The one exception type for bad input data: it names the file, the column and the offending rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_ROWS_SHOWN = 5


class DataValidationError(ValueError):
    """Input that cannot be used as it is; renders as one clear sentence plus a few example rows.

    `rows` are 1-based data row numbers as a user sees them in the file (header excluded), so
    "row 3" is the third record.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        column: str | None = None,
        rows: Sequence[int] = (),
        examples: Sequence[Any] = (),
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.column = column
        self.rows = list(rows)
        self.examples = list(examples)
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.path}{self.detail()}"

    def detail(self) -> str:
        """Everything after the file: the column, the problem, the rows and their values."""
        text = f", column {self.column!r}: {self.problem}" if self.column is not None else f": {self.problem}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = f" and {len(self.rows) - MAX_ROWS_SHOWN} more" if len(self.rows) > MAX_ROWS_SHOWN else ""
            text += f" (rows {shown}{more}"
            if self.examples:
                text += "; values " + ", ".join(repr(v) for v in self.examples[:MAX_ROWS_SHOWN])
            text += ")"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-safe data, to cross a process boundary (a remote step) and be raised again."""
        return {"path": self.path, "problem": self.problem, "column": self.column, "rows": self.rows,
                "examples": [v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                             for v in self.examples]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataValidationError:
        return cls(data["path"], data["problem"], data.get("column"), data.get("rows", ()), data.get("examples", ()))

    @classmethod
    def combined(cls, errors: Sequence[DataValidationError]) -> DataValidationError:
        """Every problem of one file in one error (one sentence per column), so a user fixes them all at once."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        problem = f"{len(errors)} problems: " + "; ".join(e.detail().removeprefix(", ").removeprefix(": ")
                                                         for e in errors)
        return cls(first.path, problem)
