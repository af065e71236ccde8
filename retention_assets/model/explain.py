"""SHAP explanations of the churn model, in terms of the original feature columns.

SHAP values are computed on the pipeline's preprocessed matrix (log-odds contributions) with the
explainer that is exact for the model kind (linear or tree), then one-hot columns are summed back to
the categorical column they came from, so a reason reads "plan", not "plan_basic".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_assets.model.training import TrainedModel


def source_columns(model: TrainedModel) -> list[str]:
    """For every preprocessed column, the original feature it came from."""
    pre = model.pipeline.named_steps["preprocess"]
    names = list(pre.get_feature_names_out())
    sources = []
    numeric = set(model.numeric_columns)
    by_length = sorted(model.categorical_columns, key=len, reverse=True)
    for name in names:
        if name in numeric:
            sources.append(name)
            continue
        match = next((c for c in by_length if name.startswith(f"{c}_")), name)
        sources.append(match)
    return sources


def shap_contributions(model: TrainedModel, rows: pd.DataFrame, background: pd.DataFrame) -> pd.DataFrame:
    """Per row and original feature: the SHAP contribution to the churn log-odds."""
    import shap

    pre, estimator = model.pipeline.named_steps["preprocess"], model.pipeline.named_steps["model"]
    x = np.asarray(pre.transform(model.input_frame(rows)), dtype=float)
    if model.model_name == "logistic_regression":
        bg = np.asarray(pre.transform(model.input_frame(background)), dtype=float)
        values = shap.LinearExplainer(estimator, bg).shap_values(x)
    else:
        values = shap.TreeExplainer(estimator).shap_values(x)
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes)
        values = values[:, :, 1]
    per_column = pd.DataFrame(values, columns=source_columns(model), index=rows.index)
    return per_column.T.groupby(level=0, sort=False).sum().T


def global_importance(contributions: pd.DataFrame) -> pd.Series:
    """Mean absolute SHAP value per feature, largest first."""
    return contributions.abs().mean().sort_values(ascending=False, kind="stable")
