"""Drift math: PSI on reference-quantile bins, tests per feature type, importance weighting."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_assets.monitoring.drift import (
    EXPECTED,
    Bands,
    aged,
    answered,
    calendar_features,
    categorical_drift,
    drift_signal,
    drift_table,
    elapsed_days,
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


TENURE = "transactions_all_time_days_since_first"
SIGNUP = "days_since_signup_date"


def test_calendar_features_are_first_ever_and_entity_dates_but_not_recency_or_bounded_windows():
    names = [TENURE, "support_tickets_all_time_days_since_first", SIGNUP, "days_since_last_login_date",
             "transactions_365d_days_since_first", "transactions_all_time_days_since_last", "days_since_unknown",
             "transactions_30d_count", "monthly_fee"]
    assert calendar_features(names, ["signup_date", "last_login_date"]) == [
        TENURE, "support_tickets_all_time_days_since_first", SIGNUP]
    # without the entity's date columns every `days_since_<column>` counts, except a moving date
    assert calendar_features(names) == [TENURE, "support_tickets_all_time_days_since_first", SIGNUP,
                                        "days_since_unknown"]


def test_elapsed_days_per_reference_row_and_the_fallback_for_old_references():
    times = pd.Series(pd.to_datetime(["2026-04-30", "2026-05-30"], utc=True))
    assert list(elapsed_days(times, "2026-06-29", "2026-08-13", 2)) == [105.0, 75.0]
    assert list(elapsed_days(None, "2026-06-29T00:00:00+00:00", "2026-08-13T00:00:00+00:00", 3)) == [45.0] * 3


def _tenure_world(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    tenure = pd.Series(np.concatenate([rng.uniform(0, 900, rows - rows // 3), np.full(rows // 3, 640.0)]))
    return pd.DataFrame({TENURE: tenure, "spend": rng.normal(50, 10, rows)}), rng.choice([30.0, 60.0], rows)


@settings(max_examples=40, deadline=None)
@given(st.integers(200, 3000), st.integers(0, 10_000), st.floats(20.0, 400.0))
def test_pure_ageing_of_the_reference_has_no_drift_when_shifted(rows, seed, days):
    reference, cutoff_age = _tenure_world(rows, seed)
    elapsed = cutoff_age + days  # rows from two cutoffs, each aged to the same current time
    current = aged(reference, [TENURE], elapsed)
    bands = Bands()
    table = drift_table(reference, current, [TENURE, "spend"], [], {TENURE: 0.5, "spend": 0.5}, bands,
                        calendar=[TENURE], elapsed=elapsed).set_index("feature")
    assert table.loc[TENURE, "psi"] < 1e-9 and table.loc[TENURE, "severity"] == "none"
    assert table.loc[TENURE, "raw_psi"] > bands.significant  # what the unshifted comparison used to report
    assert bool(table.loc[TENURE, "calendar"]) and not bool(table.loc["spend", "calendar"])


def test_shifted_tenure_still_shows_real_drift_a_wave_of_new_customers():
    reference, cutoff_age = _tenure_world(3000, 3)
    current = aged(reference, [TENURE], cutoff_age + 45)
    current.loc[:1200, TENURE] = RNG.uniform(0, 45, 1201)  # 40% of today's customers joined since
    table = drift_table(reference, current, [TENURE], [], {TENURE: 1.0}, Bands(), calendar=[TENURE],
                        elapsed=cutoff_age + 45)
    assert table["severity"].iloc[0] == "significant"


def test_flagged_calendar_features_are_expected_ageing_and_never_count():
    reference, cutoff_age = _tenure_world(2000, 5)
    current = aged(reference, [TENURE], cutoff_age + 200)
    bands = Bands()
    table = drift_table(reference, current, [TENURE, "spend"], [], {TENURE: 0.9, "spend": 0.1}, bands,
                        calendar=[TENURE], calendar_mode="flag").set_index("feature")
    assert table.loc[TENURE, "severity"] == EXPECTED and table.loc[TENURE, "weighted_psi"] == 0.0
    assert table.loc[TENURE, "psi"] > bands.significant  # the raw comparison, reported as it is
    signal = drift_signal(table.reset_index(), 0.0, bands, min_share=0.25)
    assert not signal.fired and signal.drifted_share == 0.0
    unmarked = drift_table(reference, current, [TENURE, "spend"], [], {TENURE: 0.9, "spend": 0.1}, bands)
    assert drift_signal(unmarked, 0.0, bands, min_share=0.25).fired  # the calendar alone would retrain


def test_drift_answered_by_a_version_trained_on_the_drifted_data_does_not_fire():
    assert answered("2026-08-13T00:00:00+00:00", "2026-08-13T00:00:00+00:00")
    assert not answered("2026-06-29T00:00:00+00:00", "2026-08-13T00:00:00+00:00")
    assert not answered("", "2026-08-13T00:00:00+00:00") and not answered("2026-08-13", "")
    bands = Bands()
    reference = pd.DataFrame({"used": REFERENCE})
    table = drift_table(reference, pd.DataFrame({"used": SHIFTED * 2}), ["used"], [], {"used": 1.0}, bands)
    assert drift_signal(table, 0.0, bands).fired
    signal = drift_signal(table, 0.0, bands, answered_by="2")
    assert not signal.fired and signal.answered_by == "2" and signal.reason.startswith("answered by version 2")
