"""Realized model performance on scoring cohorts whose labels have matured.

A cohort is the set of customers scored at one as-of time. Once that time plus the label horizon
has passed, their labels are observable with the same label definition used in training, and the
scores can be judged: ROC AUC, PR AUC, Brier score and calibration, compared with the validation
ROC AUC of the model version that produced the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


HISTORY_DIR = "score_history"
CALIBRATION_BINS = 10


def history_path(data_path: Path, as_of: pd.Timestamp) -> Path:
    return data_path / HISTORY_DIR / f"scores_{pd.Timestamp(as_of).strftime('%Y%m%dT%H%M%SZ')}.parquet"


COHORT_COLUMNS = ("feature_timestamp", "churn_probability", "active_at_as_of", "model_version")


def record_cohort(engine, scores_table: str, data_path: Path, as_of) -> Path:
    """Keep each scoring cohort (re-scoring the same as-of time replaces it), written atomically by the
    engine: the key and what judging it needs."""
    q = engine.dialect.ident
    scores = engine.relation(scores_table)
    key = next(iter(engine.column_types(scores)))  # scores lead with the entity key
    columns = ", ".join(q(c) for c in (key, *COHORT_COLUMNS))
    target = history_path(data_path, pd.Timestamp(as_of))
    engine.export(f"SELECT {columns} FROM {scores}", target)
    return target


def cohort_paths(data_path: Path) -> list[Path]:
    return sorted((data_path / HISTORY_DIR).glob("scores_*.parquet"))


def load_cohorts(data_path: Path) -> list[pd.DataFrame]:
    return [pd.read_parquet(p) for p in cohort_paths(data_path)]


def calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-count bins of the predicted probability."""
    order = np.argsort(proba, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    return float(sum(len(c) * abs(labels[c].mean() - proba[c].mean()) for c in chunks) / max(len(labels), 1))


@dataclass(frozen=True)
class CohortPerformance:
    as_of: str
    model_version: str
    rows: int
    churn_rate: float
    roc_auc: float
    pr_auc: float
    brier: float
    calibration_error: float
    mean_predicted: float
    expected_roc_auc: float | None  # the scoring model's validation ROC AUC
    judged: bool  # enough rows and both classes

    @property
    def auc_drop(self) -> float | None:
        if self.expected_roc_auc is None or not self.judged:
            return None
        return self.expected_roc_auc - self.roc_auc


def cohort_performance(scores: pd.DataFrame, labels: pd.DataFrame, key: str, label: str,
                       expected_roc_auc: float | None, min_rows: int) -> CohortPerformance:
    """Join one cohort's scores (customers active when scored) with their matured labels."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    active = scores[scores["active_at_as_of"].astype(bool)]
    joined = active.merge(labels[[key, label]].dropna(), on=key, how="inner", validate="one_to_one")
    y = joined[label].astype(int).to_numpy()
    p = joined["churn_probability"].astype(float).to_numpy()
    judged = len(joined) >= min_rows and len(np.unique(y)) == 2
    nan = float("nan")
    return CohortPerformance(
        as_of=pd.Timestamp(scores["feature_timestamp"].iloc[0]).isoformat(),
        model_version=str(scores["model_version"].iloc[0]), rows=len(joined),
        churn_rate=float(y.mean()) if len(y) else nan,
        roc_auc=float(roc_auc_score(y, p)) if judged else nan,
        pr_auc=float(average_precision_score(y, p)) if judged else nan,
        brier=float(brier_score_loss(y, p)) if len(y) else nan,
        calibration_error=calibration_error(y, p) if len(y) else nan,
        mean_predicted=float(p.mean()) if len(p) else nan,
        expected_roc_auc=expected_roc_auc, judged=judged,
    )


@dataclass(frozen=True)
class PerformanceSignal:
    fired: bool
    reason: str
    cohort: str | None  # the as-of time of the cohort that fired
    model_version: str | None


def performance_signal(cohorts: list[CohortPerformance], max_drop: float,
                       champion: str | None = None) -> PerformanceSignal:
    """Fire on the latest judged cohort whose realized ROC AUC fell more than `max_drop` below expected.

    A drop of a version that is no longer the `champion` is reported but does not fire: the retrain
    it calls for has already happened.
    """
    judged = [c for c in cohorts if c.auc_drop is not None]
    if not judged:
        return PerformanceSignal(False, "no matured cohort to judge yet (labels need the horizon to pass)",
                                 None, None)
    latest = judged[-1]
    text = (f"cohort {latest.as_of} (model version {latest.model_version}, {latest.rows} customers): realized ROC "
            f"AUC {latest.roc_auc:.3f} vs {latest.expected_roc_auc:.3f} at validation")
    if latest.auc_drop > max_drop:
        text = f"{text}: dropped {latest.auc_drop:.3f} > {max_drop}"
        if champion is not None and latest.model_version != champion:
            return PerformanceSignal(False, f"{text}; not a retrain signal: the champion is now version {champion}",
                                     None, None)
        return PerformanceSignal(True, text, latest.as_of, latest.model_version)
    return PerformanceSignal(False, f"{text}: within {max_drop}", None, None)
