"""The metadata every asset shows: row count, schema, a preview, where the table lives and its as-of time."""

from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 12


def schema_metadata(dtypes: dict[str, str]) -> dg.TableSchema:
    """The column schema, with what the known columns mean (model.column_docs)."""
    from retention_assets.model.column_docs import describe_column

    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype), description=describe_column(name))
                                   for name, dtype in dtypes.items()])


def preview_markdown(frame: "pd.DataFrame", columns: int | None = None) -> str:
    shown = frame.head(PREVIEW_ROWS)
    total = columns if columns is not None else frame.shape[1]
    if shown.shape[1] > PREVIEW_COLUMNS:
        shown = shown.iloc[:, :PREVIEW_COLUMNS]
    shown = shown.apply(lambda column: column.map(_cell) if column.dtype == object else column)
    text = shown.to_markdown(index=False, floatfmt=".4g")
    if total > PREVIEW_COLUMNS:
        text += f"\n\n_{total - PREVIEW_COLUMNS} more columns not shown_"
    return text


def _cell(value: Any) -> Any:
    """A list cell (the structured reasons) as its size: its readable twin is in the next column over."""
    if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) == 1:
        return f"[{len(value)} records]"
    return value


def table_metadata(frame: "pd.DataFrame", as_of: str | None = None, **extra: Any) -> dict[str, Any]:
    """Metadata of a small table computed in memory (monitoring tables, summaries)."""
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": schema_metadata({c: str(t) for c, t in frame.dtypes.items()}),
        "preview": dg.MetadataValue.md(preview_markdown(frame)),
    }
    if as_of:
        metadata["as_of"] = dg.MetadataValue.text(as_of)
    metadata.update(extra)
    return metadata


def stored_table_metadata(engine, table: str, as_of: str | None = None, **extra: Any) -> dict[str, Any]:
    """Metadata of a table the engine wrote: rows, schema, a preview and its location."""
    info = engine.table_info(table)
    preview = engine.preview(table, PREVIEW_ROWS)
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(info.rows),
        "dagster/column_schema": schema_metadata(info.columns),
        "preview": dg.MetadataValue.md(preview_markdown(preview, len(info.columns))),
        "table": dg.MetadataValue.path(info.location),
    }
    if as_of:
        metadata["as_of"] = dg.MetadataValue.text(as_of)
    metadata.update(extra)
    return metadata


def summary_metadata(summary, as_of: str | None = None, **extra: Any) -> dict[str, Any]:
    """Metadata of a table a step wrote (`retention_assets.steps.TableSummary`), wherever the step ran."""
    import pandas as pd

    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(summary.rows),
        "dagster/column_schema": schema_metadata(summary.columns),
        "preview": dg.MetadataValue.md(preview_markdown(pd.DataFrame(summary.preview, columns=list(summary.columns)),
                                                        len(summary.columns))),
        "table": dg.MetadataValue.path(summary.location),
    }
    if as_of:
        metadata["as_of"] = dg.MetadataValue.text(as_of)
    metadata.update(extra)
    return metadata


def log_step(context, report) -> None:
    """What a step asked to be logged, on the run page."""
    for entry in report.logs:
        (context.log.warning if entry.level == "warning" else context.log.info)(entry.message)
