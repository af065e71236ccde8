"""Training, validating and applying the churn model (scikit-learn, imported lazily).

Preprocessing lives inside the Pipeline, so imputation, scaling and encoding are fitted on training
folds only. Validation is out of time when the training rows span two or more cutoffs (fit on the
earlier ones, validate on the latest), else stratified cross-validation, folded by customer when the
entity key is given (one customer's rows of several cutoffs never validate each other). Customers
whose rows repeat identically across cutoffs rule out-of-time validation out: its training rows
would be copies of its validation rows. The candidate with the best validation ROC AUC is refitted
on every training row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

CANDIDATES = ("logistic_regression", "gradient_boosting")


@dataclass
class TrainedModel:
    """The fitted pipeline and everything needed to apply and judge it."""

    pipeline: Any
    model_name: str
    numeric_columns: list[str]
    categorical_columns: list[str]
    threshold: float
    metrics: dict[str, float]
    candidate_metrics: dict[str, dict[str, float]]
    validation: str
    roc_curve: tuple[list[float], list[float]]
    trained_as_of: str
    feature_importance: dict[str, float] = field(default_factory=dict)
    validation_labels: list[int] = field(default_factory=list)  # out-of-sample, for plots and comparisons
    validation_proba: list[float] = field(default_factory=list)
    validation_rows: list[int] = field(default_factory=list)  # positions in the training rows, same order
    registered_version: str | None = None  # the model registry version this model was logged as
    validation_keys: pd.DataFrame | None = None  # (key, feature_timestamp) of the validation rows, same order
    serving_features: list[str] = field(default_factory=list)  # the features its predictions depend on
    validation_reason: str = ""  # why this validation scheme (and any fallback from out-of-time), in words
    repeated_customers: int = 0  # customers whose feature rows repeat identically across cutoffs
    population: dict = field(default_factory=dict)  # the training population (rows per cutoff, customers, ...)

    @property
    def feature_columns(self) -> list[str]:
        return [*self.numeric_columns, *self.categorical_columns]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(self.input_frame(frame))[:, 1]

    def input_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pipeline's input from rows that may hold only the serving features: a feature the model never
        reads is passed as missing (its imputed value cannot change a prediction or a SHAP value)."""
        return model_frame(frame.reindex(columns=self.feature_columns), self.numeric_columns, self.categorical_columns)


def split_feature_types(frame: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for column in features:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            numeric.append(column)
        else:
            categorical.append(column)
    return numeric, categorical


def model_frame(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input: floats (NaN for missing) and plain object strings."""
    columns = {column: pd.to_numeric(frame[column], errors="raise").astype("float64") for column in numeric}
    columns.update({column: frame[column].astype(object).where(frame[column].notna(), None) for column in categorical})
    return pd.DataFrame(columns, index=frame.index)


def make_pipeline(kind: str, numeric: list[str], categorical: list[str], seed: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                                  ("scale", StandardScaler())]), numeric),
            ("categorical", Pipeline([
                ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)),
            ]), categorical),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    if kind == "logistic_regression":
        estimator = LogisticRegression(max_iter=2000, C=0.5)
    elif kind == "gradient_boosting":
        estimator = HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0,
            early_stopping=False, random_state=seed,
        )
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose from {CANDIDATES}")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def best_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predicted = (proba >= threshold).astype(int)
    return {
        "log_loss": float(log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "lift_top_decile": top_decile_lift(y_true, proba),
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
        "brier": float(brier_score_loss(y_true, proba)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "threshold": float(threshold),
        "base_rate": float(np.mean(y_true)),
        "n_validation": int(len(y_true)),
    }


def top_decile_lift(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Churn rate among the 10% highest scores divided by the overall churn rate."""
    base = float(np.mean(y_true))
    if base == 0:
        return float("nan")
    n = max(1, int(np.ceil(0.1 * len(proba))))
    top = np.argsort(-proba, kind="stable")[:n]
    return float(np.mean(np.asarray(y_true)[top]) / base)


def _validation_predictions(kind, x, y, timestamps, numeric, categorical, seed, folds, validation_cutoffs=None,
                            groups=None, out_of_time=True):
    """Out-of-sample predictions, the labels they belong to, the scheme and the rows' positions.

    `validation_cutoffs` (None: the latest cutoff) are the snapshots validated on out of time. With
    `groups` (the entity key of every row) cross-validation folds by customer, so no customer is in both
    a training and a validation fold; `out_of_time` False skips the out-of-time split (see `validation_plan`).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    cutoffs = np.sort(np.unique(timestamps))
    if out_of_time and len(cutoffs) >= 2:
        valid = _validation_mask(timestamps, validation_cutoffs)
        if len(np.unique(y[valid])) == 2 and len(np.unique(y[~valid])) == 2:
            pipe = make_pipeline(kind, numeric, categorical, seed).fit(x[~valid], y[~valid])
            return y[valid], pipe.predict_proba(x[valid])[:, 1], "out_of_time", np.flatnonzero(valid)
    n_splits = cv_splits(y, folds, groups)
    if n_splits < 2:
        raise ValueError("too few examples of the minority class to validate the model")
    proba = np.zeros(len(y))
    if groups is None:
        splits, scheme = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(x, y), "stratified_cv"
    else:
        splits = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(x, y, groups)
        scheme = "grouped_cv"
    for train_idx, test_idx in splits:
        pipe = make_pipeline(kind, numeric, categorical, seed).fit(x.iloc[train_idx], y[train_idx])
        proba[test_idx] = pipe.predict_proba(x.iloc[test_idx])[:, 1]
    return y, proba, scheme, np.arange(len(y))


def cv_splits(y: np.ndarray, folds: int, groups: np.ndarray | None = None) -> int:
    """Folds of a cross-validation: at most `folds`, the minority class's rows and (grouped) the customers."""
    n = int(min(folds, np.bincount(y).min()))
    return n if groups is None else int(min(n, len(np.unique(groups))))


def repeated_customers(train: pd.DataFrame, features: list[str], key: str, timestamp: str) -> int:
    """Customers with two or more cutoffs whose feature rows (and labels) are identical: a static table
    copied to every cutoff. Such rows must never validate each other."""
    if train.empty or train[timestamp].nunique() < 2:
        return 0
    hashed = pd.util.hash_pandas_object(train[features].astype(str), index=False)
    frame = pd.DataFrame({"key": train[key].to_numpy(), "row": hashed.to_numpy()})
    copies = frame.groupby(["key", "row"]).size()
    return int(copies[copies >= 2].index.get_level_values("key").nunique())


def validation_plan(y: np.ndarray, timestamps: np.ndarray, folds: int, repeats: int,
                    grouped: bool, validation_cutoffs: Sequence[datetime] | None = None) -> tuple[bool, str]:
    """Whether out-of-time validation applies, and why (or why not), in words for the summary.
    `validation_cutoffs` (None: the latest cutoff) are the snapshots validated on out of time."""
    cutoffs = np.sort(np.unique(timestamps))
    n_splits = cv_splits(y, folds) if len(np.unique(y)) == 2 else folds
    cv = f"validated by {n_splits}-fold CV{' grouped by customer' if grouped else ''}"
    if len(cutoffs) < 2:
        when = pd.Timestamp(cutoffs[0]).isoformat() if len(cutoffs) else "none"
        return False, f"one training cutoff only ({when}): {cv}"
    valid = _validation_mask(timestamps, validation_cutoffs)
    shown = sorted({pd.Timestamp(t).date().isoformat() for t in timestamps[valid]})
    latest_only = validation_cutoffs is None or np.array_equal(valid, _validation_mask(timestamps, None))
    if latest_only:
        which, verb, others = f"the latest cutoff {shown[0] if shown else ''}".rstrip(), "holds", "the earlier cutoffs"
    else:
        which, verb, others = f"the validation cutoff(s) {', '.join(shown)}", "hold", "the other cutoffs"
    if repeats:
        return False, (f"{repeats} customers' feature rows repeat identically across cutoffs, so {which} would be "
                       f"validated on copies of training rows: {cv}")
    for rows, name, says in ((y[valid], which, verb), (y[~valid], others, "hold")):
        classes = np.unique(rows)
        if len(classes) < 2:
            kind = "no rows" if not len(classes) else ("all churned" if classes.tolist() == [1] else "all retained")
            return False, f"{name} {says} a single class ({kind}): {cv}"
    fitted = len(np.unique(timestamps[~valid]))
    return True, f"out of time: fitted on {fitted} {'earlier' if latest_only else 'other'} cutoff(s), validated on {which}"


def _validation_mask(timestamps: np.ndarray, cutoffs: Sequence[datetime] | None) -> np.ndarray:
    """Which rows are validated out of time: those at one of `cutoffs` (None: the latest cutoff; naive
    timestamps are UTC)."""
    if cutoffs is None:
        return timestamps == np.sort(np.unique(timestamps))[-1]
    return pd.to_datetime(pd.Series(timestamps), utc=True).isin(pd.to_datetime(list(cutoffs), utc=True)).to_numpy()


def fit_churn_model(
    train: pd.DataFrame,
    features: list[str],
    label: str,
    timestamp: str,
    *,
    seed: int = 42,
    folds: int = 5,
    threshold: float | None = None,
    trained_as_of: str = "",
    candidates: tuple[str, ...] = CANDIDATES,
    threads: int | None = 1,
    key: str | None = None,
    validation_cutoffs: Sequence[datetime] | None = None,
) -> TrainedModel:
    """Validate every candidate, keep the best by ROC AUC, refit it on all training rows.

    `threads` caps OpenMP threads while fitting: gradient boosting's threads spin-wait on each other,
    and on a shared 2-core machine (parallel Dagster steps, CI) a 2-thread fit ran 8-10x slower than
    a 1-thread one. None leaves the library default.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="openmp"):
        model = _fit_churn_model(train, features, label, timestamp, seed, folds, threshold, trained_as_of, candidates,
                                 validation_cutoffs, key=key)
    if key is not None:
        model.validation_keys = train.iloc[model.validation_rows][[key, timestamp]].reset_index(drop=True)
    model.serving_features = used_features(model)
    return model


def used_features(model: TrainedModel) -> list[str]:
    """The features a fitted pipeline's predictions depend on, in feature order.

    A tree ensemble reads only the features it splits on; a linear model every feature with a non-zero
    coefficient. The others can be missing at scoring time without changing any probability or SHAP
    value, so serving (the online store) needs only these.
    """
    from retention_assets.model.explain import source_columns

    estimator = model.pipeline.named_steps["model"]
    sources = source_columns(model)
    if hasattr(estimator, "_predictors"):  # HistGradientBoosting
        used = {int(node["feature_idx"]) for trees in estimator._predictors for tree in trees
                for node in tree.nodes if not node["is_leaf"]}
    elif hasattr(estimator, "coef_"):
        used = set(np.flatnonzero(np.any(np.asarray(estimator.coef_) != 0, axis=0)).tolist())
    else:  # an unknown estimator: assume it reads everything
        used = set(range(len(sources)))
    wanted = {sources[i] for i in used}
    return [f for f in model.feature_columns if f in wanted]


def _fit_churn_model(train, features, label, timestamp, seed, folds, threshold, trained_as_of, candidates,
                     validation_cutoffs=None, key=None) -> TrainedModel:
    from sklearn.metrics import roc_curve

    y = train[label].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise ValueError(f"the training rows hold a single label class ({np.unique(y).tolist()})")
    numeric, categorical = split_feature_types(train, features)
    x = model_frame(train, numeric, categorical)
    timestamps = train[timestamp].to_numpy()
    groups = None if key is None else train[key].astype(str).to_numpy()
    repeats = 0 if key is None else repeated_customers(train, features, key, timestamp)
    out_of_time, reason = validation_plan(y, timestamps, folds, repeats, groups is not None, validation_cutoffs)
    results = {}
    for kind in candidates:
        y_valid, proba, scheme, rows = _validation_predictions(kind, x, y, timestamps, numeric, categorical, seed, folds,
                                                               validation_cutoffs, groups=groups,
                                                               out_of_time=out_of_time)
        chosen = threshold if threshold is not None else best_f1_threshold(y_valid, proba)
        results[kind] = (evaluate(y_valid, proba, chosen), y_valid, proba, scheme, rows)
    best = max(results, key=lambda k: results[k][0]["roc_auc"])
    metrics, y_valid, proba, scheme, rows = results[best]
    fpr, tpr, _ = roc_curve(y_valid, proba)
    pipeline = make_pipeline(best, numeric, categorical, seed).fit(x, y)
    model = TrainedModel(
        pipeline=pipeline,
        model_name=best,
        numeric_columns=numeric,
        categorical_columns=categorical,
        threshold=metrics["threshold"],
        metrics={**metrics, "n_train": int(len(y))},
        candidate_metrics={k: v[0] for k, v in results.items()},
        validation=scheme,
        roc_curve=(fpr.round(5).tolist(), tpr.round(5).tolist()),
        trained_as_of=trained_as_of,
        validation_labels=[int(v) for v in y_valid],
        validation_proba=[float(p) for p in proba],
        validation_rows=[int(r) for r in rows],
        validation_reason=reason,
        repeated_customers=repeats,
    )
    model.feature_importance = permutation_importances(model, x, y, seed)
    return model


def permutation_importances(
    model: TrainedModel, x: pd.DataFrame, y: np.ndarray, seed: int, max_rows: int = 1500
) -> dict[str, float]:
    """Permutation importance (ROC AUC drop) of every feature, most important first.

    One repeat on a capped sample keeps it to a few seconds; it is a guide to what drives the
    model, not a statistic to test against.
    """
    from sklearn.inspection import permutation_importance

    positions = np.arange(len(x))
    if len(x) > max_rows:
        positions = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
    sample, ys = x.iloc[positions], y[positions]
    result = permutation_importance(model.pipeline, sample, ys, scoring="roc_auc", n_repeats=1, random_state=seed)
    order = np.argsort(-result.importances_mean, kind="stable")
    return {x.columns[i]: round(float(result.importances_mean[i]), 6) for i in order}


def risk_tier(proba: np.ndarray, medium: float, high: float) -> np.ndarray:
    return np.where(proba >= high, "high", np.where(proba >= medium, "medium", "low"))
