"""Drift math: PSI on reference-quantile bins, tests per feature type, importance weighting."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_assets.monitoring.drift import (
    Bands,
    categorical_drift,
    drift_signal,
    drift_table,
    numeric_drift,
    numeric_psi,
    numeric_shares,
    quantile_edges,
)

RNG = np.random.default_rng(11)
REFERENCE = pd.Series(RNG.normal(0.0, 1.0, 5000))
SHIFTED = pd.Series(RNG.normal(0.5, 1.0, 5000))


def equal_width_psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """The naive alternative: equal-width bins over the pooled range."""
    low, high = min(reference.min(), current.min()), max(reference.max(), current.max())
    edges = np.linspace(low, high, bins + 1)
    ref = np.clip(np.histogram(reference, edges)[0] / len(reference), 1e-4, None)
    cur = np.clip(np.histogram(current, edges)[0] / len(current), 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def test_psi_is_near_zero_without_drift_and_large_with_a_shift():
    same = pd.Series(RNG.normal(0.0, 1.0, 5000))
    assert numeric_psi(REFERENCE, same) < 0.02
    assert numeric_psi(REFERENCE, SHIFTED) > 0.2


def test_one_extreme_outlier_does_not_erase_the_drift():
    with_outlier = pd.concat([SHIFTED, pd.Series([1e9])], ignore_index=True)
    before, after = numeric_psi(REFERENCE, SHIFTED), numeric_psi(REFERENCE, with_outlier)
    assert abs(after - before) < 0.01
    # Equal-width bins stretch to the outlier: every other value lands in the first bin and the drift vanishes.
    assert equal_width_psi(REFERENCE, SHIFTED) > 0.2
    assert equal_width_psi(REFERENCE, with_outlier) < 0.01


def test_outer_bins_are_open_and_missing_values_have_their_own_bin():
    edges = quantile_edges(REFERENCE)
    shares = numeric_shares(pd.Series([-1e12, 1e12, None, 0.0]), edges)
    assert len(shares) == len(edges) + 2
    assert shares[0] == 0.25 and shares[-2] == 0.25 and shares[-1] == 0.25
    more_missing = REFERENCE.where(RNG.random(len(REFERENCE)) > 0.3)
    assert numeric_psi(REFERENCE, more_missing) > 0.2  # missing-rate drift counts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=5, max_size=200),
       st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=5, max_size=200))
def test_shares_sum_to_one_and_psi_is_non_negative_and_zero_on_itself(reference, current):
    ref, cur = pd.Series(reference), pd.Series(current)
    edges = quantile_edges(ref)
    assert abs(numeric_shares(cur, edges).sum() - 1.0) < 1e-9
    assert numeric_psi(ref, cur) >= -1e-12
    assert abs(numeric_psi(ref, ref)) < 1e-12


def test_ks_detects_a_shift_and_not_a_resample():
    assert numeric_drift(REFERENCE, SHIFTED)["p_value"] < 1e-6
    assert numeric_drift(REFERENCE, pd.Series(RNG.normal(0.0, 1.0, 5000)))["p_value"] > 1e-3


def test_categorical_drift_reports_new_and_vanished_categories():
    reference = pd.Series(["basic"] * 450 + ["standard"] * 350 + ["premium"] * 200)
    current = pd.Series(["basic"] * 650 + ["standard"] * 150 + ["enterprise"] * 200)
    drift = categorical_drift(reference, current)
    assert drift["new_categories"] == ["enterprise"] and drift["vanished_categories"] == ["premium"]
    assert drift["psi"] > 0.2 and drift["p_value"] < 1e-6
    assert categorical_drift(reference, reference.sample(frac=1.0, random_state=1))["psi"] < 1e-9


def test_drift_in_an_unused_feature_does_not_fire_but_in_an_important_one_does():
    bands = Bands(moderate=0.1, significant=0.2)
    reference = pd.DataFrame({"used": REFERENCE, "unused": REFERENCE, "plan": ["a", "b"] * 2500})
    current = pd.DataFrame({"used": pd.Series(RNG.normal(0.0, 1.0, 5000)), "unused": SHIFTED * 3,
                            "plan": ["a", "b"] * 2500})
    importance = {"used": 0.08, "unused": 0.0, "plan": 0.02}
    table = drift_table(reference, current, ["used", "unused"], ["plan"], importance, bands)
    unused = table.set_index("feature").loc["unused"]
    assert unused["severity"] == "significant" and unused["weighted_psi"] == 0.0
    quiet = drift_signal(table, score_psi=0.01, bands=bands, min_share=0.25)
    assert not quiet.fired and quiet.drifted_share == 0.0

    current["used"] = SHIFTED * 2
    table = drift_table(reference, current, ["used", "unused"], ["plan"], importance, bands)
    signal = drift_signal(table, score_psi=0.01, bands=bands, min_share=0.25)
    assert signal.fired and abs(signal.drifted_share - 0.8) < 1e-12 and "used PSI" in signal.reason
    same_data = drift_signal(table, score_psi=0.01, bands=bands, min_share=0.25, trained_on_current_data=True)
    assert not same_data.fired and "trained on this data" in same_data.reason
    assert table["feature"].iloc[0] == "used"
    alone = drift_signal(table.iloc[0:0], score_psi=0.5, bands=bands)  # the score distribution alone
    assert not alone.fired and "predicted-score PSI 0.500 (significant)" in alone.reason


def test_one_saturated_feature_counts_only_its_importance_share():
    bands = Bands()
    reference = pd.DataFrame({"tenure": pd.Series(np.full(1000, 700.0)), "spend": REFERENCE.head(1000)})
    current = pd.DataFrame({"tenure": pd.Series(np.full(1000, 745.0)), "spend": REFERENCE.tail(1000).to_numpy()})
    table = drift_table(reference, current, ["tenure", "spend"], [], {"tenure": 0.05, "spend": 0.95}, bands)
    tenure = table.set_index("feature").loc["tenure"]
    assert tenure["psi"] > 5 and tenure["weighted_psi"] == 0.05  # counted up to the cap of 1.0
    signal = drift_signal(table, 0.0, bands, min_share=0.25)
    assert not signal.fired and abs(signal.drifted_share - 0.05) < 1e-12
