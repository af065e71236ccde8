"""Model-ready rows: features joined with labels, with the point-in-time columns that prove safety.

Each row carries `feature_timestamp` (no feature saw data after it), `label_timestamp` (when its
label is observed) and `label_available`. Training rows are the cutoff snapshots whose label is
available and whose customer was eligible; scoring rows are the as-of snapshot. Gold is one SQL
statement on the engine; the accepted gold-layer recommendations (drops, hashing) are applied in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from retention_assets.core.columns import (
    ELIGIBLE,
    FEATURE_TIMESTAMP,
    LABEL,
    LABEL_AVAILABLE,
    LABEL_TIMESTAMP,
    NON_FEATURE_COLUMNS,
    ROW_ROLE,
    SCORE,
    TRAIN,
)
from retention_assets.engine.base import Engine, TableInfo
from retention_assets.engine.dialect import Dialect
from retention_assets.features.silver import FanOutError, check_one_to_one

LABEL_PART = (LABEL, LABEL_TIMESTAMP, LABEL_AVAILABLE, ELIGIBLE)  # what gold takes from the labels, in order


def feature_columns(columns: Iterable[str], key: str) -> list[str]:
    """The model features among a gold-shaped table's columns (in table order)."""
    return [c for c in columns if c != key and c not in NON_FEATURE_COLUMNS]


def hash_bucket_of(value: str, buckets: int) -> str:
    """The bucket label of one value, as `Dialect.hash_bucket` computes it in SQL (same on every engine)."""
    return f"bucket_{int(hashlib.md5(value.encode()).hexdigest()[:8], 16) % buckets}"


def training_condition(dialect: Dialect, alias: str = "") -> str:
    """SQL predicate of a training row: a cutoff snapshot with an observed label and an eligible customer."""
    q = dialect.ident
    p = f"{alias}." if alias else ""
    return (f"{p}{q(ROW_ROLE)} = {dialect.string(TRAIN)} AND {p}{q(LABEL_AVAILABLE)} AND {p}{q(ELIGIBLE)} "
            f"AND {p}{q(LABEL)} IS NOT NULL")


def scoring_condition(dialect: Dialect, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return f"{p}{dialect.ident(ROW_ROLE)} = {dialect.string(SCORE)}"


def training_rows_sql(dialect: Dialect, gold: str, columns: Sequence[str] | None = None) -> str:
    """The training rows of a gold relation, in gold order (feature_timestamp, key are the caller's order)."""
    selected = "*" if columns is None else ", ".join(dialect.ident(c) for c in columns)
    return f"SELECT {selected} FROM {gold} WHERE {training_condition(dialect)}"


def scoring_rows_sql(dialect: Dialect, gold: str, columns: Sequence[str] | None = None) -> str:
    selected = "*" if columns is None else ", ".join(dialect.ident(c) for c in columns)
    return f"SELECT {selected} FROM {gold} WHERE {scoring_condition(dialect)}"


@dataclass(frozen=True)
class GoldPlan:
    """The accepted gold-layer recommendations, as column operations (ids kept to mark them applied)."""

    drop: dict[str, str]  # column -> recommendation id
    hash_buckets: dict[str, tuple[int, str]]  # column -> (buckets, recommendation id)
    one_hot: dict[str, str]  # column -> recommendation id (the model pipeline encodes; nothing to do here)

    @classmethod
    def from_recommendations(cls, recs) -> "GoldPlan":
        drop, hashed, one_hot = {}, {}, {}
        for rec in recs:
            if rec.action == "drop_column":
                drop[rec.column] = rec.id
            elif rec.action == "hash_encode":
                hashed[rec.column] = (int(rec.params.get("buckets", 32)), rec.id)
            elif rec.action == "one_hot":
                one_hot[rec.column] = rec.id
        return cls(drop, hashed, one_hot)

    def applied(self, columns: Iterable[str], key: str) -> list[str]:
        """Ids of the entries in force on these columns (entries for absent or protected columns are skipped)."""
        present = set(columns) - {key, *NON_FEATURE_COLUMNS}
        ids = [rid for c, rid in self.drop.items() if c in present]
        ids += [rid for c, (_, rid) in self.hash_buckets.items() if c in present and c not in self.drop]
        ids += [rid for c, rid in self.one_hot.items() if c in present and c not in self.drop]
        return sorted(ids)


def gold_sql(dialect: Dialect, *, silver: str, silver_columns: Sequence[str], labels: str, key: str,
             as_of: datetime, plan: GoldPlan) -> str:
    """Silver joined one-to-one with the labels, each row tagged as a training or scoring row."""
    q = dialect.ident
    protected = {key, *NON_FEATURE_COLUMNS}
    select = []
    for column in silver_columns:
        if column in plan.drop and column not in protected:
            continue
        expr = f"s.{q(column)}"
        if column in plan.hash_buckets and column not in protected:
            buckets = plan.hash_buckets[column][0]
            expr = (f"CASE WHEN {expr} IS NULL THEN NULL ELSE "
                    f"concat('bucket_', {dialect.as_string(dialect.hash_bucket(expr, buckets))}) END")
        select.append(f"{expr} AS {q(column)}")
    is_score = f"(s.{q(FEATURE_TIMESTAMP)} = {dialect.timestamp(as_of)})"
    select += [
        f"l.{q(LABEL)}", f"l.{q(LABEL_TIMESTAMP)}",
        f"(CAST(l.{q(LABEL_AVAILABLE)} AS BOOLEAN) AND NOT {is_score}) AS {q(LABEL_AVAILABLE)}",
        f"CAST(l.{q(ELIGIBLE)} AS BOOLEAN) AS {q(ELIGIBLE)}",
        f"CASE WHEN {is_score} THEN {dialect.string(SCORE)} ELSE {dialect.string(TRAIN)} END AS {q(ROW_ROLE)}",
    ]
    return (f"SELECT {', '.join(select)}\nFROM {silver} s\nLEFT JOIN {labels} l ON l.{q(key)} = s.{q(key)} "
            f"AND l.{q(FEATURE_TIMESTAMP)} = s.{q(FEATURE_TIMESTAMP)}\nORDER BY s.{q(FEATURE_TIMESTAMP)}, s.{q(key)}")


def build_gold(engine: Engine, *, silver_table: str, labels_table: str, key: str, as_of: datetime, recommendations,
               target: str) -> tuple[TableInfo, list[str]]:
    """Write gold; returns its table and the ids of the recommendations it applied.

    The labels must be unique per (key, feature_timestamp) and cover every silver row: a row without
    a label row would silently lose its point-in-time columns.
    """
    d = engine.dialect
    q = d.ident
    silver, labels = engine.relation(silver_table), engine.relation(labels_table)
    silver_columns = list(engine.column_types(silver))
    overlap = set(silver_columns) & set(LABEL_PART)
    if overlap:
        raise FanOutError(f"{labels_table} repeats columns {sorted(overlap)} already in {silver_table}")
    check_one_to_one(engine, labels, [key, FEATURE_TIMESTAMP], labels_table)
    missing = engine.rows(
        f"SELECT s.{q(key)}, s.{q(FEATURE_TIMESTAMP)} FROM {silver} s LEFT JOIN {labels} l ON l.{q(key)} = s.{q(key)} "
        f"AND l.{q(FEATURE_TIMESTAMP)} = s.{q(FEATURE_TIMESTAMP)} WHERE l.{q(LABEL_TIMESTAMP)} IS NULL "
        f"ORDER BY 2, 1 LIMIT 5")
    if missing:
        raise ValueError(f"{labels_table} has no row for {[(k, t.isoformat()) for k, t in missing]}")
    plan = GoldPlan.from_recommendations(recommendations)
    info = engine.write_table(target, gold_sql(d, silver=silver, silver_columns=silver_columns, labels=labels,
                                                key=key, as_of=as_of, plan=plan))
    return info, plan.applied(silver_columns, key)


@dataclass(frozen=True)
class GoldSummary:
    """What a gold table holds, for metadata and the blocking checks."""

    rows_by_role: dict[str, int]
    training_rows: int
    training_churn_rate: float
    training_classes: dict[str, int]  # label value -> training rows
    late_rows: int  # rows whose feature_timestamp is not before their label_timestamp


def gold_summary(engine: Engine, table: str) -> GoldSummary:
    d = engine.dialect
    q = d.ident
    gold = engine.relation(table)
    roles = dict(engine.rows(f"SELECT {q(ROW_ROLE)}, count(*) FROM {gold} GROUP BY 1 ORDER BY 1"))
    classes = dict(engine.rows(f"SELECT {q(LABEL)}, count(*) FROM {gold} WHERE {training_condition(d)} "
                               f"GROUP BY 1 ORDER BY 1"))
    late = engine.scalar(f"SELECT count(*) FROM {gold} WHERE {q(FEATURE_TIMESTAMP)} >= {q(LABEL_TIMESTAMP)}")
    n = sum(classes.values())
    rate = sum(int(k) * v for k, v in classes.items()) / n if n else float("nan")
    return GoldSummary({str(k): int(v) for k, v in roles.items()}, int(n), float(rate),
                       {str(int(k)): int(v) for k, v in classes.items()}, int(late))


def training_sample(engine: Engine, table: str, columns: Sequence[str] | None, max_rows: int, key: str):
    """The training rows of a gold-shaped table as pandas, in table order: all of them, or a seeded sample of
    `max_rows` chosen by the MD5 of (key, feature_timestamp) so every engine picks the same rows."""
    d = engine.dialect
    q = d.ident
    gold = engine.relation(table)
    selected = "*" if columns is None else ", ".join(q(c) for c in columns)
    total = engine.scalar(f"SELECT count(*) FROM {gold} WHERE {training_condition(d)}")
    order = f"ORDER BY {q(FEATURE_TIMESTAMP)}, {q(key)}"
    if total <= max_rows:
        return engine.frame(f"SELECT {selected} FROM {gold} WHERE {training_condition(d)} {order}")
    row_id = f"concat({d.as_string(q(key))}, '|', {d.as_string(q(FEATURE_TIMESTAMP))})"
    chosen = (f"SELECT * FROM {gold} WHERE {training_condition(d)} "
              f"ORDER BY {d.hash_bucket(row_id, 2**31 - 1)}, {q(key)}, {q(FEATURE_TIMESTAMP)} LIMIT {int(max_rows)}")
    return engine.frame(f"SELECT {selected} FROM ({chosen}) s {order}")


def negative_durations(engine: Engine, table: str, columns: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Per "days since" column: training rows with a negative value and the most negative one (exact)."""
    if not columns:
        return {}
    d = engine.dialect
    q = d.ident
    parts = ", ".join(f"count(*) FILTER (WHERE {q(c)} < 0), min({q(c)})" for c in columns)
    row = engine.rows(f"SELECT {parts} FROM {engine.relation(table)} WHERE {training_condition(d)}")[0]
    return {c: (int(row[2 * i]), float(row[2 * i + 1]) if row[2 * i + 1] is not None else 0.0)
            for i, c in enumerate(columns) if row[2 * i]}
