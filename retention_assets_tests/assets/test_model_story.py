"""What the model's catalog page tells: the champion decision in the history, rounded headline metrics
beside the full-precision numbers, plots wide enough to read, and where the MLflow run lives."""

from __future__ import annotations

import base64
import io
import re

import yaml


def metadata_of(result, asset: str) -> dict:
    return next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == asset)


def png_width(markdown: str) -> int:
    from PIL import Image

    encoded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", markdown).group(1)
    return Image.open(io.BytesIO(base64.b64decode(encoded))).size[0]


def test_the_history_records_the_promotion_where_the_run_publishes(graph):
    settings, result = graph
    history = yaml.safe_load((settings.findings_path / "iterations.yaml").read_text())["iterations"]
    newest = history[-1]
    assert newest["run_id"] == result.run_id
    assert newest["champion"] is True  # no CLI or sensor ran: the run itself recorded it
    assert newest["outcome"]["status"] == "success" and newest["outcome"]["champion_version"] == newest["model_version"]

    shown = metadata_of(result, "published_release")["iteration_history"].value
    row = next(line for line in shown.splitlines() if line.startswith(f"| {newest['id']} "))
    assert row.rstrip(" |").endswith("yes") and "pending" not in row
    observed = [e.event_specific_data.asset_observation for e in result.all_events
                if e.event_type_value == "ASSET_OBSERVATION"
                and e.event_specific_data.asset_observation.asset_key.to_user_string() == "churn_model"]
    assert observed and observed[-1].metadata["iteration_history"].value == shown  # on the model's page too


def test_the_model_page_reads_rounded_and_keeps_full_precision(graph):
    _, result = graph
    metadata = metadata_of(result, "churn_model")
    auc = metadata["roc_auc"].value
    summary = metadata["summary"].value
    assert f"ROC AUC {auc:.3f}" in summary and repr(auc) not in summary
    assert next(iter(metadata)) == "summary"  # the first thing on the page
    assert metadata["mlflow_ui"].value == f"mlflow ui --backend-store-uri {metadata['mlflow_tracking_uri'].value}"
    assert "this run: decided by champion_model" in metadata["iteration_history"].value


def test_model_and_scores_plots_are_at_least_800_px_wide(graph):
    _, result = graph
    model = metadata_of(result, "churn_model")
    plots = [model[name].value for name in ("roc_curve", "shap_summary", "precision_recall", "calibration")]
    plots.append(metadata_of(result, "churn_scores")["distribution"].value)
    assert all(png_width(plot) >= 800 for plot in plots), [png_width(p) for p in plots]


def test_main_tables_describe_their_columns(graph):
    _, result = graph

    def described(asset: str) -> dict[str, str | None]:
        schema = metadata_of(result, asset)["dagster/column_schema"].value
        return {column.name: column.description for column in schema.columns}

    scores = described("churn_scores")
    assert "risk_share" in scores["reasons"] and "readable" in scores["top_reasons"]
    assert scores["churn_probability"] and scores["risk_tier"]
    campaign = described("retention_campaign")
    assert campaign["churn_probability"] == scores["churn_probability"] and campaign["reasons"]
    gold = described("gold_features")
    assert all(gold[c] for c in ("feature_timestamp", "label_timestamp", "label_available"))
