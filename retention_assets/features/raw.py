"""Reading, typing and validating a declared source file before anything downstream sees it.

Validation runs first, in DuckDB, over the file as written; only a file that passes is written as a
typed Parquet table (atomically), so a bad file never replaces a good table. Problems raise
`DataValidationError` naming the file, the column and the offending rows (1-based record numbers).

Repairs that are applied, documented and counted (never silent):
- entity keys are compared as strings (an integer key 17 and the text "17" are the same customer);
- timestamps are normalised to UTC; values without an offset are read in the source's
  `naive_timestamps_timezone`;
- numbers written as text ("12.50") become floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from retention_assets.engine.duckdb import copy_query_to_parquet, sql_path
from retention_assets.core.errors import DataValidationError
from retention_assets.engine.dialect import quote as q

_OFFSET_PATTERN = r"(Z|z|[+-]\d\d(:?\d\d)?)$"
_NUMERIC_TYPES = ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                  "UINTEGER", "USMALLINT", "UTINYINT", "DECIMAL", "REAL")


@dataclass(frozen=True)
class SourceSpec:
    """What a source must contain and how each column is typed."""

    name: str
    path: Path
    file_format: str
    entity_key: str
    timestamp_columns: tuple[str, ...] = ()  # required, every value must parse
    date_columns: tuple[str, ...] = ()  # optional values, those present must parse
    numeric_columns: tuple[str, ...] = ()  # undeclared columns kept by entity tables are typed by their values
    string_columns: tuple[str, ...] = ()
    unique_key: bool = False
    naive_timezone: str = "UTC"
    keep_other_columns: bool = False  # entity tables keep undeclared columns (typed by inference)
    exclude_columns: tuple[str, ...] = ()


@dataclass
class RawTableReport:
    """What reading produced, for the asset's metadata."""

    rows: int
    columns: dict[str, str]
    repairs: list[str] = field(default_factory=list)
    duplicate_key_rows: int = 0
    time_span: tuple[str, str] | None = None


def _relation(spec: SourceSpec) -> str:
    if spec.file_format == "csv":
        return f"read_csv({sql_path(spec.path)}, all_varchar = true, header = true)"
    return f"read_parquet({sql_path(spec.path)})"


def _describe(con: duckdb.DuckDBPyConnection, relation: str, spec: SourceSpec) -> dict[str, str]:
    if not spec.path.exists():
        raise DataValidationError(spec.path, "the file does not exist")
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise DataValidationError(spec.path, f"cannot be read as {spec.file_format.upper()}: {first_line}") from None
    return {name: dtype for name, dtype, *_ in rows}


def _is_tz_aware(dtype: str) -> bool:
    return "WITH TIME ZONE" in dtype or dtype.startswith("TIMESTAMPTZ")


def _timestamp_expr(column: str, dtype: str, naive_tz: str) -> str:
    c, tz = q(column), "'" + naive_tz.replace("'", "''") + "'"
    if _is_tz_aware(dtype):
        return f"CAST({c} AS TIMESTAMPTZ)"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return f"timezone({tz}, CAST({c} AS TIMESTAMP))"
    if dtype == "VARCHAR":
        trimmed = f"trim({c})"
        return (
            f"CASE WHEN regexp_matches({trimmed}, '{_OFFSET_PATTERN}') THEN TRY_CAST({trimmed} AS TIMESTAMPTZ) "
            f"ELSE timezone({tz}, TRY_CAST({trimmed} AS TIMESTAMP)) END"
        )
    return "NULL::TIMESTAMPTZ"  # unsupported physical type: every value is reported as unparseable


def _numeric_expr(column: str, dtype: str) -> str:
    if dtype.startswith(_NUMERIC_TYPES):
        return f"CAST({q(column)} AS DOUBLE)"
    if dtype == "BOOLEAN":
        return f"CAST(CAST({q(column)} AS INTEGER) AS DOUBLE)"
    return f"TRY_CAST(trim(CAST({q(column)} AS VARCHAR)) AS DOUBLE)"


def _offending_rows(con, relation: str, condition: str, column: str, limit: int = 5) -> tuple[list[int], list]:
    rows = con.execute(
        f"SELECT __row, {q(column)} FROM (SELECT row_number() OVER () AS __row, * FROM {relation}) "
        f"WHERE {condition} ORDER BY __row LIMIT {limit}"
    ).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def _infer_numeric(con, relation: str, columns: dict[str, str], candidates: list[str]) -> list[str]:
    """Columns whose every present value is a number (no name-based guessing)."""
    numeric = [c for c in candidates if columns[c].startswith(_NUMERIC_TYPES)]
    text = [c for c in candidates if columns[c] == "VARCHAR"]
    if text:
        probes = ", ".join(
            f"count({q(c)}) = count(TRY_CAST(trim({q(c)}) AS DOUBLE)) AND count({q(c)}) > 0" for c in text
        )
        flags = con.execute(f"SELECT {probes} FROM {relation}").fetchone()
        numeric += [c for c, is_num in zip(text, flags) if is_num]
    return [c for c in candidates if c in numeric]


def validate_and_write(con: duckdb.DuckDBPyConnection, spec: SourceSpec, target: Path) -> RawTableReport:
    """Validate `spec.path` and, only if it passes, write it typed to `target` (atomically)."""
    relation = _relation(spec)
    columns = _describe(con, relation, spec)
    declared = [spec.entity_key, *spec.timestamp_columns, *spec.date_columns, *(spec.numeric_columns or ()),
                *spec.string_columns]
    for column in dict.fromkeys(declared):
        if column not in columns:
            raise DataValidationError(
                spec.path, f"the column is missing (the file has {', '.join(columns)})", column=column
            )
    n_rows = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    if n_rows == 0:
        raise DataValidationError(spec.path, "the file has no data rows")

    known = set(declared)
    others = [c for c in columns if c not in known and c not in spec.exclude_columns] if spec.keep_other_columns else []
    inferred = _infer_numeric(con, relation, columns, others)
    numeric = [*(spec.numeric_columns or ()), *inferred]
    strings = [*spec.string_columns, *(c for c in others if c not in inferred)]

    key = q(spec.entity_key)
    checks: list[tuple[str, str, str]] = [(f"{key} IS NULL", spec.entity_key, "the entity key is empty")]
    typed = [f"CAST({key} AS VARCHAR) AS {key}"]
    for column in spec.timestamp_columns:
        expr = _timestamp_expr(column, columns[column], spec.naive_timezone)
        checks.append((f"{q(column)} IS NULL", column, "the timestamp is empty"))
        checks.append((f"{q(column)} IS NOT NULL AND ({expr}) IS NULL", column, "the timestamp cannot be parsed"))
        typed.append(f"{expr} AS {q(column)}")
    for column in spec.date_columns:
        expr = _timestamp_expr(column, columns[column], spec.naive_timezone)
        checks.append((f"{q(column)} IS NOT NULL AND trim(CAST({q(column)} AS VARCHAR)) <> '' AND ({expr}) IS NULL",
                       column, "the date cannot be parsed"))
        typed.append(f"CASE WHEN trim(CAST({q(column)} AS VARCHAR)) = '' THEN NULL ELSE {expr} END AS {q(column)}")
    for column in numeric:
        expr = _numeric_expr(column, columns[column])
        checks.append((f"{q(column)} IS NOT NULL AND trim(CAST({q(column)} AS VARCHAR)) <> '' AND ({expr}) IS NULL",
                       column, "the value is not a number"))
        typed.append(f"{expr} AS {q(column)}")
    for column in strings:
        if column != spec.entity_key:
            typed.append(f"NULLIF(CAST({q(column)} AS VARCHAR), '') AS {q(column)}")

    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {c})' for c, _, _ in checks)} FROM {relation}").fetchone()
    for (condition, column, problem), n_bad in zip(checks, counts):
        if n_bad:
            rows, values = _offending_rows(con, relation, condition, column)
            raise DataValidationError(spec.path, f"{problem} in {n_bad} row(s)", column=column, rows=rows, examples=values)

    duplicate_rows = con.execute(
        f"SELECT count(*) - count(DISTINCT CAST({key} AS VARCHAR)) FROM {relation}"
    ).fetchone()[0] if spec.unique_key or not spec.timestamp_columns else 0  # entity tables only
    if spec.unique_key and duplicate_rows:
        rows, values = _offending_rows(
            con, relation, f"CAST({key} AS VARCHAR) IN (SELECT CAST({key} AS VARCHAR) FROM {relation} "
            f"GROUP BY 1 HAVING count(*) > 1)", spec.entity_key, limit=10,
        )
        raise DataValidationError(
            spec.path, f"{duplicate_rows} duplicate entity key row(s) (set entity.duplicate_keys to keep_first or "
            "keep_last to de-duplicate in bronze)", column=spec.entity_key, rows=rows, examples=values,
        )

    query = f"SELECT {', '.join(typed)} FROM {relation}"
    copy_query_to_parquet(con, query, target)
    out_columns = {name: dtype for name, dtype, *_ in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_path(target)})").fetchall()}
    repairs = []
    for column in numeric:
        if columns[column] == "VARCHAR":
            repairs.append(f"{column}: numbers written as text read as DOUBLE")
    for column in (*spec.timestamp_columns, *spec.date_columns):
        if not _is_tz_aware(columns[column]):
            repairs.append(f"{column}: {columns[column]} values normalised to UTC "
                           f"(values without an offset read as {spec.naive_timezone})")
    if columns[spec.entity_key] != "VARCHAR":
        repairs.append(f"{spec.entity_key}: {columns[spec.entity_key]} keys compared as text")
    span = None
    if spec.timestamp_columns:
        lo, hi = con.execute(
            f"SELECT min({q(spec.timestamp_columns[0])}), max({q(spec.timestamp_columns[0])}) FROM read_parquet({sql_path(target)})"
        ).fetchone()
        span = (lo.isoformat(), hi.isoformat())
    return RawTableReport(rows=n_rows, columns=out_columns, repairs=repairs, duplicate_key_rows=duplicate_rows, time_span=span)
