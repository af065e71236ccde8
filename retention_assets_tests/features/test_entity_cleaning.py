"""Cleaning repairs are applied, counted and reported; duplicate keys follow the stated policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.features.entity import CleaningPlan, clean_entity, iqr_fences, to_binary
from retention_assets.exploration.recommendations import Recommendation
from retention_assets.core.errors import DataValidationError


def entity() -> pd.DataFrame:
    return pd.DataFrame({
        "cid": ["a", "b", "c", "d", "e", "f"],
        "age": [30.0, 31.0, np.nan, 33.0, 32.0, 400.0],
        "plan": [" Basic", "basic", None, "PRO", "pro", "basic"],
    })


def test_outliers_are_capped_at_the_iqr_fences_and_counted():
    cleaned, report = clean_entity(entity(), "cid", CleaningPlan.default_for(entity(), "cid", 1.5))
    lower, upper = iqr_fences(entity()["age"], 1.5)
    assert cleaned["age"].max() == pytest.approx(upper)
    assert report.caps["age"]["n_capped"] == 1


def test_missing_numbers_get_the_median_and_a_flag():
    cleaned, report = clean_entity(entity(), "cid", CleaningPlan.default_for(entity(), "cid", 1.5))
    assert report.imputations["age"]["strategy"] == "median"
    assert cleaned.loc[2, "age"] == report.imputations["age"]["value"]
    assert cleaned["age_was_missing"].tolist() == [0, 0, 1, 0, 0, 0]


def test_text_is_trimmed_lowercased_and_missing_becomes_a_category():
    cleaned, report = clean_entity(entity(), "cid", CleaningPlan.default_for(entity(), "cid"))
    assert cleaned["plan"].tolist() == ["basic", "basic", "missing", "pro", "pro", "basic"]
    assert report.imputations["plan"]["n_filled"] == 1
    assert sum(report.type_fixes.values()) == 2


@pytest.mark.parametrize("policy, kept_plan", [("keep_first", "basic"), ("keep_last", "pro")])
def test_duplicate_keys_follow_the_policy(policy, kept_plan):
    frame = pd.DataFrame({"cid": ["a", "b", "a"], "plan": ["basic", "x", "pro"]})
    cleaned, report = clean_entity(frame, "cid", CleaningPlan(), duplicate_policy=policy)
    assert report.duplicates_dropped == 1
    assert cleaned.loc[cleaned["cid"] == "a", "plan"].item() == kept_plan


def test_keep_last_orders_by_the_given_column():
    frame = pd.DataFrame({"cid": ["a", "a"], "updated": [2, 1], "plan": ["new", "old"]})
    cleaned, _ = clean_entity(frame, "cid", CleaningPlan(), duplicate_policy="keep_last", order_by="updated")
    assert cleaned["plan"].tolist() == ["new"]


def test_binary_target_accepts_words_and_rejects_the_rest():
    assert to_binary(pd.Series(["yes", "No", "1", None, "TRUE"]), "f.csv", "t").tolist() == [1, 0, 1, pd.NA, 1]
    with pytest.raises(DataValidationError, match=r"f.csv, column 't'.*rows 2"):
        to_binary(pd.Series(["yes", "maybe"]), "f.csv", "t")


def rec(action: str, column: str, status: str = "accepted", **params) -> Recommendation:
    return Recommendation(id=f"bronze_entity:c.{column}:{action}", layer="bronze_entity", dataset="c",
                          column=column, action=action, params=params, status=status)


def test_only_the_planned_repairs_happen_and_are_reported():
    plan = CleaningPlan.from_recommendations([rec("cap_iqr", "age", multiplier=1.5), rec("drop_column", "plan")])
    cleaned, report = clean_entity(entity(), "cid", plan)
    assert "plan" not in cleaned
    assert pd.isna(cleaned.loc[2, "age"]) and "age_was_missing" not in cleaned  # imputation was not planned
    assert report.caps["age"]["n_capped"] == 1
    assert report.applied == ["bronze_entity:c.age:cap_iqr", "bronze_entity:c.plan:drop_column"]


def test_without_a_constant_imputation_missing_text_stays_missing():
    cleaned, report = clean_entity(entity(), "cid", CleaningPlan())
    assert cleaned.loc[2, "plan"] is None and "plan" not in report.imputations
