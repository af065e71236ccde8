"""Joining the cleaned entity table with every window's features: one row per customer and snapshot.

Joins are checked one-to-one before they run; a join that would fan out (duplicate keys on either
side) or repeat a column is an error naming the table and a few keys, never a silently larger table.
The join itself is one SQL statement on the engine, written straight to storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from retention_assets.core.columns import FEATURE_TIMESTAMP
from retention_assets.engine.base import Engine, TableInfo


class FanOutError(ValueError):
    """A join that would produce more than one row per customer and snapshot."""


def repeated_keys(engine: Engine, relation: str, keys: Sequence[str], limit: int = 5) -> list[tuple]:
    """A few key combinations that occur more than once in `relation` (none: the keys are unique)."""
    q = engine.dialect.ident
    columns = ", ".join(q(k) for k in keys)
    return engine.rows(f"SELECT {columns} FROM {relation} GROUP BY {columns} HAVING count(*) > 1 "
                       f"ORDER BY {columns} LIMIT {int(limit)}")


def check_one_to_one(engine: Engine, relation: str, keys: Sequence[str], name: str) -> None:
    duplicates = repeated_keys(engine, relation, keys)
    if duplicates:
        raise FanOutError(f"joining {name} on {list(keys)} would fan out: {name} repeats keys "
                          f"{[tuple(d) if len(d) > 1 else d[0] for d in duplicates]}")


def silver_sql(engine: Engine, *, entity: str, entity_columns: list[str], key: str, snapshots: Sequence[datetime],
               inputs: dict[str, tuple[str, list[str]]], date_columns: Sequence[str] = (),
               valid_from: str | None = None) -> str:
    """Entity attributes at every snapshot, then each input's columns, ordered by (feature_timestamp, key).

    `inputs` maps a table name to (its relation, the columns it adds). Date columns become
    `days_since_<column>` as of each row's feature timestamp (the raw dates are dropped: a model
    should see durations, not calendar dates), placed after the feature timestamp. With `valid_from`
    (a time-versioned entity table) each snapshot takes the version valid at it (`versioned_rows_sql`):
    a customer with no version valid yet has no row there, and the valid-from column itself is dropped.
    """
    from retention_assets.features.entity import versioned_rows_sql

    d = engine.dialect
    q = d.ident
    sn = f"{d.snapshot_values(FEATURE_TIMESTAMP, list(snapshots))}"
    dates = set(date_columns)
    select = [f"e.{q(c)}" for c in entity_columns if c not in dates and c != valid_from]
    at = f"e.{q(FEATURE_TIMESTAMP)}" if valid_from else f"sn.{q(FEATURE_TIMESTAMP)}"
    select.append(f"{at} AS {q(FEATURE_TIMESTAMP)}")
    select += [f"{d.days_between(at, f'e.{q(c)}')} AS {q(f'days_since_{c}')}" for c in date_columns]
    source = (f"{versioned_rows_sql(d, entity, key, valid_from, snapshots)} e" if valid_from
              else f"{entity} e CROSS JOIN {sn} sn")
    joins = []
    for i, (relation, columns) in enumerate(inputs.values()):
        alias = f"w{i}"
        select += [f"{alias}.{q(c)}" for c in columns]
        joins.append(f"LEFT JOIN {relation} {alias} ON {alias}.{q(key)} = e.{q(key)} "
                     f"AND {alias}.{q(FEATURE_TIMESTAMP)} = {at}")
    newline = "\n"
    return (f"SELECT {', '.join(select)}\nFROM {source}\n{newline.join(joins)}\n"
            f"ORDER BY {at}, e.{q(key)}")


def build_silver(engine: Engine, *, entity_table: str, key: str, snapshots: Sequence[datetime], inputs: Sequence[str],
                 date_columns: Sequence[str] = (), target: str, valid_from: str | None = None) -> TableInfo:
    """Check every join is one-to-one, then write the joined table `target`. `valid_from`: the entity
    table is time-versioned (one row per key and valid-from time; see `silver_sql`)."""
    entity = engine.relation(entity_table)
    check_one_to_one(engine, entity, [key, valid_from] if valid_from else [key], f"the entity table {entity_table}")
    entity_columns = list(engine.column_types(entity))
    missing = [c for c in [*date_columns, *([valid_from] if valid_from else [])] if c not in entity_columns]
    if missing:
        raise ValueError(f"{entity_table} has no date column(s) {missing}")
    seen = {c for c in entity_columns if c not in date_columns and c != valid_from} | {FEATURE_TIMESTAMP}
    seen |= {f"days_since_{c}" for c in date_columns}
    joined: dict[str, tuple[str, list[str]]] = {}
    for name in inputs:
        relation = engine.relation(name)
        columns = [c for c in engine.column_types(relation) if c not in (key, FEATURE_TIMESTAMP)]
        check_one_to_one(engine, relation, [key, FEATURE_TIMESTAMP], name)
        overlap = seen & set(columns)
        if overlap:
            raise FanOutError(f"{name} repeats columns {sorted(overlap)} already in the joined table")
        seen |= set(columns)
        joined[name] = (relation, columns)
    sql = silver_sql(engine, entity=entity, entity_columns=entity_columns, key=key, snapshots=snapshots,
                     inputs=joined, date_columns=date_columns, valid_from=valid_from)
    return engine.write_table(target, sql)


def column_origins(engine: Engine, *, entity_table: str, key: str, inputs: Sequence[str],
                   date_columns: Sequence[str] = ()) -> dict[str, str]:
    """Each silver (so gold) feature column's source table, as `build_silver` lays them out.

    Entity columns, and the "days since" of entity dates, are attributes as the entity file holds them
    (taken at export); an input's columns (event windows, text windows) are computed per snapshot from
    events at or before it. The leakage probe compares the two kinds (`features.leakage.static_advantage`).
    """
    origin: dict[str, str] = {}
    dates = set(date_columns)
    for column in engine.column_types(engine.relation(entity_table)):
        if column != key:
            origin[f"days_since_{column}" if column in dates else column] = entity_table
    for name in inputs:
        for column in engine.column_types(engine.relation(name)):
            if column not in (key, FEATURE_TIMESTAMP):
                origin[column] = name
    return origin
