"""Bad input reaches the user as one sentence: the step fails with the validation message, no traceback;
and a failed run is summed up by the causes of its failure, the first one first (the CLI prints them, the
failure sensor puts the first on the run page as a tag)."""

from collections.abc import Iterable, Iterator
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


FAILURE_TAG = "retention/failure"
_CHECK_WRAPPER = "DagsterAssetCheckFailedError"


def step_failure_messages(events: Iterable[dg.DagsterEvent]) -> dict[str, str]:
    """The user-facing message of each failed step: the original error, not Dagster's wrapper."""
    failures = {}
    for event in events:
        if event.is_step_failure:
            data = event.step_failure_data
            error = data.error
            while error is not None and error.cause is not None:
                error = error.cause
            text = error.message.strip() if error else "failed"
            if data.user_failure_data and data.user_failure_data.description:
                text = data.user_failure_data.description
            failures[event.step_key] = text
    return failures


def failure_sentences(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """Why a run failed, one line per cause: failed blocking checks with their descriptions, then the failed
    steps (a step that failed only because its blocking check did is said once, by the check)."""
    events = list(events)
    checks, wrappers = [], set()
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                checks.append(f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed"
                              + (f": {evaluation.description}" if evaluation.description else ""))
        elif event.is_step_failure and event.step_failure_data.error is not None \
                and event.step_failure_data.error.cls_name == _CHECK_WRAPPER:
            wrappers.add(event.step_key)
    steps = [f"{step}: {text}" for step, text in step_failure_messages(events).items() if step not in wrappers]
    return [*checks, *steps]
