"""The campaign threshold follows money, not F1; only customers worth contacting are listed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.model.business import (
    best_threshold,
    customer_value,
    expected_net_value,
    net_value_curve,
    plan_campaign,
)


def test_value_is_the_monthly_column_times_the_months_with_a_default_for_gaps():
    frame = pd.DataFrame({"fee": [10.0, np.nan]})
    assert customer_value(frame, "fee", 2.0, 50.0).tolist() == [20.0, 50.0]
    assert customer_value(frame, None, 2.0, 50.0).tolist() == [50.0, 50.0]


def test_expected_net_value_is_probability_times_acceptance_times_value_minus_cost():
    assert expected_net_value(np.array([0.5]), np.array([100.0]), 0.3, 5.0).tolist() == [10.0]


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


def test_campaign_lists_only_active_customers_worth_contacting_best_first():
    scores = pd.DataFrame({"cid": ["a", "b", "c", "d"], "churn_probability": [0.9, 0.8, 0.9, 0.1],
                           "risk_tier": ["high", "high", "inactive", "low"],
                           "active_at_as_of": [True, True, False, True]})
    value = np.array([100.0, 10.0, 100.0, 1000.0])
    campaign = plan_campaign(scores, "cid", value, acceptance=0.3, cost=5.0, threshold=0.05)
    # b: 0.8*0.3*10 - 5 < 0; c inactive; d: 0.1*0.3*1000 - 5 = 25 > a: 0.9*0.3*100 - 5 = 22
    assert campaign["cid"].tolist() == ["d", "a"]
    assert campaign["expected_net_value_usd"].tolist() == pytest.approx([25.0, 22.0])
