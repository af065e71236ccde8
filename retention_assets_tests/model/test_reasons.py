"""Reasons in words: the customer's value against retained customers, the share of the risk, one reason per column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets.features.meanings import SourceVocabulary, Vocabulary
from retention_assets.model.reasons import Glossary, Reference, build_glossary, explain_rows, reasons_text
from retention_assets.model.training import fit_churn_model
from retention_assets_tests.model.test_modeling import synthetic

VOCABULARY = Vocabulary(windows=("30d", "all_time"), sources={"tx": SourceVocabulary(values=("amount",))},
                        categorical=("plan",))


def glossary_of(train: pd.DataFrame, features: list[str], categorical=("plan",)) -> Glossary:
    return build_glossary(features, list(categorical), train, "churned", VOCABULARY)


def test_references_are_medians_and_modes_among_retained_customers_only():
    train = pd.DataFrame({"tx_30d_count": [0, 1, 2, 3, 40, 50], "plan": ["a", "a", "b", "b", "b", "c"],
                          "age_was_missing": [0, 0, 0, 1, 1, 1], "churned": [1, 0, 0, 0, 1, 1]})
    glossary = glossary_of(train, ["tx_30d_count", "plan", "age_was_missing"])
    assert glossary.references["tx_30d_count"] == Reference(median=2.0)  # of 1, 2, 3: churners left out
    assert glossary.references["plan"] == Reference(mode="b")
    assert glossary.references["age_was_missing"] == Reference(share=pytest.approx(1 / 3))
    assert Glossary.from_dict(glossary.to_dict()) == glossary  # what MLflow stores reads back the same


def test_reasons_carry_value_reference_direction_and_share_of_the_risk():
    train = pd.DataFrame({"tx_30d_count": [4, 4, 5, 3, 0], "tx_all_time_days_since_last": [2, 3, 3, 4, 40],
                          "plan": ["pro", "pro", "pro", "basic", "basic"], "churned": [0, 0, 0, 0, 1]})
    glossary = glossary_of(train, ["tx_30d_count", "tx_all_time_days_since_last", "plan"])
    contributions = pd.DataFrame({"tx_30d_count": [0.6, -0.1], "tx_all_time_days_since_last": [0.3, 0.2],
                                  "plan": [0.1, -0.3]})
    rows = pd.DataFrame({"tx_30d_count": [0, 6], "tx_all_time_days_since_last": [45.0, 1.0],
                         "plan": ["basic", "pro"]})
    first, second = explain_rows(contributions, rows, glossary, k=3)
    assert [r.feature for r in first] == ["tx_30d_count", "tx_all_time_days_since_last", "plan"]
    assert first[0].text == "0 tx in the last 30 days, fewer than retained customers (median 4), 60% of the risk"
    assert first[1].text == "45 days since the last tx, more than retained customers (median 3), 30% of the risk"
    assert first[2].text == "plan is basic, unlike retained customers (most often pro), 10% of the risk"
    assert [r.direction for r in first] == ["lower", "higher", "unlike"]
    assert sum(r.risk_share for r in first) == pytest.approx(1.0)
    assert [r.value for r in first] == ["0", "45", "basic"]
    # only what pushes towards churn is a reason; a day of one reads in the singular
    expected = "1 day since the last tx, fewer than retained customers (median 3), 100% of the risk"
    assert [r.text for r in second] == [expected]
    assert reasons_text(first).count("; ") == 2


def test_missing_values_and_unknown_references_say_so():
    glossary = Glossary(glossary_of(pd.DataFrame({"tx_30d_days_since_last": [1.0], "churned": [0]}),
                                    ["tx_30d_days_since_last"]).meanings)  # no references: an older version
    (reason,), = explain_rows(pd.DataFrame({"tx_30d_days_since_last": [0.4]}),
                              pd.DataFrame({"tx_30d_days_since_last": [np.nan]}), glossary)
    assert reason.value == "none" and reason.direction == "unknown"
    assert reason.text == "days since the last tx, looking back 30 days: none recorded, 100% of the risk"


@pytest.mark.parametrize("kind", ["logistic_regression", "gradient_boosting"])
def test_one_hot_parts_of_a_column_are_one_reason_with_the_customers_category(kind):
    frame = synthetic(800)
    model = fit_churn_model(frame, ["signal", "noise", "plan"], "churned", "feature_timestamp", candidates=(kind,))
    from retention_assets.model.explain import shap_contributions

    rows = frame.head(200)
    contributions = shap_contributions(model, rows, frame.sample(200, random_state=0))
    glossary = glossary_of(frame, model.feature_columns, model.categorical_columns)
    explained = explain_rows(contributions, rows, glossary, k=3)
    plan_reasons = [(i, r) for i, reasons in enumerate(explained) for r in reasons if r.feature == "plan"]
    assert plan_reasons
    for i, reason in plan_reasons:
        assert reason.value == rows["plan"].iloc[i] and reason.text.startswith(f"plan is {reason.value}")
    for reasons in explained:
        assert len({r.feature for r in reasons}) == len(reasons)
        assert not any("plan_" in r.text for r in reasons)
