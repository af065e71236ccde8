"""Estimated performance of a scoring cohort before its labels mature (confidence-based estimation).

Churn labels need the whole horizon to arrive. If the model's probabilities are calibrated, each
customer is an expected fractional positive `p` and negative `1 - p`, so the cohort's ROC AUC and its
precision and recall at the model threshold have an expected value without a single label (CBPE, as
in NannyML). The band is the 5-95% interval of the realized metric over seeded Monte-Carlo label draws
`y ~ Bernoulli(p)`: what the metric would spread over if the probabilities were right.

The assumption is calibration on the scoring population. Raw scores that were not calibrated on
validation are first mapped by isotonic regression (pool-adjacent-violators, monotone, so the ranking
and the realized AUC are unchanged) fitted on the model's out-of-sample validation labels and scores.
An estimate notices what changes the scores (drift, a shifted score mix); a drop that leaves the score
distribution as it was (customers leaving without the signs the model knows) is invisible to it until
the labels arrive: the gap between estimated and realized performance is that signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRAWS = 200
BAND = (5.0, 95.0)
CALIBRATED_ECE = 0.03  # validation expected calibration error below which raw scores count as calibrated
CALIBRATION_BINS = 10
MAX_CELLS = 20_000_000  # label draws x customers held at once
MIN_VALIDATION = 50  # fewer validation rows than this: no calibration map is fitted


def calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-count bins of the predicted probability."""
    order = np.argsort(proba, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    return float(sum(len(c) * abs(labels[c].mean() - proba[c].mean()) for c in chunks) / max(len(labels), 1))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw scores to probabilities: knots (x, y) interpolated linearly, or identity."""

    method: str  # "none" (raw scores already calibrated, or no validation data) or "isotonic"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    validation_ece: float | None = None  # of the raw validation scores
    reason: str = ""

    def apply(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        if self.method == "none" or not self.x:
            return np.clip(scores, 0.0, 1.0)
        return np.interp(scores, np.asarray(self.x), np.asarray(self.y))


def isotonic_fit(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: the non-decreasing step fit of labels on scores, as knots at block means."""
    order = np.argsort(scores, kind="stable")
    s, y = np.asarray(scores, dtype=float)[order], np.asarray(labels, dtype=float)[order]
    # Equal scores form one block from the start.
    xs, start = np.unique(s, return_index=True)
    counts = np.diff(np.append(start, len(s))).astype(float)
    sums = np.add.reduceat(y, start)
    means, weights, lows, highs = [], [], [], []
    for x, c, t in zip(xs, counts, sums, strict=True):
        means.append(t / c)
        weights.append(c)
        lows.append(x)
        highs.append(x)
        while len(means) > 1 and means[-2] > means[-1]:
            w = weights[-2] + weights[-1]
            m = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w
            lo = lows[-2]
            hi = highs[-1]
            del means[-1], weights[-1], lows[-1], highs[-1]
            means[-1], weights[-1], lows[-1], highs[-1] = m, w, lo, hi
    knots_x, knots_y = [], []
    for m, lo, hi in zip(means, lows, highs, strict=True):
        knots_x.extend([lo, hi] if hi > lo else [lo])
        knots_y.extend([m, m] if hi > lo else [m])
    return np.asarray(knots_x), np.asarray(knots_y)


def fit_calibration(validation_scores, validation_labels, max_ece: float = CALIBRATED_ECE) -> Calibration:
    """Keep raw scores whose validation calibration error is below `max_ece`, else fit isotonic on validation."""
    scores = np.asarray(validation_scores, dtype=float)
    labels = np.asarray(validation_labels, dtype=float)
    if len(scores) < MIN_VALIDATION or len(labels) != len(scores) or len(np.unique(labels)) < 2:
        return Calibration("none", reason=f"raw scores assumed calibrated: fewer than {MIN_VALIDATION} "
                                          "validation predictions with both classes to check them on")
    ece = calibration_error(labels, scores)
    if ece < max_ece:
        return Calibration("none", validation_ece=ece,
                           reason=f"raw scores used: validation calibration error {ece:.3f} < {max_ece}")
    x, y = isotonic_fit(scores, labels)
    return Calibration("isotonic", tuple(float(v) for v in x), tuple(float(v) for v in y), ece,
                       f"isotonic calibration fitted on {len(scores)} validation predictions "
                       f"(raw validation calibration error {ece:.3f} >= {max_ece})")


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (what the Mann-Whitney AUC needs)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=float)
    sorted_scores = scores[order]
    _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mean_rank = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    return ranks


def expected_roc_auc(scores, proba) -> float:
    """ROC AUC with customer i counted as `proba[i]` positive and `1 - proba[i]` negative, ranked by `scores`.

    The expected pairwise ordering: sum over pairs i != j of p_i (1 - p_j) [s_i > s_j] (ties count half),
    over sum of p_i (1 - p_j).
    """
    s, p = np.asarray(scores, dtype=float), np.asarray(proba, dtype=float)
    n = len(p)
    # Pairs (i, j), i != j: sum_i p_i * (sum of (1 - p_j) over j ranked below i, ties half).
    order = np.argsort(s, kind="stable")
    neg = 1.0 - p[order]
    sorted_s = s[order]
    _, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    group_neg = np.add.reduceat(neg, start) if n else np.array([])
    below = np.concatenate([[0.0], np.cumsum(group_neg)[:-1]]) if n else np.array([])
    group_of = np.repeat(np.arange(len(start)), counts)
    # Within a tie group the other members count half (excluding the customer itself).
    wins = below[group_of] + 0.5 * (group_neg[group_of] - neg)
    numerator = float(np.sum(p[order] * wins))
    denominator = float(np.sum(p) * np.sum(1.0 - p) - np.sum(p * (1.0 - p)))
    return numerator / denominator if denominator > 0 else float("nan")


def _auc_of_draws(ranks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mann-Whitney ROC AUC of each row of a (draws x customers) label matrix."""
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    rank_sum = labels @ ranks
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


@dataclass(frozen=True)
class Estimate:
    rows: int
    expected_churn_rate: float
    roc_auc: float
    roc_auc_low: float
    roc_auc_high: float
    precision: float  # at the model threshold
    precision_low: float
    precision_high: float
    recall: float
    recall_low: float
    recall_high: float
    calibration: str  # how the probabilities were obtained (Calibration.reason)

    def covers(self, roc_auc: float) -> bool:
        return self.roc_auc_low <= roc_auc <= self.roc_auc_high


def estimate_performance(scores, threshold: float, calibration: Calibration | None = None, draws: int = DRAWS,
                         seed: int = 0, band: tuple[float, float] = BAND) -> Estimate:
    """Expected ROC AUC, precision and recall at `threshold` of one cohort's raw scores, with a Monte-Carlo band.

    Customers are flagged on the raw score (as scoring does); the calibrated probability is their chance
    to churn. The seed makes the band reproducible; it does not depend on the clock.
    """
    calibration = calibration or Calibration("none", reason="raw scores assumed calibrated")
    s = np.asarray(scores, dtype=float)
    p = calibration.apply(s)
    nan = float("nan")
    if len(s) == 0:
        return Estimate(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, calibration.reason)
    flagged = s >= threshold
    expected_tp = float(p[flagged].sum())
    precision = expected_tp / flagged.sum() if flagged.any() else nan
    recall = expected_tp / p.sum() if p.sum() > 0 else nan

    rng = np.random.default_rng(seed)
    ranks = _average_ranks(s)
    aucs, tp, positives = np.empty(draws), np.empty(draws), np.empty(draws)
    step = max(1, MAX_CELLS // len(p))  # draws at a time: a million customers stay within ~160 MB
    for start in range(0, draws, step):
        chunk = slice(start, min(draws, start + step))
        labels = (rng.random((chunk.stop - chunk.start, len(p))) < p).astype(float)
        aucs[chunk] = _auc_of_draws(ranks, labels)
        tp[chunk] = labels[:, flagged].sum(axis=1)
        positives[chunk] = labels.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precisions = tp / flagged.sum() if flagged.any() else np.full(draws, nan)
        recalls = np.where(positives > 0, tp / positives, nan)

    def interval(values: np.ndarray) -> tuple[float, float]:
        values = values[~np.isnan(values)]
        if not len(values):
            return nan, nan
        low, high = np.percentile(values, band)
        return float(low), float(high)

    auc_low, auc_high = interval(aucs)
    precision_low, precision_high = interval(precisions)
    recall_low, recall_high = interval(recalls)
    return Estimate(len(s), float(p.mean()), expected_roc_auc(s, p), auc_low, auc_high, float(precision),
                    precision_low, precision_high, float(recall), recall_low, recall_high, calibration.reason)
