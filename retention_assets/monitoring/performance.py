"""Realized model performance on scoring cohorts whose labels have matured.

A cohort is the set of customers scored at one as-of time. Once that time plus the label horizon
has passed, their labels are observable with the same label definition used in training, and the
scores can be judged: ROC AUC, PR AUC, Brier score and calibration, compared with the validation
ROC AUC of the model version that produced the scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from retention_assets.monitoring.estimation import (
    Calibration,
    Estimate,
    calibration_error,
    estimate_performance,
)


HISTORY_DIR = "score_history"


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


class VersionFacts:
    """What judging and estimating a version's cohorts needs from the registry, fetched once per version:
    its validation ROC AUC, its threshold and the calibration fitted on its validation predictions."""

    def __init__(self, tracking):
        self._tracking, self._cache = tracking, {}

    def _facts(self, version: str) -> tuple[float | None, float, Calibration]:
        if version not in self._cache:
            from retention_assets.model.serving import version_spec
            from retention_assets.model.tracking import version_record
            from retention_assets.monitoring.estimation import fit_calibration
            from retention_assets.monitoring.reference import LABEL, SCORE, load_validation_predictions

            validation = load_validation_predictions(self._tracking, version)
            self._cache[version] = (version_record(self._tracking, version)[1],
                                    float(version_spec(self._tracking, version)["threshold"]),
                                    fit_calibration(validation[SCORE], validation.get(LABEL, [])))
        return self._cache[version]

    def expected(self, version: str) -> float | None:
        return self._facts(version)[0]

    def threshold(self, version: str) -> float:
        return self._facts(version)[1]

    def calibration(self, version: str) -> Calibration:
        return self._facts(version)[2]


@dataclass(frozen=True)
class CohortEstimate:
    """Estimated performance of one cohort from its (calibrated) probabilities, labels or not."""

    as_of: str
    model_version: str
    estimate: Estimate
    expected_roc_auc: float | None  # the scoring model's validation ROC AUC
    matured: bool

    @property
    def estimated_drop(self) -> float | None:
        if self.expected_roc_auc is None or np.isnan(self.estimate.roc_auc):
            return None
        return self.expected_roc_auc - self.estimate.roc_auc


def estimate_cohort(scores: pd.DataFrame, threshold: float, calibration: Calibration | None,
                    expected_roc_auc: float | None, matured: bool, seed: int = 0) -> CohortEstimate:
    """The estimate over the cohort's active customers: the same population realized performance judges."""
    active = scores[scores["active_at_as_of"].astype(bool)]
    return CohortEstimate(
        as_of=pd.Timestamp(scores["feature_timestamp"].iloc[0]).isoformat(),
        model_version=str(scores["model_version"].iloc[0]),
        estimate=estimate_performance(active["churn_probability"].astype(float).to_numpy(), threshold,
                                      calibration, seed=seed),
        expected_roc_auc=expected_roc_auc, matured=matured)


@dataclass(frozen=True)
class PerformanceSignal:
    fired: bool
    reason: str
    cohort: str | None  # the as-of time of the cohort that fired
    model_version: str | None


def _estimate_signal(estimates: list[CohortEstimate], max_drop: float, champion: str | None,
                     triggers: bool) -> tuple[PerformanceSignal | None, str]:
    """The latest cohort still waiting for its labels, judged on its estimate: a signal if allowed, else a note."""
    waiting = [e for e in estimates if not e.matured and e.estimated_drop is not None]
    if not waiting:
        return None, ""
    latest = waiting[-1]
    est = latest.estimate
    text = (f"cohort {latest.as_of} (labels not matured): estimated ROC AUC {est.roc_auc:.3f} "
            f"[{est.roc_auc_low:.3f}, {est.roc_auc_high:.3f}] vs {latest.expected_roc_auc:.3f} at validation")
    if latest.estimated_drop <= max_drop:
        return None, f"{text}: within {max_drop}"
    text = f"{text}: dropped {latest.estimated_drop:.3f} > {max_drop}"
    if not triggers:
        return None, f"{text}; shown only (monitoring.estimate_triggers_retrain is off)"
    if champion is not None and latest.model_version != champion:
        return None, f"{text}; not a retrain signal: the champion is now version {champion}"
    return PerformanceSignal(True, f"{text} (monitoring.estimate_triggers_retrain)", latest.as_of,
                             latest.model_version), text


def performance_signal(cohorts: list[CohortPerformance], max_drop: float, champion: str | None = None,
                       estimates: list[CohortEstimate] | None = None,
                       estimate_triggers: bool = False) -> PerformanceSignal:
    """Fire on the latest judged cohort whose realized ROC AUC fell more than `max_drop` below expected.

    A drop of a version that is no longer the `champion` is reported but does not fire: the retrain
    it calls for has already happened. The estimate of the latest cohort whose labels have not matured
    is reported beside it and fires only with `estimate_triggers` (and no realized signal).
    """
    realized = _realized_signal(cohorts, max_drop, champion)
    if realized.fired:
        return realized
    estimated, note = _estimate_signal(estimates or [], max_drop, champion, estimate_triggers)
    if estimated is not None:
        return PerformanceSignal(True, f"{estimated.reason}; {realized.reason}", estimated.cohort,
                                 estimated.model_version)
    return PerformanceSignal(False, f"{realized.reason}; {note}" if note else realized.reason, None, None)


def _realized_signal(cohorts: list[CohortPerformance], max_drop: float, champion: str | None) -> PerformanceSignal:
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


REALIZED_COLUMNS = ["as_of", "model_version", "rows", "churn_rate", "roc_auc", "pr_auc", "brier", "calibration_error",
                    "mean_predicted", "expected_roc_auc", "judged", "auc_drop"]
ESTIMATED_COLUMNS = ["matured", "estimated_roc_auc", "estimated_roc_auc_low", "estimated_roc_auc_high",
                     "estimated_precision", "estimated_precision_low", "estimated_precision_high", "estimated_recall",
                     "estimated_recall_low", "estimated_recall_high", "expected_churn_rate", "estimate_covers_realized",
                     "calibration"]


def performance_table(results: list[CohortPerformance], estimates: list[CohortEstimate]) -> pd.DataFrame:
    """One row per scoring cohort: its estimate always, its realized metrics once its labels matured."""
    from dataclasses import asdict

    realized = {r.as_of: {**asdict(r), "auc_drop": r.auc_drop} for r in results}
    rows = []
    for e in estimates:
        est = e.estimate
        row = realized.get(e.as_of) or {"as_of": e.as_of, "model_version": e.model_version, "rows": est.rows,
                                        "expected_roc_auc": e.expected_roc_auc, "judged": False}
        judged = bool(row.get("judged"))
        rows.append({**row, "matured": e.matured, "estimated_roc_auc": est.roc_auc,
                     "estimated_roc_auc_low": est.roc_auc_low, "estimated_roc_auc_high": est.roc_auc_high,
                     "estimated_precision": est.precision, "estimated_precision_low": est.precision_low,
                     "estimated_precision_high": est.precision_high, "estimated_recall": est.recall,
                     "estimated_recall_low": est.recall_low, "estimated_recall_high": est.recall_high,
                     "expected_churn_rate": est.expected_churn_rate,
                     "estimate_covers_realized": est.covers(row["roc_auc"]) if judged else None,
                     "calibration": est.calibration})
    table = pd.DataFrame(rows, columns=[*REALIZED_COLUMNS, *ESTIMATED_COLUMNS])
    table["judged"] = table["judged"].fillna(False).astype(bool)
    return table


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def performance_markdown(table: pd.DataFrame) -> str:
    """Per cohort, rounded for reading: estimated ROC AUC with band, realized once matured, precision/recall."""
    header = ("| cohort | version | customers | estimated ROC AUC [5-95%] | realized ROC AUC | validation | "
              "est. precision | est. recall | churn rate est. / realized |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        band = f"{_fmt(r.estimated_roc_auc)} [{_fmt(r.estimated_roc_auc_low)}, {_fmt(r.estimated_roc_auc_high)}]"
        realized = _fmt(r.roc_auc) if r.judged else ("not judged" if r.matured else "labels not matured")
        if r.judged and r.estimate_covers_realized is False:
            realized = f"**{realized}** (outside the band)"
        lines.append(f"| {str(r.as_of)[:19]} | {r.model_version} | {r.rows} | {band} | {realized} | "
                     f"{_fmt(r.expected_roc_auc)} | {_fmt(r.estimated_precision)} | {_fmt(r.estimated_recall)} | "
                     f"{_fmt(r.expected_churn_rate)} / {_fmt(r.churn_rate) if r.judged else '-'} |")
    return "\n".join(lines)


def latest_numbers(table: pd.DataFrame) -> dict[str, float]:
    """Full-precision numbers of the latest cohort (and the latest judged one), for Dagster's plots over time."""
    numbers = {}
    if len(table):
        latest = table.iloc[-1]
        for column in ("estimated_roc_auc", "estimated_roc_auc_low", "estimated_roc_auc_high", "estimated_precision",
                       "estimated_recall", "expected_churn_rate"):
            numbers[column] = latest[column]
    judged = table[table["judged"]] if len(table) else table
    if len(judged):
        latest = judged.iloc[-1]
        numbers.update(realized_roc_auc=latest["roc_auc"], realized_estimated_roc_auc=latest["estimated_roc_auc"],
                       realized_auc_drop=latest["auc_drop"])
    return {k: float(v) for k, v in numbers.items() if v is not None and math.isfinite(float(v))}
