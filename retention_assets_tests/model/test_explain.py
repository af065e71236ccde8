"""SHAP contributions add up to the model's log-odds and are reported per original column."""

from __future__ import annotations

import numpy as np
import pytest

from retention_assets.model.explain import global_importance, shap_contributions
from retention_assets.model.training import fit_churn_model
from retention_assets_tests.model.test_modeling import synthetic


@pytest.mark.parametrize("kind", ["logistic_regression", "gradient_boosting"])
def test_contributions_add_up_to_the_log_odds_and_name_original_columns(kind):
    frame = synthetic(800)
    model = fit_churn_model(frame, ["signal", "noise", "plan"], "churned", "feature_timestamp", candidates=(kind,))
    rows = frame.head(50)
    contributions = shap_contributions(model, rows, frame.sample(200, random_state=0))
    assert list(contributions.columns) == ["signal", "noise", "plan"]  # plan_basic/plan_pro summed back
    p = model.predict_proba(rows)
    logit = np.log(p / (1 - p))
    offsets = logit - contributions.sum(axis=1).to_numpy()
    assert np.allclose(offsets, offsets[0], atol=1e-6)  # one base value for every row: contributions add up
    assert global_importance(contributions).index[0] == "signal"
