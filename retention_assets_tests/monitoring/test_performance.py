"""Judging matured scoring cohorts: metrics, calibration and the performance signal."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_assets.monitoring.performance import calibration_error, cohort_performance, performance_signal

RNG = np.random.default_rng(4)


def _cohort(n: int, informative: bool, version: str = "1"):
    labels = (RNG.random(n) < 0.2).astype(int)
    proba = np.clip(labels * 0.5 + RNG.random(n) * 0.5, 0, 1) if informative else RNG.random(n)
    ids = [f"C{i}" for i in range(n)]
    scores = pd.DataFrame({"customer_id": ids, "churn_probability": proba, "active_at_as_of": True,
                           "feature_timestamp": pd.Timestamp("2026-06-30", tz="UTC"), "model_version": version})
    scores.loc[:9, "active_at_as_of"] = False  # not trained on, not judged
    return scores, pd.DataFrame({"customer_id": ids, "churned": labels})


def test_a_cohort_is_judged_on_its_active_customers_against_the_expected_auc():
    scores, labels = _cohort(600, informative=True)
    result = cohort_performance(scores, labels, "customer_id", "churned", expected_roc_auc=0.9, min_rows=200)
    assert result.rows == 590 and result.judged and result.roc_auc > 0.9
    assert result.auc_drop == 0.9 - result.roc_auc
    small = cohort_performance(scores.head(100), labels, "customer_id", "churned", 0.9, min_rows=200)
    assert not small.judged and small.auc_drop is None


def test_calibration_error_is_zero_for_calibrated_and_large_for_overconfident_scores():
    proba = RNG.random(20000)
    labels = (RNG.random(20000) < proba).astype(int)
    assert calibration_error(labels, proba) < 0.02
    assert calibration_error(labels, np.where(proba > 0.5, 1.0, 0.0)) > 0.2


def test_only_a_real_drop_of_the_current_champion_fires():
    good = cohort_performance(*_cohort(600, informative=True), "customer_id", "churned", 0.9, 200)
    bad = cohort_performance(*_cohort(600, informative=False), "customer_id", "churned", 0.9, 200)
    assert not performance_signal([bad, good], max_drop=0.05).fired  # the latest cohort decides
    fired = performance_signal([good, bad], max_drop=0.05, champion="1")
    assert fired.fired and fired.model_version == "1" and "dropped" in fired.reason
    replaced = performance_signal([good, bad], max_drop=0.05, champion="2")
    assert not replaced.fired and "champion is now version 2" in replaced.reason
    assert not performance_signal([], max_drop=0.05).fired
