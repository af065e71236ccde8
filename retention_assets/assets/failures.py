"""Bad input reaches the user as one sentence: the step fails with the validation message, no traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from retention_assets.core.errors import DataValidationError


@contextmanager
def input_errors_as_failures() -> Iterator[None]:
    """Turn a DataValidationError (file, column, rows) into a step failure whose description is that sentence."""
    try:
        yield
    except DataValidationError as exc:
        raise dg.Failure(description=str(exc), metadata={"file": exc.path, "column": str(exc.column)},
                         allow_retries=False) from None
