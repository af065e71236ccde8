"""The campaign threshold follows money, not F1; only customers worth contacting are listed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.model.business import best_threshold, customer_value, net_value_curve, plan_campaign


def test_value_is_the_monthly_column_times_the_months_with_a_default_for_gaps():
    frame = pd.DataFrame({"fee": [10.0, np.nan]})
    assert customer_value(frame, "fee", 2.0, 50.0).tolist() == [20.0, 50.0]
    assert customer_value(frame, None, 2.0, 50.0).tolist() == [50.0, 50.0]


def test_expensive_contacts_raise_the_best_threshold():
    rng = np.random.default_rng(0)
    proba = rng.random(2000)
    y = (rng.random(2000) < proba).astype(int)
    value = np.full(2000, 100.0)
    cheap = best_threshold(net_value_curve(y, proba, value, 0.3, 1.0))
    dear = best_threshold(net_value_curve(y, proba, value, 0.3, 20.0))
    assert cheap < dear
    # break-even: p * 0.3 * 100 = 20 at p = 2/3
    assert dear == pytest.approx(2 / 3, abs=0.08)


def campaign(tmp_path, fees: list, value_column: str | None = "fee", **overrides):
    scores = pd.DataFrame({"cid": ["a", "b", "c", "d"], "churn_probability": [0.9, 0.8, 0.9, 0.1],
                           "risk_tier": ["high", "high", "inactive", "low"],
                           "active_at_as_of": [True, True, False, True],
                           "top_reasons": ["r", "", "", ""], "reasons": [[{"feature": "f", "text": "r"}], [], [], []]})
    gold = pd.DataFrame({"cid": ["a", "b", "c", "d", "a"], "fee": [*fees, 1.0], "row_role": ["score"] * 4 + ["train"]})
    options = {**dict(months=2.0, default_value=50.0, acceptance=0.3, cost=5.0, threshold=0.05), **overrides}
    with DuckDBEngine(tmp_path) as engine:
        engine.write_frame("scores", scores)
        engine.write_frame("gold", gold)
        _, total = plan_campaign(engine, scores_table="scores", gold_table="gold", key="cid", value_column=value_column,
                                 target="campaign", **options)
        return engine.frame(f"SELECT * FROM {engine.relation('campaign')}"), total


def test_campaign_lists_only_active_customers_worth_contacting_best_first(tmp_path):
    listed, total = campaign(tmp_path, [50.0, 5.0, 50.0, 500.0])
    # value = fee x 2 months; net = p * 0.3 * value - 5
    # b: 0.8*0.3*10 - 5 < 0; c inactive; d: 0.1*0.3*1000 - 5 = 25 > a: 0.9*0.3*100 - 5 = 22
    assert listed["cid"].tolist() == ["d", "a"]
    assert listed["value_at_stake_usd"].tolist() == pytest.approx([1000.0, 100.0])
    assert listed["expected_net_value_usd"].tolist() == pytest.approx([25.0, 22.0])
    assert total == pytest.approx(47.0)


def test_campaign_values_missing_fees_at_the_default(tmp_path):
    listed, _ = campaign(tmp_path, [None, 5.0, 50.0, 500.0])
    assert listed.set_index("cid").loc["a", "value_at_stake_usd"] == 50.0


@pytest.mark.parametrize("value_column", [None, "no_such_column"])
def test_without_a_value_column_the_campaign_ranks_by_risk_and_invents_no_money(tmp_path, value_column):
    listed, total = campaign(tmp_path, [50.0, 5.0, 50.0, 500.0], value_column=value_column, threshold=0.5)
    # every active customer at or above the threshold, most likely churner first; no $50 per customer
    assert listed["cid"].tolist() == ["a", "b"]
    assert listed["value_at_stake_usd"].isna().all() and listed["expected_net_value_usd"].isna().all()
    assert total is None


def test_a_threshold_flagging_nearly_everyone_is_warned_about(tmp_path):
    from retention_assets.model.business import flag_warning, flagged_share

    with DuckDBEngine(tmp_path) as engine:
        engine.write_frame("scores", pd.DataFrame({"churn_probability": [0.9, 0.8, 0.7, 0.1, 0.95],
                                                   "active_at_as_of": [True, True, True, True, False]}))
        share = flagged_share(engine, "scores", 0.5)
    assert share == pytest.approx(0.75)  # 3 of the 4 active customers; the inactive one is not scored for contact
    assert flag_warning(share, 0.5, "best F1 on validation", 0.8) is None
    warning = flag_warning(share, 0.5, "best F1 on validation", 0.7)
    assert "75%" in warning and "best F1 on validation" in warning


def test_a_high_threshold_leaves_fewer_customers(tmp_path):
    listed, _ = campaign(tmp_path, [50.0, 5.0, 50.0, 500.0], threshold=0.5)
    assert listed["cid"].tolist() == ["a"]
