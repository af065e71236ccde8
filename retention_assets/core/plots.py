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
