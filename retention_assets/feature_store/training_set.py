"""The training set as a point-in-time (as-of) join on the engine, with Feast's semantics.

For each entity row (customer, cutoff, label) the feature row of the same customer with the latest
`feature_timestamp` at or before the row's own timestamp is taken (the view has no TTL, so any
earlier row qualifies); a row with no such feature row keeps null features instead of vanishing.
That is exactly what Feast's `get_historical_features` computes; running it as SQL keeps it out of
core at a million customers, and the `training_set` asset's blocking check proves the two agree on
a seeded sample of rows by asking Feast itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from retention_assets.core.columns import FEATURE_TIMESTAMP
from retention_assets.engine.base import Engine, TableInfo
from retention_assets.engine.dialect import Dialect

MATCHED = "__feature_timestamp"


def point_in_time_sql(dialect: Dialect, *, entity_rows: str, entity_columns: Sequence[str], features: str,
                      feature_columns: Sequence[str], key: str, order: Sequence[str]) -> str:
    """Entity rows with each feature as of the row's own feature_timestamp.

    `entity_rows` holds the key, `feature_timestamp` and pass-through columns (labels); `features` is
    the feature source (key, feature_timestamp, features). The output has the columns in `order`
    (each from the entity rows or the features) and is ordered by (feature_timestamp, key). The
    latest matching timestamp is found on the two narrow key columns first, so the wide feature rows
    are joined once, by equality.
    """
    q = dialect.ident
    ts = q(FEATURE_TIMESTAMP)
    entity_set, feature_set = set(entity_columns), set(feature_columns)
    unknown = [c for c in order if c not in entity_set and c not in feature_set]
    if unknown:
        raise ValueError(f"point-in-time join: columns {unknown} are neither entity-row nor feature columns")
    select = [f"e.{q(c)}" if c in entity_set else f"f.{q(c)}" for c in order]
    return f"""
WITH m AS (
  SELECT e.{q(key)}, e.{ts}, max(k.{ts}) AS {q(MATCHED)}
  FROM (SELECT {q(key)}, {ts} FROM {entity_rows}) e
  JOIN (SELECT {q(key)}, {ts} FROM {features}) k ON k.{q(key)} = e.{q(key)} AND k.{ts} <= e.{ts}
  GROUP BY e.{q(key)}, e.{ts}
)
SELECT {', '.join(select)}
FROM {entity_rows} e
LEFT JOIN m ON m.{q(key)} = e.{q(key)} AND m.{ts} = e.{ts}
LEFT JOIN {features} f ON f.{q(key)} = e.{q(key)} AND f.{ts} = m.{q(MATCHED)}
ORDER BY e.{ts}, e.{q(key)}
"""


def build_training_set(engine: Engine, *, gold_table: str, source: str, key: str, target: str) -> TableInfo:
    """The training set: gold's training rows (key, cutoff, labels) with their features read as of each row's
    own cutoff from the feature store's offline source (`source`, a relation), in gold's column order."""
    from retention_assets.core.columns import NON_FEATURE_COLUMNS
    from retention_assets.features.gold import feature_columns, training_rows_sql

    d = engine.dialect
    gold = engine.relation(gold_table)
    columns = list(engine.column_types(gold))
    features = feature_columns(columns, key)
    entity_columns = [c for c in columns if c == key or c in NON_FEATURE_COLUMNS]
    entity_rows = f"({training_rows_sql(d, gold, entity_columns)})"
    sql = point_in_time_sql(d, entity_rows=entity_rows, entity_columns=entity_columns, features=source,
                            feature_columns=features, key=key, order=columns)
    return engine.write_table(target, sql)


def read_training_rows(engine: Engine, table: str, key: str, max_rows: int) -> pd.DataFrame:
    """The training set as pandas for fitting: every row, or a seeded sample of `max_rows` (same on every engine)."""
    from retention_assets.features.gold import training_sample

    return training_sample(engine, table, None, max_rows, key)


def read_rows_at(engine: Engine, table: str, key: str, at: pd.DataFrame,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of `table` at the given (key, feature_timestamp) pairs, in the order of `at`."""
    q = engine.dialect.ident
    ordered = at[[key, FEATURE_TIMESTAMP]].assign(__order=range(len(at)))
    selected = "t.*" if columns is None else ", ".join(f"t.{q(c)}" for c in columns)
    with engine.registered("__rows_at", ordered) as wanted:
        found = engine.frame(
            f"SELECT {selected}, w.__order FROM {engine.relation(table)} t JOIN {wanted} w ON t.{q(key)} = w.{q(key)} "
            f"AND t.{q(FEATURE_TIMESTAMP)} = w.{q(FEATURE_TIMESTAMP)} ORDER BY w.__order")
    if len(found) != len(at):
        raise LookupError(f"{table} holds {len(found)} of the {len(at)} rows asked for: it changed since they were read")
    return found.drop(columns=["__order"]).reset_index(drop=True)


@dataclass(frozen=True)
class FeastVerification:
    """The training set against Feast's get_historical_features on a seeded sample of its rows."""

    rows_checked: int
    total_rows: int
    features_checked: int
    differing_columns: list[str]

    @property
    def passed(self) -> bool:
        return not self.differing_columns

    def describe(self) -> str:
        if self.passed:
            return (f"{self.rows_checked} of {self.total_rows} training rows x {self.features_checked} features "
                    "equal Feast's get_historical_features")
        return (f"Feast's get_historical_features differs from the training set in {len(self.differing_columns)} "
                f"column(s): {', '.join(self.differing_columns[:10])}")


def verify_against_feast(config, engine: Engine, table: str, key: str, rows: int) -> FeastVerification:
    """Ask Feast for a seeded sample of the training rows and compare value for value (types included).

    Feast answers from a scratch copy of the published view whose source holds only the sampled
    customers' feature rows (`repository.restricted_view`): a row's point-in-time answer depends on
    its own customer's rows alone, and Feast's file offline store reads its whole source into
    memory (14 GiB at a million customers), so the sample bounds the check's memory and time.
    """
    from retention_assets.core.columns import NON_FEATURE_COLUMNS
    from retention_assets.feature_store.repository import historical_features, restricted_view
    from retention_assets.features.gold import feature_columns, training_sample

    total = int(engine.scalar(f"SELECT count(*) FROM {engine.relation(table)}"))
    expected = training_sample(engine, table, None, rows, key)
    features = feature_columns(expected.columns, key)
    entity_rows = expected[[c for c in expected.columns if c == key or c in NON_FEATURE_COLUMNS]]
    with restricted_view(config, engine, key, sorted(set(expected[key].astype(str)))) as scratch:
        served = historical_features(scratch, entity_rows, key, FEATURE_TIMESTAMP, features)
    # Entity-row columns are passed through by Feast as sent; the features are what it joined.
    differing = [c for c in features
                 if not (served[c].dtype == expected[c].dtype and served[c].reset_index(drop=True).equals(
                     expected[c].reset_index(drop=True)))]
    return FeastVerification(len(expected), total, len(features), differing)


def cutoff_rates(engine: Engine, table: str) -> list[tuple[str, int, float]]:
    """(cutoff, rows, churn rate) of a training set, oldest first."""
    from retention_assets.core.columns import LABEL

    q = engine.dialect.ident
    rows = engine.rows(f"SELECT {q(FEATURE_TIMESTAMP)}, count(*), avg({q(LABEL)}) FROM {engine.relation(table)} "
                       f"GROUP BY 1 ORDER BY 1")
    return [(t.isoformat(), int(n), float(r)) for t, n, r in rows]


def population_summary(engine: Engine, gold_table: str, training_table: str, key: str) -> dict:
    """The training population and its size: rows and churn rate per cutoff, distinct customers, and the
    customers with an observed label that the population rules (active_within_days, signup) left out."""
    from retention_assets.core.columns import ELIGIBLE, LABEL, LABEL_AVAILABLE, ROW_ROLE, TRAIN

    d = engine.dialect
    q = d.ident
    ts = q(FEATURE_TIMESTAMP)
    training = engine.relation(training_table)
    per_cutoff = engine.rows(f"SELECT {d.as_string(ts)}, count(*), avg({q(LABEL)}) FROM {training} GROUP BY 1 ORDER BY 1")
    customers, rate = engine.rows(f"SELECT count(DISTINCT {q(key)}), avg({q(LABEL)}) FROM {training}")[0]
    left_out = engine.rows(
        f"SELECT {d.as_string(ts)}, count(*) FROM {engine.relation(gold_table)} WHERE {q(ROW_ROLE)} = {d.string(TRAIN)} "
        f"AND {q(LABEL_AVAILABLE)} AND NOT coalesce({q(ELIGIBLE)}, FALSE) GROUP BY 1 ORDER BY 1")
    return {"rows_by_cutoff": {str(c): int(n) for c, n, _ in per_cutoff},
            "churn_rate_by_cutoff": {str(c): round(float(r), 4) for c, _, r in per_cutoff},
            "customers": int(customers or 0), "churn_rate": round(float(rate), 4) if rate is not None else None,
            "left_out_by_population_rules": {str(c): int(n) for c, n in left_out}}


def describe_population(population: dict, rules: str) -> str:
    """One line for logs and the run summary."""
    rows = population.get("rows_by_cutoff", {})
    cutoffs = ", ".join(f"{c[:10]}: {n}" for c, n in rows.items())
    left = sum(population.get("left_out_by_population_rules", {}).values())
    rate = population.get("churn_rate")
    return (f"{sum(rows.values())} rows of {population.get('customers', 0)} customers (by cutoff {cutoffs}), churn "
            f"rate {rate if rate is None else f'{rate:.3f}'}; {left} customer-cutoffs left out by {rules}")
