"""Cleaning the entity table as SQL: duplicate policy, type fixes, outlier capping and imputation.

One statistics query (fences, medians, counts) over the de-duplicated rows, then one write of the
cleaned table: nothing row-sized passes through Python, so the layer runs out of core, and every
engine-specific piece goes through the engine's dialect. Every repair is counted and returned in a
report so the asset can show exactly what changed. Statistics come from the entity table itself;
they describe static attributes and never involve the label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from retention_assets.core.columns import SOURCE_ROW
from retention_assets.core.errors import DataValidationError
from retention_assets.engine.base import NUMERIC_KINDS, TIMESTAMP_KINDS, ColumnKind, Engine, TableInfo
from retention_assets.engine.dialect import Dialect

DuplicatePolicy = Literal["error", "keep_first", "keep_last"]
MISSING_CATEGORY = "missing"
# Target vocabularies, compared after trimming and lower-casing (tuples: the generated SQL is stable).
_TRUE = ("1", "1.0", "true", "t", "yes", "y", "churned")
_FALSE = ("0", "0.0", "false", "f", "no", "n", "retained", "active")
MAX_EXAMPLES = 5


@dataclass
class EntityCleaningReport:
    duplicates_dropped: int = 0
    caps: dict[str, dict] = field(default_factory=dict)
    imputations: dict[str, dict] = field(default_factory=dict)
    type_fixes: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # recommendation ids that changed something
    table: TableInfo | None = None  # the written table (rows, schema, location), for metadata

    def to_dict(self) -> dict:
        return {
            "duplicates_dropped": self.duplicates_dropped,
            "dropped": self.dropped,
            "applied": self.applied,
            "caps": self.caps,
            "imputations": self.imputations,
            "type_fixes": self.type_fixes,
        }


@dataclass
class CleaningPlan:
    """Exactly what bronze_entity does to each column, built from accepted recommendations."""

    drop: list[str] = field(default_factory=list)
    cap_iqr: dict[str, float] = field(default_factory=dict)  # column -> fence multiplier
    impute_median: list[str] = field(default_factory=list)
    impute_constant: dict[str, str] = field(default_factory=dict)  # column -> fill value
    sources: dict[str, str] = field(default_factory=dict)  # "<action>:<column>" -> recommendation id

    @classmethod
    def from_recommendations(cls, recs) -> CleaningPlan:
        plan = cls()
        for rec in recs:
            if rec.action == "drop_column":
                plan.drop.append(rec.column)
            elif rec.action == "cap_iqr":
                plan.cap_iqr[rec.column] = float(rec.params.get("multiplier", 3.0))
            elif rec.action == "impute_median":
                plan.impute_median.append(rec.column)
            elif rec.action == "impute_constant":
                plan.impute_constant[rec.column] = str(rec.params.get("value", MISSING_CATEGORY))
            else:
                continue
            plan.sources[f"{rec.action}:{rec.column}"] = rec.id
        return plan

    @classmethod
    def default_for(cls, kinds: Mapping[str, ColumnKind], key: str, multiplier: float = 3.0) -> CleaningPlan:
        """Cap and impute every numeric column, fill every text column (used without a registry).
        `kinds` is `engine.column_kinds(relation)`."""
        plan = cls()
        for column, kind in kinds.items():
            if column in (key, SOURCE_ROW) or kind in TIMESTAMP_KINDS:
                continue
            if kind in NUMERIC_KINDS:
                plan.cap_iqr[column] = multiplier
                plan.impute_median.append(column)
            else:
                plan.impute_constant[column] = MISSING_CATEGORY
        return plan


# --------------------------------------------------------------------------------------------------
# the duplicate policy and the target column (shared with the labels layer)


def deduplicated_sql(dialect: Dialect, relation: str, key: str, policy: DuplicatePolicy,
                     order_by: str | None) -> str:
    """One row per key as a relation: the first or last by `order_by` (missing values first, ties in
    file order), else by file order. `error` keeps every row: the raw layer has rejected duplicates.

    Only (key, order, row number) go through the window; whole rows are joined back by row number,
    so ranking never carries the wide table."""
    if policy == "error":
        return f"(SELECT * FROM {relation} r)"
    if policy not in ("keep_first", "keep_last"):
        raise ValueError(f"unknown duplicate policy {policy!r} (error, keep_first or keep_last)")
    q = dialect.ident
    row = q(SOURCE_ROW)
    if policy == "keep_first":
        order = ([f"{q(order_by)} ASC NULLS FIRST"] if order_by else []) + [f"{row} ASC"]
    else:  # the last of the same stable order
        order = ([f"{q(order_by)} DESC NULLS LAST"] if order_by else []) + [f"{row} DESC"]
    ranked = (f"SELECT {row} AS kept_row, row_number() OVER (PARTITION BY {q(key)} ORDER BY {', '.join(order)}) "
              f"AS key_rank FROM {relation} r")
    return (f"(SELECT r.* FROM {relation} r JOIN (SELECT kept_row FROM ({ranked}) ranked WHERE key_rank = 1) kept "
            f"ON r.{row} = kept.kept_row)")


def versioned_rows_sql(dialect: Dialect, relation: str, key: str, valid_from: str, snapshots: Sequence[datetime],
                       shift_hours: int = 0) -> str:
    """A time-versioned entity relation as of each snapshot (an as-of join): per (key, snapshot) the row with
    the latest `valid_from` at or before the snapshot (+ `shift_hours`), never a later one, with the snapshot
    as FEATURE_TIMESTAMP. A key with no row valid yet has no row at that snapshot. (key, valid_from) is
    unique (the raw layer rejects repeats), so the join back is one-to-one; only (key, valid_from) go
    through the aggregate, never the wide rows."""
    from retention_assets.core.columns import FEATURE_TIMESTAMP

    q = dialect.ident
    k, vf, ft = q(key), q(valid_from), q(FEATURE_TIMESTAMP)
    bound = f"sn.{ft}" if not shift_hours else dialect.plus_hours(f"sn.{ft}", shift_hours)
    latest = (f"SELECT r.{k} AS __key, sn.{ft} AS __at, max(r.{vf}) AS __valid_from FROM {relation} r "
              f"JOIN {dialect.snapshot_values(FEATURE_TIMESTAMP, list(snapshots))} sn ON r.{vf} <= {bound} "
              f"GROUP BY r.{k}, sn.{ft}")
    return (f"(SELECT r.*, v.__at AS {ft} FROM {relation} r JOIN ({latest}) v "
            f"ON r.{k} = v.__key AND r.{vf} = v.__valid_from)")


def binary_target_sql(dialect: Dialect, expr: str) -> str:
    """A 0/1 target from booleans, numbers or yes/no words (after trim and lower-case); NULL for a
    missing value and for anything else (`check_binary_target` turns the latter into an error)."""
    text = f"lower({dialect.strip_whitespace(dialect.as_string(expr))})"
    true, false = (", ".join(dialect.string(word) for word in words) for words in (_TRUE, _FALSE))
    return f"(CASE WHEN {text} IN ({true}) THEN 1 WHEN {text} IN ({false}) THEN 0 END)"


def check_binary_target(engine: Engine, relation: str, column: str, source_path: str | Path) -> None:
    """Raise `DataValidationError` naming the file rows (`SOURCE_ROW`) whose target is neither 0/1,
    true/false nor yes/no: a value we cannot read is an error, never a guess."""
    q = engine.dialect.ident
    value = f"r.{q(column)}"
    bad = f"{value} IS NOT NULL AND {binary_target_sql(engine.dialect, value)} IS NULL"
    n_bad = int(engine.scalar(f"SELECT count(*) FROM {relation} r WHERE {bad}"))
    if n_bad:
        shown = engine.rows(f"SELECT r.{q(SOURCE_ROW)}, {value} FROM {relation} r WHERE {bad} "
                            f"ORDER BY r.{q(SOURCE_ROW)} LIMIT {MAX_EXAMPLES}")
        raise DataValidationError(
            source_path, f"the target must be 0/1, true/false or yes/no ({n_bad} row(s) hold something else)",
            column=column, rows=[int(r) for r, _ in shown], examples=[v for _, v in shown],
        )


def check_target_classes(engine: Engine, relation: str, column: str, source_path: str | Path,
                         min_class_rows: int) -> dict[str, int]:
    """Raise `DataValidationError` with the class counts when the target cannot train a model: every
    value empty, a single class, or fewer than `min_class_rows` rows of either class. Returns the
    counts ({"churned": n, "retained": n, "empty": n})."""
    target = binary_target_sql(engine.dialect, f"r.{engine.dialect.ident(column)}")
    churned, retained, empty = engine.rows(
        f"SELECT count(*) FILTER (WHERE {target} = 1), count(*) FILTER (WHERE {target} = 0), "
        f"count(*) FILTER (WHERE {target} IS NULL) FROM {relation} r")[0]
    counts = {"churned": int(churned), "retained": int(retained), "empty": int(empty)}
    shown = f"{counts['churned']:,} churned, {counts['retained']:,} retained, {counts['empty']:,} empty"
    if not counts["churned"] and not counts["retained"]:
        problem = f"every value of the target is empty ({counts['empty']:,} rows): there is nothing to learn from"
    elif not counts["churned"] or not counts["retained"]:
        problem = f"the target holds a single class ({shown}): a churn model needs churned and retained customers"
    elif min(counts["churned"], counts["retained"]) < min_class_rows:
        problem = (f"the target has too few rows of one class ({shown}; at least {min_class_rows} of each, "
                   "label.min_class_rows)")
    else:
        return counts
    raise DataValidationError(source_path, problem, column=column)


# --------------------------------------------------------------------------------------------------
# what happens to each column


@dataclass(frozen=True)
class ColumnCleaning:
    """One output column and how it is made: kept as it is, cleaned as a number, or cleaned as text."""

    name: str
    kind: ColumnKind
    treatment: Literal["keep", "number", "text"]
    multiplier: float | None = None  # number: capped at the IQR fences with this multiplier
    impute_median: bool = False  # number: missing values get the median and a `_was_missing` flag
    fill: str | None = None  # text: missing values get this constant


def column_cleanings(kinds: Mapping[str, ColumnKind], key: str, plan: CleaningPlan, passthrough: Iterable[str],
                     dropped: Iterable[str]) -> list[ColumnCleaning]:
    """The output columns in input order. Booleans are text here (as pandas dtypes made them)."""
    out, skip, keep = [], {SOURCE_ROW, *dropped}, {key, *passthrough}
    for name, kind in kinds.items():
        if name in skip:
            continue
        if name in keep or kind in TIMESTAMP_KINDS:
            out.append(ColumnCleaning(name, kind, "keep"))
        elif kind in NUMERIC_KINDS:
            out.append(ColumnCleaning(name, kind, "number", plan.cap_iqr.get(name), name in plan.impute_median))
        else:
            out.append(ColumnCleaning(name, kind, "text", fill=plan.impute_constant.get(name)))
    return out


def _number(dialect: Dialect, expr: str, kind: ColumnKind) -> str:
    value = dialect.as_double(expr)
    return dialect.nan_as_null(value) if kind == "float" else value


def _text(dialect: Dialect, expr: str, kind: ColumnKind) -> str:
    """A value as text the way pandas' `astype("string")` writes it (booleans as True/False)."""
    if kind == "string":
        return expr
    if kind == "boolean":
        return f"(CASE WHEN {expr} THEN 'True' WHEN NOT {expr} THEN 'False' END)"
    return dialect.as_string(expr)


def _double(dialect: Dialect, value: float) -> str:
    """A DOUBLE literal parsed from its shortest repr (exact on every engine, unlike a DECIMAL literal)."""
    return dialect.as_double(dialect.string(repr(float(value))))


def _prepared_sql(dialect: Dialect, deduped: str, columns: list[ColumnCleaning]) -> str:
    """Each column once in its working form: `v<i>` the value (DOUBLE for numbers, the trimmed and
    lower-cased text for text), `t<i>` the text as it was; plus the file row."""
    q = dialect.ident
    items = [f"d.{q(SOURCE_ROW)} AS file_row"]
    for i, column in enumerate(columns):
        expr = f"d.{q(column.name)}"
        if column.treatment == "number":
            items.append(f"{_number(dialect, expr, column.kind)} AS v{i}")
        elif column.treatment == "text":
            text = _text(dialect, expr, column.kind)
            items += [f"lower({dialect.strip_whitespace(text)}) AS v{i}", f"{text} AS t{i}"]
        else:
            items.append(f"{expr} AS v{i}")
    return f"(SELECT {', '.join(items)} FROM {deduped} d)"


def _capped(value: str, lower: str, upper: str) -> str:
    # CASE, not greatest/least: those skip NULLs on some engines and would fill missing values.
    return f"(CASE WHEN {value} < {lower} THEN {lower} WHEN {value} > {upper} THEN {upper} ELSE {value} END)"


def _blank(value: str) -> str:
    return f"({value} IS NULL OR {value} = '')"


# --------------------------------------------------------------------------------------------------
# statistics


@dataclass(frozen=True)
class ColumnStatistics:
    """What the cleaning of one column needs and reports."""

    missing: int = 0  # numbers: missing; text: missing or blank after trimming
    fences: tuple[float, float] | None = None
    capped: int = 0
    median: float | None = None  # after capping; None when every value is missing
    changed: int = 0  # text values that trimming or lower-casing changed


@dataclass(frozen=True)
class CleaningStatistics:
    rows_in: int
    rows: int  # after the duplicate policy
    columns: dict[str, ColumnStatistics]


def _fences_cte(dialect: Dialect, capped: list[tuple[int, ColumnCleaning]]) -> str:
    """`f`: Tukey's fences `lo_<i>`, `hi_<i>` of each capped column, from numpy-style quartiles."""
    quartiles = ", ".join(f"{dialect.quantile(f'p.v{i}', 0.25)} AS q1_{i}, "
                          f"{dialect.quantile(f'p.v{i}', 0.75)} AS q3_{i}" for i, _ in capped)
    fences = []
    for i, column in capped:
        m = _double(dialect, column.multiplier)
        iqr = f"(q.q3_{i} - q.q1_{i})"
        fences += [f"q.q1_{i} - {m} * {iqr} AS lo_{i}", f"q.q3_{i} + {m} * {iqr} AS hi_{i}"]
    return f"f AS (SELECT {', '.join(fences)} FROM (SELECT {quartiles} FROM p) q)"


def statistics_sql(dialect: Dialect, relation: str, deduped: str, columns: list[ColumnCleaning]) -> str:
    """One row: the row counts and, per column, the aliases `ColumnStatistics` is read from
    (`s_<field>_<i>`). Fences and medians are over the de-duplicated rows."""
    capped = [(i, c) for i, c in enumerate(columns) if c.treatment == "number" and c.multiplier is not None]
    ctes = [f"p AS {_prepared_sql(dialect, deduped, columns)}", f"src AS (SELECT count(*) AS n FROM {relation} r)"]
    sources = "p CROSS JOIN src"
    if capped:
        ctes.append(_fences_cte(dialect, capped))
        sources += " CROSS JOIN f"
    items = ["min(src.n) AS rows_in", "count(*) AS rows_out"]
    for i, column in enumerate(columns):
        v = f"p.v{i}"
        if column.treatment == "number":
            items.append(f"count(*) - count({v}) AS s_missing_{i}")
            if column.multiplier is not None:
                lo, hi = f"f.lo_{i}", f"f.hi_{i}"
                items += [f"min({lo}) AS s_lower_{i}", f"min({hi}) AS s_upper_{i}",
                          f"count(*) FILTER (WHERE {v} < {lo} OR {v} > {hi}) AS s_capped_{i}"]
                v = _capped(v, lo, hi)
            if column.impute_median:
                items.append(f"{dialect.quantile(v, 0.5)} AS s_median_{i}")
        elif column.treatment == "text":
            items += [f"count(*) FILTER (WHERE {_blank(v)}) AS s_missing_{i}",
                      f"count(*) FILTER (WHERE p.t{i} IS NOT NULL AND {v} <> p.t{i}) AS s_changed_{i}"]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(items)} FROM {sources}"


def _read_statistics(values: Mapping[str, object], columns: list[ColumnCleaning]) -> CleaningStatistics:
    def get(name: str, i: int, default=None):
        value = values.get(f"s_{name}_{i}")
        return default if value is None else value

    stats = {}
    for i, column in enumerate(columns):
        if column.treatment == "keep":
            continue
        lower, upper = get("lower", i), get("upper", i)
        median = get("median", i)
        stats[column.name] = ColumnStatistics(
            missing=int(get("missing", i, 0)),
            fences=(float(lower), float(upper)) if lower is not None else None,
            capped=int(get("capped", i, 0)),
            median=float(median) if median is not None else None,
            changed=int(get("changed", i, 0)),
        )
    return CleaningStatistics(int(values.get("rows_in") or 0), int(values.get("rows_out") or 0), stats)


def compute_statistics(engine: Engine, relation: str, deduped: str,
                       columns: list[ColumnCleaning]) -> CleaningStatistics:
    table = engine.query(statistics_sql(engine.dialect, relation, deduped, columns))
    return _read_statistics(table.to_pylist()[0], columns)


# --------------------------------------------------------------------------------------------------
# the cleaned table


def _median_fill(stats: ColumnStatistics) -> float:
    return stats.median if stats.median is not None else 0.0  # every value missing: nothing to take a median of


def cleaned_sql(dialect: Dialect, deduped: str, columns: list[ColumnCleaning], stats: CleaningStatistics) -> str:
    """The cleaned rows in file order, with the statistics written in as literals: `_was_missing`
    flags (0/1 DOUBLE) follow the columns, for median-imputed columns that had missing values."""
    q = dialect.ident
    items, flags = [], []
    for i, column in enumerate(columns):
        v, name = f"p.v{i}", q(column.name)
        s = stats.columns.get(column.name)
        if column.treatment == "number":
            value = v if s.fences is None else _capped(v, *(_double(dialect, f) for f in s.fences))
            if column.impute_median and s.missing:
                value = f"coalesce({value}, {_double(dialect, _median_fill(s))})"
                flags.append(f"(CASE WHEN {v} IS NULL THEN {_double(dialect, 1.0)} ELSE {_double(dialect, 0.0)} END) "
                             f"AS {q(column.name + '_was_missing')}")
            items.append(f"{value} AS {name}")
        elif column.treatment == "text":
            fill = (dialect.string(column.fill) if column.fill is not None and s.missing
                    else f"CAST(NULL AS {dialect.string_type})")
            items.append(f"(CASE WHEN {_blank(v)} THEN {fill} ELSE {v} END) AS {name}")
        else:
            items.append(f"{v} AS {name}")
    return f"SELECT {', '.join([*items, *flags])} FROM {_prepared_sql(dialect, deduped, columns)} p ORDER BY p.file_row"


def _report(columns: list[ColumnCleaning], stats: CleaningStatistics) -> EntityCleaningReport:
    report = EntityCleaningReport(duplicates_dropped=stats.rows_in - stats.rows)
    for column in columns:
        s = stats.columns.get(column.name)
        if column.treatment == "number":
            if s.fences is not None:
                report.caps[column.name] = {"lower": s.fences[0], "upper": s.fences[1], "n_capped": s.capped}
            if column.impute_median and s.missing:
                report.imputations[column.name] = {"strategy": "median", "value": _median_fill(s),
                                                   "n_filled": s.missing}
        elif column.treatment == "text":
            if s.changed:
                report.type_fixes[f"{column.name}: trimmed/lower-cased"] = s.changed
            if column.fill is not None and s.missing:
                report.imputations[column.name] = {"strategy": "constant", "value": column.fill, "n_filled": s.missing}
    return report


def clean_entity_table(
    engine: Engine,
    *,
    relation: str,
    key: str,
    plan: CleaningPlan,
    target: str,
    duplicate_policy: DuplicatePolicy = "error",
    order_by: str | None = None,
    passthrough: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
) -> EntityCleaningReport:
    """Clean a raw entity table (typed by the raw layer, with `SOURCE_ROW`) into `target`, doing
    exactly what `plan` says, and report every repair.

    Duplicate keys follow `duplicate_policy` (see `deduplicated_sql`). `drop` removes columns the
    plan cannot see (label-only, excluded by review); the plan's own drops are reported. Always (type
    fixes): text is trimmed and lower-cased, blanks become missing. Per plan: numeric columns (as
    DOUBLE) are capped at their IQR fences and median-imputed with a `<column>_was_missing` flag;
    constant-imputed text columns get their fill value. Columns the plan does not mention keep their
    missing values (the model's own pipeline imputes them); the key, timestamps and `passthrough`
    columns are left as they are. Rows keep file order; `SOURCE_ROW` is not written.
    """
    kinds = engine.column_kinds(relation)
    for required in (key, SOURCE_ROW):
        if required not in kinds:
            raise ValueError(f"clean_entity_table: the relation has no column {required!r} (it has {', '.join(kinds)})")
    present = {c: k for c, k in kinds.items() if c != SOURCE_ROW and (c not in drop or c == key)}
    planned_drops = [c for c in plan.drop if c in present and c != key]
    columns = column_cleanings(present, key, plan, passthrough, planned_drops)
    deduped = deduplicated_sql(engine.dialect, relation, key, duplicate_policy, order_by)
    stats = compute_statistics(engine, relation, deduped, columns)
    table = engine.write_table(target, cleaned_sql(engine.dialect, deduped, columns, stats))
    report = _report(columns, stats)
    report.dropped, report.table = planned_drops, table
    # Every accepted entry whose column exists was in force, even where it had nothing to change.
    report.applied = sorted(rec_id for k, rec_id in plan.sources.items() if k.split(":", 1)[1] in present)
    return report
