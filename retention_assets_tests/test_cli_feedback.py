"""The CLI's feedback: one-line errors for common mistakes, examples in every --help, readable links."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys

import pytest

from retention_assets.cli import EXAMPLES, build_parser


def retention(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RETENTION_SETTINGS", "DAGSTER_HOME")}
    return subprocess.run([sys.executable, "-m", "retention_assets.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_serve_on_a_busy_port_says_so_in_one_line():
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(retention("serve", "--port", str(port)), f"port {port} is in use", "--port")


@pytest.mark.parametrize("command", [["quickstart"], ["score", "1"], ["serve"], ["champion", "list"]])
def test_a_missing_settings_file_is_one_line(command, tmp_path):
    assert_one_line_error(retention(*command, "--settings", "nope.yaml", cwd=tmp_path),
                          "settings file nope.yaml not found")


def _subcommands(parser):
    for action in parser._subparsers._group_actions:  # argparse keeps them here
        for name, sub in action.choices.items():
            yield name, sub
            if sub._subparsers is not None:
                yield from _subcommands(sub)


def test_every_subcommand_help_ends_with_an_example():
    seen = dict(_subcommands(build_parser()))
    assert {"quickstart", "score", "serve", "sample", "explore", "champion", "set"} <= set(seen)
    for name, sub in seen.items():
        text = sub.format_help()
        assert "example:\n  retention " in text or "example:\n  RETENTION_" in text or "DATABRICKS_HOST" in text, name
        assert EXAMPLES[name if name != "run" else "quickstart"].splitlines()[0] in text


def test_step_lines_name_the_step_and_its_times():
    from retention_assets.progress import step_line

    assert step_line(65.2, "churn_model", "done", 38.0) == "[ 1m05s] done     churn_model (38s)"
    assert step_line(3, "gold_features", "started") == "[    3s] started  gold_features"


def test_plots_are_at_least_800_px_wide_with_big_labels():
    import numpy as np
    from PIL import Image

    from retention_assets.core import plots

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    proba = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1)
    pictures = {
        "roc": plots.roc_curve_png([0, 0.2, 1], [0, 0.7, 1], auc=0.81),
        "histogram": plots.histogram_png(proba, "Churn probability"),
        "pr": plots.precision_recall_png(labels, proba),
        "calibration": plots.calibration_png(labels, proba),
        "line": plots.line_png([0.1, 0.5, 0.9], [3.0, 5.0, -1.0], "Net value", "threshold", marker_x=0.5),
        "bar": plots.bar_png(["days since the last transaction", "tickets in 30 days"], [0.4, 0.2], "Mean |SHAP|"),
    }
    widths = {name: Image.open(io.BytesIO(base64.b64decode(png))).size[0] for name, png in pictures.items()}
    assert min(widths.values()) >= 800, widths
    assert plots.FONT_PT >= 10


def test_mlflow_links_are_urls_on_a_tracking_server_and_a_command_otherwise():
    from retention_assets.model.display import metrics_summary, mlflow_links

    served = mlflow_links("https://mlflow.example.com/", "4", "abc", "churn model", "7")
    assert served.run_url == "https://mlflow.example.com/#/experiments/4/runs/abc"
    assert served.version_url == "https://mlflow.example.com/#/models/churn%20model/versions/7"
    local = mlflow_links("sqlite:////data/mlflow.db", "4", "abc", "churn_model", "7")
    assert local.run_url is None and local.ui_hint == "mlflow ui --backend-store-uri sqlite:////data/mlflow.db"
    assert metrics_summary({"roc_auc": 0.898533927833225, "pr_auc": 0.71249, "brier": 0.1234567}) == \
        "**ROC AUC 0.899 | PR AUC 0.712** | Brier 0.1235"
