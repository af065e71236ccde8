"""Applying the champion to customers: a probability, a risk tier and the top SHAP reasons per customer.

`score_rows` is the one scoring function: batch scores stream the scoring rows of gold through it
in batches (`score_offline`, in worker processes when there are many), serving passes it the rows it
read from the online store. SHAP values and probabilities of a row depend on that row alone, so
batching and the order in which batches are scored change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention_assets.core.columns import (
    ACTIVE,
    ELIGIBLE,
    FEATURE_TIMESTAMP,
    INACTIVE_TIER,
    MODEL_VERSION,
    PROBABILITY,
    REASONS,
    RISK_TIER,
    TOP_REASONS,
)
from retention_assets.engine.base import Engine, TableInfo
from retention_assets.model.training import TrainedModel, risk_tier

if TYPE_CHECKING:
    import pyarrow as pa

SCORE_BATCH_ROWS = 50_000
PARALLEL_FROM_ROWS = 100_000  # below this, starting worker processes costs more than it saves


def score_customers(model: TrainedModel, rows: pd.DataFrame, key: str, bounds: dict[str, float]) -> pd.DataFrame:
    """One row per customer: probability, tier, whether they were active at the as-of time.

    Customers who would not have been training rows at the as-of time (not yet signed up, or
    already inactive) still get a probability, but their tier is "inactive": the model was not
    trained on people like them and there is nobody left to retain.
    """
    proba = model.predict_proba(rows)
    active = rows[ELIGIBLE].to_numpy().astype(bool)
    tiers = risk_tier(proba, bounds.get("medium", 0.2), bounds.get("high", 0.5))
    return pd.DataFrame({
        key: rows[key].to_numpy(),
        FEATURE_TIMESTAMP: rows[FEATURE_TIMESTAMP].to_numpy(),
        PROBABILITY: proba,
        RISK_TIER: pd.Series(tiers).where(active, INACTIVE_TIER).to_numpy(),
        "predicted_churn": proba >= model.threshold,
        ACTIVE: active,
        "model_name": model.model_name,
    })


def score_rows(serving, rows: pd.DataFrame, key: str, bounds: dict[str, float], reasons: int = 3) -> pd.DataFrame:
    """Scores and top reasons of `rows` (the serving features, key, feature_timestamp, eligible) by a
    `ServingModel`, most likely churners first (ties by key).

    Reasons are explained for active customers only: an inactive customer is nobody a retention team
    can call, and SHAP is most of scoring's cost (their reasons are empty).
    """
    from retention_assets.model.explain import shap_contributions
    from retention_assets.model.reasons import Glossary, explain_rows, reasons_records, reasons_text

    rows = rows.reset_index(drop=True)
    rows[ELIGIBLE] = rows[ELIGIBLE].astype(bool)
    scores = score_customers(serving.model, rows, key, bounds)
    explained = rows[ELIGIBLE].to_numpy()
    texts = np.full(len(rows), "", dtype=object)
    structured = np.empty(len(rows), dtype=object)
    structured[:] = [[] for _ in range(len(rows))]
    if explained.any():
        active_rows = rows.loc[explained]
        model = serving.model
        glossary = serving.glossary or Glossary.of_columns(model.feature_columns, model.categorical_columns)
        per_row = explain_rows(shap_contributions(serving.model, active_rows, serving.background), active_rows,
                               glossary, k=reasons)
        for position, row_reasons in zip(np.flatnonzero(explained), per_row):
            texts[position] = reasons_text(row_reasons)
            structured[position] = reasons_records(row_reasons)
    scores[TOP_REASONS] = texts
    scores[REASONS] = structured
    scores[MODEL_VERSION] = serving.version
    return scores.sort_values([PROBABILITY, key], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def scoring_workers(rows: int) -> int:
    """Worker processes for batch scoring: one per core from PARALLEL_FROM_ROWS rows on."""
    from retention_assets.core.processes import available_cores

    cores = available_cores()
    return cores if rows >= PARALLEL_FROM_ROWS and cores > 1 else 1


_WORKER: dict = {}


def _start_worker(serving, key: str, bounds: dict[str, float]) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # one core per worker: the workers are the parallelism
    _WORKER.update(serving=serving, key=key, bounds=bounds)


def _score_in_worker(batch: pd.DataFrame) -> pd.DataFrame:
    return score_rows(_WORKER["serving"], batch, _WORKER["key"], _WORKER["bounds"])


def score_offline(engine: Engine, serving, *, gold_table: str, key: str, bounds: dict[str, float], target: str,
                  batch_rows: int = SCORE_BATCH_ROWS, workers: int | None = None) -> TableInfo:
    """Score every scoring row of gold, batch by batch, reading only the features the model depends on;
    the result is written sorted, most likely churners first (ties by key).

    On an engine that maps in parallel (Spark) the engine runs `score_rows` on its executors; otherwise,
    from PARALLEL_FROM_ROWS rows on, batches are scored in one worker process per core (`workers`
    overrides). The rows and their scores are the same either way.
    """
    from threadpoolctl import threadpool_limits

    from retention_assets.core.processes import map_in_processes
    from retention_assets.features.gold import scoring_rows_sql

    d = engine.dialect
    q = d.ident
    columns = [key, FEATURE_TIMESTAMP, ELIGIBLE, *serving.model.serving_features]
    relation = scoring_rows_sql(d, engine.relation(gold_table), columns)
    sql = f"{relation} ORDER BY {q(key)}"
    staging = f"{target}__unsorted"
    total = int(engine.scalar(f"SELECT count(*) FROM ({relation})"))
    workers = scoring_workers(total) if workers is None else workers

    schema = scores_schema(key, engine.query(f"SELECT {q(key)} FROM ({relation}) LIMIT 0").schema[0].type)
    if engine.maps_in_parallel:
        engine.write_mapped(staging, sql, partial(score_rows, serving, key=key, bounds=bounds), schema,
                            rows=batch_rows)
    else:
        def scored():
            batches = (batch.to_pandas() for batch in engine.batches(sql, batch_rows))
            if workers <= 1:
                with threadpool_limits(limits=1):
                    yield from (score_rows(serving, batch, key, bounds) for batch in batches)
                return
            yield from map_in_processes(_score_in_worker, batches, workers=workers, initializer=_start_worker,
                                        initargs=(serving, key, bounds))

        engine.write_batches(staging, scored(), schema=schema)
    try:
        return engine.write_table(target, f"SELECT * FROM {engine.relation(staging)} "
                                          f"ORDER BY {q(PROBABILITY)} DESC, {q(key)}")
    finally:
        engine.drop(staging)


def scores_schema(key: str, key_type) -> pa.Schema:
    """The columns `score_rows` returns, for engines that need the output schema up front."""
    import pyarrow as pa

    return pa.schema([(key, key_type), (FEATURE_TIMESTAMP, pa.timestamp("us", tz="UTC")),
                      (PROBABILITY, pa.float64()), (RISK_TIER, pa.string()), ("predicted_churn", pa.bool_()),
                      (ACTIVE, pa.bool_()), ("model_name", pa.string()), (TOP_REASONS, pa.string()),
                      (REASONS, reasons_type()), (MODEL_VERSION, pa.string())])


def reasons_type() -> pa.DataType:
    """The structured reasons: a list of `model.reasons.Reason` records."""
    import pyarrow as pa

    from retention_assets.model.reasons import REASON_FIELDS

    numbers = {"risk_share", "contribution"}
    return pa.list_(pa.struct([(f, pa.float64() if f in numbers else pa.string()) for f in REASON_FIELDS]))


@dataclass(frozen=True)
class ScoreSummary:
    """What a scores table holds, for metadata and the campaign."""

    rows: int
    as_of: datetime | None
    tiers: dict[str, int]
    active: int
    model_version: str | None
    probabilities: np.ndarray  # every customer's probability, for the distribution plot
    top_customers: list  # the keys of the first rows (most likely churners)


def score_summary(engine: Engine, table: str) -> ScoreSummary:
    q = engine.dialect.ident
    scores = engine.relation(table)
    rows, as_of, active, version = engine.rows(
        f"SELECT count(*), max({q(FEATURE_TIMESTAMP)}), count(*) FILTER (WHERE {q(ACTIVE)}), "
        f"min({q(MODEL_VERSION)}) FROM {scores}")[0]
    tiers = dict(engine.rows(f"SELECT {q(RISK_TIER)}, count(*) FROM {scores} GROUP BY 1"))
    ordered = {tier: int(tiers.get(tier, 0)) for tier in ("high", "medium", "low", INACTIVE_TIER)}
    probabilities = engine.query(f"SELECT {q(PROBABILITY)} FROM {scores}").column(0).to_numpy()
    key = next(iter(engine.column_types(scores)))
    top = [r[0] for r in engine.rows(f"SELECT {q(key)} FROM {scores} LIMIT 5")]
    return ScoreSummary(int(rows), as_of, ordered, int(active or 0), version, probabilities, top)


def campaign_summary(engine: Engine, table: str) -> tuple[int, float | None]:
    """(customers to contact, total expected net value) of a campaign table; the value is None when the
    campaign has no dollar figures (no value column)."""
    row = engine.rows(f"SELECT count(*), sum(expected_net_value_usd), count(expected_net_value_usd) "
                      f"FROM {engine.relation(table)}")[0]
    if int(row[0]) and not row[2]:
        return int(row[0]), None
    return int(row[0]), float(row[1] or 0.0)
