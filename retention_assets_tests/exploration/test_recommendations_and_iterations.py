"""Recommendations follow the findings' numbers, keep people's decisions, and iterations feed back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.exploration.iterations import (
    drop_proposals,
    load_history,
    low_importance_features,
    resolve_trigger,
    Iteration,
    write_history,
)
from retention_assets.features.leakage import identifier_like, near_perfect_separation
from retention_assets.exploration.recommendations import (
    ColumnFacts,
    DatasetFacts,
    RecommendationPolicy,
    add_proposals,
    load_registry,
    mark_applied,
    merge,
    recommend_for_dataset,
    write_registry,
)

POLICY = RecommendationPolicy(max_one_hot_cardinality=5, hash_buckets=16)


def entity_facts(*columns: ColumnFacts) -> DatasetFacts:
    return DatasetFacts("customers", "entity", "cid", None, columns)


def by_id(recs):
    return {r.id: r for r in recs}


def test_missing_values_and_outliers_lead_to_imputation_and_capping_with_their_evidence():
    recs = by_id(recommend_for_dataset(entity_facts(
        ColumnFacts("age", "numeric", null_rate=0.06, outlier_rate=0.03, cardinality=60)), POLICY))
    impute = recs["bronze_entity:customers.age:impute_median"]
    assert "6.0% is missing" in impute.rationale and impute.evidence["null_rate"] == 0.06
    assert "3.0% are outliers" in recs["bronze_entity:customers.age:cap_iqr"].rationale
    assert impute.status == "accepted"  # routine cleaning is auto-accepted


def test_complete_columns_get_no_imputation():
    recs = recommend_for_dataset(entity_facts(ColumnFacts("fee", "numeric", null_rate=0.0, cardinality=9)), POLICY)
    assert [r.action for r in recs] == []


def test_removals_start_proposed_and_encodings_follow_cardinality():
    recs = by_id(recommend_for_dataset(entity_facts(
        ColumnFacts("constant", "categorical", cardinality=1),
        ColumnFacts("plan", "categorical", cardinality=3),
        ColumnFacts("city", "categorical", cardinality=400)), POLICY))
    assert recs["bronze_entity:customers.constant:drop_column"].status == "proposed"
    assert "gold:customers.plan:one_hot" in recs
    assert recs["gold:customers.city:hash_encode"].params == {"buckets": 16}


def test_event_columns_are_aggregated_over_the_windows_and_ids_are_not():
    facts = DatasetFacts("tx", "event", "cid", "ts", (
        ColumnFacts("amount", "numeric", cardinality=900), ColumnFacts("kind", "categorical", cardinality=4),
        ColumnFacts("tx_id", "identifier", cardinality=1000), ColumnFacts("note", "text", cardinality=800)))
    recs = by_id(recommend_for_dataset(facts, POLICY))
    assert recs["bronze_event:tx.amount:aggregate_windows"].params == {"kind": "value"}  # the windows are settings
    assert recs["bronze_event:tx.kind:aggregate_windows"].params["kind"] == "category"
    assert "bronze_event:tx.note:text_svd" in recs
    assert not [r for r in recs if ".tx_id:" in r]


def test_without_auto_accept_everything_starts_proposed():
    recs = recommend_for_dataset(entity_facts(ColumnFacts("age", "numeric", null_rate=0.1, cardinality=5)),
                                 RecommendationPolicy(auto_accept=False))
    assert {r.status for r in recs} == {"proposed"}


def test_merge_keeps_decided_statuses_and_refreshes_evidence(tmp_path):
    old = recommend_for_dataset(entity_facts(ColumnFacts("age", "numeric", null_rate=0.06, cardinality=5)), POLICY)
    old[0].status = "rejected"
    fresh = recommend_for_dataset(entity_facts(ColumnFacts("age", "numeric", null_rate=0.08, cardinality=5)), POLICY)
    merged = merge(old, fresh)
    assert merged[0].status == "rejected" and merged[0].evidence["null_rate"] == 0.08


def test_mark_applied_only_promotes_accepted_entries_and_proposals_are_added_once(tmp_path):
    path = tmp_path / "recommendations.yaml"
    recs = recommend_for_dataset(entity_facts(ColumnFacts("age", "numeric", null_rate=0.1, outlier_rate=0.1,
                                                          cardinality=5)), POLICY)
    recs[0].status = "rejected"
    write_registry(path, recs)
    mark_applied(path, [r.id for r in recs])
    assert [r.status for r in load_registry(path)] == ["rejected", "applied"]
    proposals = drop_proposals("iteration-0001", ["f1"], {"f1": 0.0}, 0.0)
    assert len(add_proposals(path, proposals)) == 1 and add_proposals(path, proposals) == []


def test_an_invalid_status_edit_is_named(tmp_path):
    path = tmp_path / "recommendations.yaml"
    write_registry(path, recommend_for_dataset(entity_facts(ColumnFacts("age", "numeric", null_rate=0.1,
                                                                        cardinality=5)), POLICY))
    path.write_text(path.read_text().replace("status: accepted", "status: maybe"))
    with pytest.raises(ValueError, match="status 'maybe'; expected one of proposed, accepted, rejected, applied"):
        load_registry(path)


def test_trigger_defaults_to_initial_then_manual_and_rejects_unknown_values():
    assert resolve_trigger(None, []) == "initial"
    assert resolve_trigger(None, ["x"]) == "manual"
    assert resolve_trigger("drift", ["x"]) == "drift"
    with pytest.raises(ValueError, match="trigger 'whim'"):
        resolve_trigger("whim", [])


def test_low_importance_features_are_at_or_below_the_threshold():
    assert low_importance_features({"a": 0.02, "b": 0.0, "c": -0.001}, 0.0) == ["b", "c"]


def test_history_round_trips(tmp_path):
    it = Iteration("iteration-0001", None, "initial", "run", "2026-06-30T00:00:00+00:00", "logistic_regression",
                   {"c": "v"}, "r", {"roc_auc": 0.8}, {"f": 0.1})
    write_history(tmp_path / "iterations.yaml", [it])
    assert load_history(tmp_path / "iterations.yaml") == [it]


def test_a_combination_that_separates_the_classes_is_named():
    rng = np.random.default_rng(0)

    def away_from_zero(n):  # a clear margin, so a tree's split can land anywhere in it
        return rng.choice([-1, 1], n) * rng.uniform(0.5, 2.0, n)

    frame = pd.DataFrame({"a": away_from_zero(600), "b": away_from_zero(600), "noise": rng.normal(size=600)})
    frame["churned"] = ((frame["a"] > 0) & (frame["b"] > 0)).astype(int)  # neither column alone is perfect
    findings = near_perfect_separation(frame, ["a", "b", "noise"], "churned", 0.99)
    assert len(findings) == 1 and set(findings[0].column.split(", ")) >= {"a", "b"}
    frame["churned"] = (frame["a"] + rng.normal(scale=2, size=600) > 0).astype(int)
    assert near_perfect_separation(frame, ["a", "b", "noise"], "churned", 0.99) == []


def test_identifier_like_features_are_flagged_by_values_or_findings():
    frame = pd.DataFrame({"code": [f"X{i}" for i in range(50)], "plan": ["a", "b"] * 25, "n": range(50)})
    flagged = [f.column for f in identifier_like(frame, ["code", "plan", "n"], known_identifiers=["n"])]
    assert flagged == ["code", "n"]


def test_a_review_that_contradicts_the_settings_is_an_error_not_ignored(tmp_path):
    from retention_assets.exploration.findings import Findings
    from retention_assets.exploration.plan import check_review_agrees

    findings = Findings(tmp_path / "tx_findings.yaml", {"dataset": "tx", "review": {"entity_key": "account"}})
    with pytest.raises(ValueError, match=r"tx_findings\.yaml: review\.entity_key is 'account' but the settings "
                                         r"declare 'cid'"):
        check_review_agrees(findings, "cid", "ts")
    check_review_agrees(Findings(tmp_path / "tx_findings.yaml", {"dataset": "tx", "review": {"entity_key": "cid"}}),
                        "cid", "ts")  # agreeing is fine
