"""Estimated performance from calibrated probabilities: expected AUC, its band, calibration and the signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_assets.monitoring.estimation import (
    Calibration,
    estimate_performance,
    expected_roc_auc,
    fit_calibration,
    isotonic_fit,
)
from retention_assets.monitoring.performance import (
    CohortEstimate,
    cohort_performance,
    estimate_cohort,
    performance_markdown,
    performance_signal,
    latest_numbers,
    performance_table,
)


def _mann_whitney(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def _brute_expected_auc(scores: np.ndarray, proba: np.ndarray) -> float:
    weight = proba[:, None] * (1 - proba[None, :])
    np.fill_diagonal(weight, 0)
    order = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    return float((weight * order).sum() / weight.sum())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=40), st.integers(0, 2**31 - 1))
def test_expected_auc_is_the_probability_weighted_pairwise_order(proba, seed):
    p = np.round(np.asarray(proba), 1)  # rounding makes ties, which count half
    if (p * (1 - p)[:, None]).sum() - (p * (1 - p)).sum() <= 0:
        return
    scores = np.random.default_rng(seed).permutation(len(p)).astype(float) if seed % 2 else p
    assert np.isclose(expected_roc_auc(scores, p), _brute_expected_auc(scores, p))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.5, 4.0))
def test_band_covers_the_true_auc_of_calibrated_scores_in_most_seeds(seed, spread):
    rng = np.random.default_rng(seed)
    covered = 0
    for trial in range(50):
        p = rng.beta(1.0, spread, 600)
        labels = (rng.random(600) < p).astype(int)
        estimate = estimate_performance(p, threshold=0.4, seed=trial)
        covered += estimate.covers(_mann_whitney(labels, p))
        assert estimate.roc_auc_low <= estimate.roc_auc <= estimate.roc_auc_high
    # A 5-95% band: 45 of 50 expected (0.898 measured over 1000 cohorts); below 38 is 3.8 sd off.
    assert covered >= 38


def test_perfectly_separated_scores_estimate_one():
    p = np.array([0.0] * 50 + [1.0] * 10)
    estimate = estimate_performance(p, threshold=0.5)
    assert estimate.roc_auc == 1.0 == estimate.roc_auc_low == estimate.roc_auc_high
    assert estimate.precision == 1.0 and estimate.recall == 1.0


def test_uninformative_scores_estimate_one_half_and_precision_is_the_flagged_mean():
    p = np.full(500, 0.3)
    estimate = estimate_performance(p, threshold=0.2)
    assert np.isclose(estimate.roc_auc, 0.5) and np.isclose(estimate.precision, 0.3)
    assert np.isclose(estimate.expected_churn_rate, 0.3)
    assert estimate.recall == 1.0  # everyone is flagged
    assert estimate.roc_auc_low == 0.5 == estimate.roc_auc_high  # all tied: every label draw ranks at 0.5


def test_the_band_is_reproducible_by_its_seed_and_narrows_with_the_cohort():
    rng = np.random.default_rng(3)
    small, large = rng.beta(1, 3, 300), rng.beta(1, 3, 6000)
    assert estimate_performance(small, 0.5, seed=1) == estimate_performance(small, 0.5, seed=1)
    width = [(e.roc_auc_high - e.roc_auc_low) for e in (estimate_performance(small, 0.5),
                                                          estimate_performance(large, 0.5))]
    assert width[1] < width[0] / 2


def test_overconfident_scores_are_calibrated_on_validation_and_then_estimate_the_realized_auc():
    rng = np.random.default_rng(11)
    truth = rng.beta(1, 4, 12_000)
    raw = truth ** 0.4  # same ranking, far too high: uncalibrated
    labels = (rng.random(12_000) < truth).astype(int)
    valid, cohort = slice(0, 4000), slice(4000, None)
    calibration = fit_calibration(raw[valid], labels[valid])
    assert calibration.method == "isotonic" and "isotonic" in calibration.reason
    truth_auc = expected_roc_auc(raw[cohort], truth[cohort])  # what a perfect calibration would estimate
    calibrated = estimate_performance(raw[cohort], 0.5, calibration)
    uncalibrated = estimate_performance(raw[cohort], 0.5)
    # Isotonic on 4000 noisy labels is itself an estimate: close, not exact (its error is not in the band).
    assert abs(calibrated.roc_auc - truth_auc) < 0.02 < abs(uncalibrated.roc_auc - truth_auc)
    assert abs(calibrated.expected_churn_rate - labels[cohort].mean()) < 0.01
    assert abs(uncalibrated.expected_churn_rate - labels[cohort].mean()) > 0.1
    # Already calibrated scores are kept as they are, and the reason says so.
    kept = fit_calibration(truth[valid], labels[valid])
    assert kept.method == "none" and "raw scores used" in kept.reason
    assert fit_calibration([0.1, 0.2], [0, 1]).method == "none"  # too few to judge


def test_isotonic_fit_is_monotone_and_pools_violations():
    x, y = isotonic_fit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    assert np.all(np.diff(y) >= 0) and np.all(np.diff(x) >= 0)
    assert np.allclose(Calibration("isotonic", tuple(x), tuple(y)).apply(np.array([0.1, 0.25, 0.4])), [0, 0.5, 1])


def _cohort(p: np.ndarray, as_of: str = "2026-06-30", version: str = "1") -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(p))], "churn_probability": p,
                         "active_at_as_of": True, "feature_timestamp": pd.Timestamp(as_of, tz="UTC"),
                         "model_version": version})


def _estimate(auc_like: str, as_of: str, version: str = "1", matured: bool = False) -> CohortEstimate:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 3, 2000) if auc_like == "good" else np.full(2000, 0.25) + rng.normal(0, 0.001, 2000)
    return estimate_cohort(_cohort(p, as_of, version), 0.5, None, expected_roc_auc=0.75, matured=matured)


def test_a_low_estimate_is_shown_but_fires_only_when_the_setting_allows():
    low = _estimate("flat", "2026-07-30")
    off = performance_signal([], max_drop=0.05, champion="1", estimates=[low])
    assert not off.fired and "estimate_triggers_retrain is off" in off.reason
    on = performance_signal([], max_drop=0.05, champion="1", estimates=[low], estimate_triggers=True)
    assert on.fired and on.cohort == low.as_of and on.model_version == "1" and "estimated ROC AUC" in on.reason
    replaced = performance_signal([], 0.05, champion="2", estimates=[low], estimate_triggers=True)
    assert not replaced.fired and "champion is now version 2" in replaced.reason
    good = performance_signal([], 0.05, "1", [_estimate("good", "2026-07-30")], estimate_triggers=True)
    assert not good.fired and "within" in good.reason
    matured_only = performance_signal([], 0.05, "1", [_estimate("flat", "2026-07-30", matured=True)], True)
    assert not matured_only.fired  # a matured cohort is judged on its labels, not its estimate


def test_the_table_has_one_row_per_cohort_with_realized_metrics_once_matured():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 3, 1000)
    labels = pd.DataFrame({"customer_id": [f"C{i}" for i in range(1000)], "churned": (rng.random(1000) < p)})
    old, new = _cohort(p, "2026-05-30"), _cohort(p, "2026-06-30")
    realized = cohort_performance(old, labels, "customer_id", "churned", 0.75, 200)
    estimates = [estimate_cohort(old, 0.5, None, 0.75, True), estimate_cohort(new, 0.5, None, 0.75, False)]
    table = performance_table([realized], estimates)
    assert list(table["matured"]) == [True, False] and list(table["judged"]) == [True, False]
    assert table["roc_auc"].iloc[0] == realized.roc_auc and np.isnan(table["roc_auc"].iloc[1])
    assert table["estimate_covers_realized"].iloc[0] == estimates[0].estimate.covers(realized.roc_auc)
    text = performance_markdown(table)
    assert "labels not matured" in text and f"{estimates[1].estimate.roc_auc:.3f}" in text
    assert str(estimates[1].estimate.roc_auc) not in text  # rounded for reading
    numbers = latest_numbers(table)  # full precision, for numeric metadata
    assert numbers["estimated_roc_auc"] == estimates[1].estimate.roc_auc
    assert numbers["realized_roc_auc"] == realized.roc_auc and numbers["realized_auc_drop"] == realized.auc_drop
    assert latest_numbers(performance_table([], [])) == {}


def test_the_performance_plot_is_wide_enough_to_read_and_takes_cohorts_without_labels():
    import base64
    import struct

    from retention_assets.core.plots import performance_over_time_png

    png = base64.b64decode(performance_over_time_png(
        ["2026-06-30T00:00:00+00:00", "2026-08-14T00:00:00+00:00"], [0.88, 0.84], [0.86, 0.81], [0.90, 0.87],
        [0.72, float("nan")], [0.87, 0.87]))
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR size
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width >= 800 and height >= 300
