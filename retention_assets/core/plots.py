"""Small PNG plots as base64 strings, for Markdown metadata in the Dagster UI."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence


DPI = 100  # 8.4 in x 100 = 840 px: readable at 1x in the UI's metadata panel
MIN_WIDTH_IN = 8.4
FONT_PT = 11  # labels and ticks at 11 pt (about 15 px at this dpi)


def _figure(width: float = MIN_WIDTH_IN, height: float = 5.0):
    """A figure at least MIN_WIDTH_IN wide (callers' smaller widths are raised), fonts legible at 1x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 2, "axes.labelsize": FONT_PT,
                         "xtick.labelsize": FONT_PT - 1, "ytick.labelsize": FONT_PT - 1,
                         "legend.fontsize": FONT_PT})
    return plt, plt.subplots(figsize=(max(width, MIN_WIDTH_IN), height), dpi=DPI)


def _to_base64(plt, fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def roc_curve_png(fpr: Sequence[float], tpr: Sequence[float], auc: float, title: str = "ROC curve") -> str:
    plt, (fig, ax) = _figure()
    ax.plot(fpr, tpr, color="#1f77b4", label=f"AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1)
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _to_base64(plt, fig)


def histogram_png(values: Sequence[float], title: str, bins: int = 30) -> str:
    plt, (fig, ax) = _figure(height=4.2)
    ax.hist(values, bins=bins, color="#1f77b4")
    ax.set_title(title)
    return _to_base64(plt, fig)


def markdown_image(png_base64: str, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{png_base64})"


def precision_recall_png(y_true: Sequence[int], proba: Sequence[float], title: str = "Precision-recall") -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, proba)
    plt, (fig, ax) = _figure()
    ax.plot(recall, precision, color="#ff7f0e", label=f"AP {average_precision_score(y_true, proba):.3f}")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return _to_base64(plt, fig)


def calibration_png(y_true: Sequence[int], proba: Sequence[float], bins: int = 10, title: str = "Calibration") -> str:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y_true, proba, n_bins=bins, strategy="quantile")
    plt, (fig, ax) = _figure()
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1)
    ax.plot(predicted, observed, marker="o", color="#2ca02c")
    ax.set_xlabel("Predicted probability")
    ax.set_ylabel("Observed churn rate")
    ax.set_title(title)
    return _to_base64(plt, fig)


def line_png(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, marker_x: float | None = None) -> str:
    plt, (fig, ax) = _figure(height=4.5)
    ax.plot(x, y, color="#1f77b4")
    if marker_x is not None:
        ax.axvline(marker_x, color="#d62728", linestyle="--", linewidth=1)
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _to_base64(plt, fig)


def bar_png(names: Sequence[str], values: Sequence[float], title: str) -> str:
    """Horizontal bars, largest on top (for importances); long names (readable feature names) are wrapped."""
    import textwrap

    labels = [textwrap.fill(str(n), 48) for n in names]
    lines = sum(label.count("\n") + 1 for label in labels)
    plt, (fig, ax) = _figure(10.0, 0.3 * lines + 0.12 * len(labels) + 1.2)
    ax.barh(labels[::-1], list(values)[::-1], color="#1f77b4")
    ax.tick_params(axis="y", labelsize=FONT_PT - 1)
    ax.set_title(title)
    return _to_base64(plt, fig)


_SEVERITY_COLOURS = {"significant": "#d62728", "moderate": "#ff7f0e", "none": "#7f7f7f", "expected": "#9ecae1"}


def drift_contribution_png(features: Sequence[str], contributions: Sequence[float], psi: Sequence[float],
                           severities: Sequence[str], calendar: Sequence[bool],
                           title: str = "Drift by importance-weighted contribution (PSI x importance share)") -> str:
    """Horizontal bars of each feature's importance-weighted drift, largest on top, coloured by PSI
    severity and labelled with the PSI; calendar features are hatched and marked "[calendar]".
    1100 px wide with 10 pt labels: readable at 1x in the Dagster UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    labels = [f"{f} [calendar]" if c else str(f) for f, c in zip(features, calendar, strict=True)]
    n = max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(11.0, 1.6 + 0.36 * n), dpi=100)
    y = list(range(len(labels)))[::-1]
    colours = [_SEVERITY_COLOURS.get(s, "#1f77b4") for s in severities]
    bars = ax.barh(y, list(contributions), color=colours, edgecolor="#333333", linewidth=0.6)
    for bar, is_calendar in zip(bars, calendar, strict=True):
        if is_calendar:
            bar.set_hatch("//")
    top = max([float(v) for v in contributions] + [1e-9])
    for bar, value in zip(bars, psi, strict=True):
        ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, f"PSI {value:.3f}",
                va="center", fontsize=9)
    ax.set_xlim(0, top * 1.18)
    ax.set_yticks(y, labels, fontsize=10)
    ax.tick_params(axis="x", labelsize=9)
    ax.set_xlabel("PSI (capped) x share of the model's SHAP importance", fontsize=10)
    ax.set_title(title, fontsize=12)
    ax.legend(handles=[Patch(facecolor=c, label=s) for s, c in _SEVERITY_COLOURS.items()], fontsize=9,
              loc="lower right", title="PSI severity", title_fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def performance_over_time_png(cohorts: Sequence[str], estimated: Sequence[float], low: Sequence[float],
                              high: Sequence[float], realized: Sequence[float], expected: Sequence[float],
                              title: str = "ROC AUC per scoring cohort: estimated (band) and realized") -> str:
    """Estimated ROC AUC with its band, realized ROC AUC where labels matured (NaN elsewhere) and the
    validation ROC AUC, per cohort; 880 px wide with labels readable at 1x."""
    import numpy as np

    plt, (fig, ax) = _figure(11.0, 4.6)
    x = np.arange(len(cohorts))
    est, lo, hi = (np.asarray(v, dtype=float) for v in (estimated, low, high))
    if len(x) > 1:
        ax.fill_between(x, lo, hi, color="#1f77b4", alpha=0.15)
    ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="o-", color="#1f77b4", capsize=6,
                label="estimated, 5-95% band\n(calibrated probabilities)")
    ax.plot(x, realized, color="#d62728", marker="s", markersize=8, linestyle="-", label="realized\n(matured labels)")
    ax.plot(x, expected, color="#555555", marker="_", markersize=24, linestyle="--", linewidth=1.2,
            label="validation")
    names = [str(c)[:10] for c in cohorts]
    if len(set(names)) < len(names):  # several cohorts a day: show their times
        names = [str(c)[:16] for c in cohorts]
    ax.set_xticks(x, names, fontsize=11)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.tick_params(axis="y", labelsize=11)
    ax.set_xlabel("scoring cohort (as of)", fontsize=12)
    ax.set_ylabel("ROC AUC", fontsize=12)
    ax.set_title(title, fontsize=13)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11, frameon=False)
    return _to_base64(plt, fig)
