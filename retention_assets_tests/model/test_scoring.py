"""Batch scoring: the same scores and reasons in one process or in worker processes, in any batch size;
reasons for active customers only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.core.columns import ELIGIBLE, FEATURE_TIMESTAMP, PROBABILITY, ROW_ROLE, SCORE, TOP_REASONS
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.model.scoring import score_offline, score_rows
from retention_assets.model.serving import ServingModel
from retention_assets.model.training import fit_churn_model
from retention_assets_tests.model.test_modeling import synthetic

BOUNDS = {"medium": 0.2, "high": 0.5}


@pytest.fixture(scope="module")
def serving() -> ServingModel:
    frame = synthetic(800)
    model = fit_churn_model(frame, ["signal", "noise", "plan"], "churned", FEATURE_TIMESTAMP,
                            candidates=("gradient_boosting",))
    return ServingModel(model, "3", "service_v3", frame.sample(100, random_state=0))


def scoring_gold(n: int) -> pd.DataFrame:
    gold = synthetic(n, seed=7).drop(columns="churned")
    gold["customer_id"] = [f"c{i:05d}" for i in range(n)]
    gold[FEATURE_TIMESTAMP] = pd.Timestamp("2026-06-30", tz="UTC")
    gold[ELIGIBLE] = np.arange(n) % 4 != 0  # every fourth customer is inactive
    gold[ROW_ROLE] = SCORE
    return gold


def test_inactive_customers_get_a_probability_but_no_reasons(serving):
    rows = scoring_gold(40)
    scores = score_rows(serving, rows.drop(columns=ROW_ROLE), "customer_id", BOUNDS).set_index("customer_id")
    inactive = rows.loc[~rows[ELIGIBLE], "customer_id"]
    assert (scores.loc[inactive, TOP_REASONS] == "").all()
    assert (scores.loc[inactive, "risk_tier"] == "inactive").all()
    assert scores.loc[inactive, PROBABILITY].between(0, 1).all()
    active = scores.drop(index=inactive)
    high = active[active[PROBABILITY] > 0.5]
    assert len(high) and (high[TOP_REASONS].str.len() > 0).all()
    # explaining only the active rows changes nothing for them
    alone = score_rows(serving, rows.loc[rows[ELIGIBLE]].drop(columns=ROW_ROLE), "customer_id", BOUNDS)
    pd.testing.assert_frame_equal(alone.set_index("customer_id").loc[active.index], active)


def test_worker_processes_and_batch_size_change_no_score(serving, tmp_path):
    gold = scoring_gold(900)
    with DuckDBEngine(tmp_path / "tables") as engine:
        with engine.registered("gold_frame", gold) as relation:
            engine.write_table("gold", f"SELECT * FROM {relation}")
        one = score_offline(engine, serving, gold_table="gold", key="customer_id", bounds=BOUNDS,
                            target="one", batch_rows=1_000, workers=1)
        many = score_offline(engine, serving, gold_table="gold", key="customer_id", bounds=BOUNDS,
                             target="many", batch_rows=128, workers=2)
        assert one.rows == many.rows == 900
        first, second = engine.frame(f"SELECT * FROM {engine.relation('one')}"), \
            engine.frame(f"SELECT * FROM {engine.relation('many')}")
    pd.testing.assert_frame_equal(first, second)
    assert first[PROBABILITY].is_monotonic_decreasing
