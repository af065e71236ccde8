"""Model training: validation scheme, preprocessing inside the pipeline, metrics, risk tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.features.leakage import single_feature_auc, single_feature_auc_by_group, too_predictive
from retention_assets.model.training import best_f1_threshold, fit_churn_model, risk_tier

T1, T2 = pd.Timestamp("2026-04-30", tz="UTC"), pd.Timestamp("2026-05-30", tz="UTC")


def synthetic(n: int = 600, seed: int = 0, cutoffs=(T1, T2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    frame = pd.DataFrame({
        "signal": signal,
        "noise": rng.normal(size=n),
        "plan": rng.choice(["basic", "pro"], n),
        "feature_timestamp": np.resize(np.array(cutoffs, dtype=object), n),
    })
    frame.loc[rng.random(n) < 0.1, "signal"] = np.nan
    logits = 1.5 * frame["signal"].fillna(0) + (frame["plan"] == "basic") * 0.8 - 1.2
    frame["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return frame


def test_two_cutoffs_validate_out_of_time_and_one_uses_cross_validation():
    two = fit_churn_model(synthetic(), ["signal", "noise", "plan"], "churned", "feature_timestamp",
                          candidates=("logistic_regression",))
    one = fit_churn_model(synthetic(cutoffs=(T1,)), ["signal", "noise", "plan"], "churned", "feature_timestamp",
                          candidates=("logistic_regression",))
    assert two.validation == "out_of_time" and two.metrics["n_validation"] == 300
    assert one.validation == "stratified_cv" and one.metrics["n_validation"] == 600


def test_identical_rows_across_cutoffs_never_validate_each_other():
    """A static table copied to two cutoffs: out-of-time would validate on copies of training rows."""
    static = synthetic(300, cutoffs=(T1,)).assign(customer_id=np.arange(300))
    copied = pd.concat([static, static.assign(feature_timestamp=T2)], ignore_index=True)
    model = fit_churn_model(copied, ["signal", "noise", "plan"], "churned", "feature_timestamp",
                            candidates=("logistic_regression",), key="customer_id")
    assert model.validation == "grouped_cv" and model.repeated_customers == 300
    assert "300 customers' feature rows repeat identically" in model.validation_reason
    assert "grouped by customer" in model.validation_reason
    assert len(model.validation_proba) == 600


def test_grouped_folds_measure_the_single_snapshot_auc_not_the_copies():
    static = synthetic(300, cutoffs=(T1,)).assign(customer_id=np.arange(300))
    copied = pd.concat([static, static.assign(feature_timestamp=T2)], ignore_index=True)
    features = ["signal", "noise", "plan"]
    fit = dict(candidates=("gradient_boosting",), key="customer_id")
    honest = fit_churn_model(static, features, "churned", "feature_timestamp", **fit).metrics["roc_auc"]
    grouped = fit_churn_model(copied, features, "churned", "feature_timestamp", **fit).metrics["roc_auc"]
    # folding rows rather than customers lets each row be validated by a model that saw its copy
    from retention_assets.model.training import _validation_predictions, model_frame
    from sklearn.metrics import roc_auc_score
    x, y = model_frame(copied, ["signal", "noise"], ["plan"]), copied["churned"].to_numpy()
    y_valid, proba, scheme, _ = _validation_predictions("gradient_boosting", x, y, copied["feature_timestamp"].to_numpy(),
                                                        ["signal", "noise"], ["plan"], 42, 5, out_of_time=False)
    assert scheme == "stratified_cv"
    assert abs(grouped - honest) < 0.04 < roc_auc_score(y_valid, proba) - honest


def test_a_single_class_latest_cutoff_falls_back_with_the_reason():
    rows = synthetic(600).assign(customer_id=np.arange(600) // 2)
    rows.loc[rows["feature_timestamp"] == T2, "churned"] = 0
    model = fit_churn_model(rows, ["signal", "noise", "plan"], "churned", "feature_timestamp",
                            candidates=("logistic_regression",), key="customer_id")
    assert model.validation == "grouped_cv"
    assert model.validation_reason == ("the latest cutoff 2026-05-30 holds a single class (all retained): "
                                       "validated by 5-fold CV grouped by customer")
    two = fit_churn_model(synthetic(), ["signal", "noise", "plan"], "churned", "feature_timestamp",
                          candidates=("logistic_regression",), key=None)
    assert two.validation == "out_of_time" and "validated on the latest cutoff 2026-05-30" in two.validation_reason


def test_model_learns_the_signal_and_reports_metrics():
    model = fit_churn_model(synthetic(2000), ["signal", "noise", "plan"], "churned", "feature_timestamp")
    assert model.metrics["roc_auc"] > 0.75
    assert set(model.candidate_metrics) == {"logistic_regression", "gradient_boosting"}
    assert model.model_name == max(model.candidate_metrics, key=lambda k: model.candidate_metrics[k]["roc_auc"])
    for name in ("pr_auc", "brier", "precision", "recall", "threshold"):
        assert 0 <= model.metrics[name] <= 1
    assert next(iter(model.feature_importance)) == "signal"


def test_preprocessing_is_fitted_inside_the_pipeline_and_handles_unseen_values():
    train = synthetic(400)
    model = fit_churn_model(train, ["signal", "noise", "plan"], "churned", "feature_timestamp",
                            candidates=("logistic_regression",))
    scaler = model.pipeline.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"]
    imputed = train["signal"].fillna(train["signal"].median())
    assert scaler.mean_[0] == pytest.approx(imputed.mean())  # fitted on the training rows given
    unseen = pd.DataFrame({"signal": [np.nan], "noise": [0.0], "plan": ["enterprise"],
                           "feature_timestamp": [T2]})
    assert 0 < model.predict_proba(unseen)[0] < 1


def test_single_class_training_rows_are_refused():
    frame = synthetic().assign(churned=0)
    with pytest.raises(ValueError, match="single label class"):
        fit_churn_model(frame, ["signal"], "churned", "feature_timestamp")


def test_best_f1_threshold_separates_perfectly_separable_scores():
    y = np.array([0, 0, 0, 1, 1])
    threshold = best_f1_threshold(y, np.array([0.1, 0.2, 0.3, 0.7, 0.9]))
    assert 0.3 < threshold <= 0.7


def test_risk_tiers_follow_the_bounds():
    assert risk_tier(np.array([0.1, 0.3, 0.6]), 0.2, 0.5).tolist() == ["low", "medium", "high"]


def test_single_feature_auc_flags_a_copy_of_the_label_but_not_noise():
    frame = synthetic(1000)
    frame["copy_of_label"] = frame["churned"] * 2.0 + 1
    aucs = single_feature_auc(frame, ["signal", "noise", "plan", "copy_of_label"], "churned")
    flagged = [f.column for f in too_predictive(aucs, 0.95)]
    assert flagged == ["copy_of_label"]


def test_a_high_cardinality_identifier_cannot_memorise_the_labels():
    frame = synthetic(1000)
    frame["row_id"] = [f"id{i}" for i in range(len(frame))]
    aucs = single_feature_auc(frame, ["row_id"], "churned").set_index("feature")["auc"]
    assert aucs["row_id"] < 0.6


def test_a_leak_at_one_cutoff_is_found_even_when_pooling_hides_it():
    frame = synthetic(1000)
    at_t2 = frame["feature_timestamp"] == T2
    frame["export_column"] = np.where(at_t2, frame["churned"], np.random.default_rng(1).integers(0, 2, len(frame)))
    pooled = single_feature_auc(frame, ["export_column"], "churned")["auc"].item()
    grouped = single_feature_auc_by_group(frame, ["export_column"], "churned", "feature_timestamp")
    assert pooled < 0.95 < grouped["auc"].item()
    assert grouped["scope"].item() == str(T2)


def test_a_static_column_far_better_than_every_event_feature_is_flagged_with_the_comparison():
    from retention_assets.features.leakage import STATIC_ADVANTAGE, single_feature_auc_per_scope, static_advantage

    frame = synthetic(1000)
    rng = np.random.default_rng(2)
    # an export-time total: mostly the label, a little noise; `signal` plays the event-window feature
    frame["lifetime_orders"] = frame["churned"] * 3 + rng.normal(scale=1.2, size=len(frame))
    per_scope = single_feature_auc_per_scope(frame, ["signal", "noise", "plan", "lifetime_orders"], "churned",
                                             "feature_timestamp")
    findings = static_advantage(per_scope, ["plan", "lifetime_orders"], ["signal", "noise"], 0.15)
    assert [f.column for f in findings] == ["lifetime_orders"] and findings[0].reason == STATIC_ADVANTAGE
    assert "best event-window feature:" in findings[0].evidence and "(signal)" in findings[0].evidence
    # not flagged when an event-window feature is as good, or when there is nothing time-safe to compare
    assert static_advantage(per_scope, ["lifetime_orders"], ["signal", "lifetime_orders"], 0.15) == []
    assert static_advantage(per_scope, ["lifetime_orders"], [], 0.15) == []


def test_every_suspect_is_named_once_by_reason_and_the_tree_sees_what_the_others_left():
    from retention_assets.features.leakage import (
        FUTURE_DATES,
        LeakageFinding,
        describe,
        near_perfect_separation,
        suspect_columns,
        too_predictive,
    )

    frame = synthetic(1000)
    frame["copy_a"] = frame["churned"] * 2.0
    frame["copy_b"] = frame["churned"] - 1.0
    aucs = single_feature_auc(frame, ["signal", "copy_a", "copy_b"], "churned")
    findings = too_predictive(aucs, 0.95) + [LeakageFinding("days_since_x", "3 rows later", FUTURE_DATES)]
    assert suspect_columns(findings) == ["copy_a", "copy_b", "days_since_x"]
    message = describe(findings)
    assert message.index("[single-feature AUC] copy_a") < message.index("copy_b") < message.index("[future dates]")
    tree = near_perfect_separation(frame, ["signal", "copy_a"], "churned", 0.99)
    assert tree[0].suspects == ("copy_a",) and "copy_a (100%)" in tree[0].evidence
    assert near_perfect_separation(frame, ["signal", "noise"], "churned", 0.99) == []


def test_an_implausibly_good_model_is_refused_naming_its_top_features():
    from retention_assets.features.leakage import plausible_model

    frame = synthetic(800)
    frame["leak"] = frame["churned"] + np.random.default_rng(1).normal(scale=0.3, size=len(frame))
    importance = {"leak": 0.3, "signal": 0.05, "noise": 0.0}
    refused = plausible_model(0.991, importance, frame, "churned", 0.97)
    assert not refused.passed
    assert "0.9910 is above model.max_plausible_auc 0.97" in refused.reason
    assert refused.reason.index("leak (single-feature AUC") < refused.reason.index("signal (single-feature AUC")
    assert refused.top_features["feature"].tolist() == ["leak", "signal", "noise"]
    assert plausible_model(0.85, importance, frame, "churned", 0.97).passed
