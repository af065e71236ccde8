"""Small PNG plots as base64 strings, for Markdown metadata in the Dagster UI."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence


def _figure(width: float = 3.6, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, plt.subplots(figsize=(width, height), dpi=80)


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
    plt, (fig, ax) = _figure(4.0, 2.6)
    ax.hist(values, bins=bins, color="#1f77b4")
    ax.set_title(title)
    return _to_base64(plt, fig)


def markdown_image(png_base64: str, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{png_base64})"
