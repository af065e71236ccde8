"""The whole medallion graph on a small generated sample, run through the project's own job."""

from __future__ import annotations

import pandas as pd
import pytest

from retention_assets_tests.pipeline import check_results, materialized_keys, run_refresh, table, training_rows


def test_every_asset_materializes_and_every_check_passes(graph):
    settings, result = graph
    keys = materialized_keys(result)
    expected_windows = {f"bronze_event_{s}_{w}" for s in settings.events for w in settings.windows}
    assert expected_windows <= keys
    assert {"raw_customers", "raw_transactions", "raw_support_tickets", "analysis_timeline", "bronze_entity",
            "findings_customers", "findings_transactions", "findings_support_tickets", "multi_dataset_findings",
            "recommendations", "bronze_text_transactions", "bronze_text_support_tickets",
            "silver_joined", "churn_labels", "gold_features", "churn_model", "churn_scores",
            "retention_campaign", "champion_model", "feast_features", "training_set", "online_features",
            "feature_drift", "model_performance"} <= keys
    checks = check_results(result)
    assert checks == {"silver_joined:silver_unique_keys": True, "gold_features:point_in_time": True,
                      "gold_features:two_label_classes": True, "gold_features:leakage_probe": True,
                      "churn_model:beats_champion": True, "churn_model:plausible_auc": True,
                      "training_set:matches_feast": True,
                      "feature_drift:no_significant_drift": True, "model_performance:no_performance_drop": True}


def test_scores_cover_every_customer_once_as_of_the_scoring_time(graph):
    settings, _ = graph
    customers = pd.read_csv(settings.resolve(settings.entity.path), dtype={"customer_id": str})
    scores = table(settings, "churn_scores")
    assert sorted(scores["customer_id"]) == sorted(customers["customer_id"])
    assert scores["feature_timestamp"].nunique() == 1
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["risk_tier"]) <= {"low", "medium", "high", "inactive"}
    assert (scores.loc[~scores["active_at_as_of"], "risk_tier"] == "inactive").all()
    assert (scores.loc[scores["active_at_as_of"], "risk_tier"] != "inactive").all()


def test_model_is_clearly_better_than_chance_but_not_suspiciously_perfect(graph):
    _, result = graph
    metadata = next(e for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    assert 0.7 < metadata["roc_auc"].value < 0.99
    assert metadata["pr_auc"].value > metadata["base_rate"].value
    assert metadata["roc_curve"].value.startswith("![ROC curve](data:image/png;base64,")


def test_gold_training_rows_are_strictly_before_their_labels(graph):
    settings, _ = graph
    gold = table(settings, "gold_features")
    train = training_rows(settings)
    assert len(train) > 0 and set(train["churned"].unique()) == {0, 1}
    assert (train["feature_timestamp"] < train["label_timestamp"]).all()
    assert (gold.loc[gold["row_role"] == "score", "label_available"] == False).all()  # noqa: E712


def test_every_table_asset_reports_rows_schema_and_preview(graph):
    _, result = graph
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        name = event.asset_key.to_user_string()
        if name in ("analysis_timeline", "churn_model", "multi_dataset_findings", "recommendations", "champion_model",
                    "online_features", "published_release"):
            continue  # not tables: a timeline, a model, YAML files, a decision, an online store load, a manifest
        if name.startswith("findings_"):
            assert "findings_file" in metadata and "dagster/row_count" in metadata, name
            continue
        assert "dagster/row_count" in metadata, name
        assert "dagster/column_schema" in metadata, name
        assert "preview" in metadata, name
        if name.startswith(("bronze_event", "silver", "gold", "churn_scores", "churn_labels")):
            assert "as_of" in metadata, name


def test_same_inputs_give_the_same_outputs(graph, tmp_path, small_sample):
    from retention_assets_tests.conftest import write_settings
    from retention_assets.settings import load_settings

    settings, _ = graph
    again = load_settings(write_settings(tmp_path, small_sample))
    assert run_refresh(again).success
    for name in ("gold_features", "churn_scores"):
        pd.testing.assert_frame_equal(table(settings, name), table(again, name))


def test_each_model_is_an_mlflow_run_with_metrics_plots_and_a_registered_version(graph):
    from mlflow import MlflowClient

    settings, result = graph
    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    client = MlflowClient(tracking_uri=(uri := meta["mlflow_tracking_uri"].value), registry_uri=uri)
    run = client.get_run(meta["mlflow_run_id"].value)
    assert run.data.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["dagster_asset_key"] == "churn_model"
    for name in ("roc_auc", "pr_auc", "brier", "log_loss", "precision", "recall", "f1", "lift_top_decile"):
        assert run.data.metrics[name] == pytest.approx(meta[name].value)
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/roc_curve.png", "plots/precision_recall.png", "plots/calibration.png",
                     "plots/shap_summary.png"}
    exploration = {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "exploration")}
    assert {"customers_findings.yaml", "recommendations.yaml"} <= exploration
    version = client.get_model_version("churn_model", meta["mlflow_model_version"].value)
    assert version.run_id == run.info.run_id
    assert str(settings.data_path) in client.get_experiment(run.info.experiment_id).artifact_location


def test_campaign_contacts_active_customers_with_positive_expected_value(graph):
    settings, result = graph
    campaign, scores = table(settings, "retention_campaign"), table(settings, "churn_scores")
    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "retention_campaign").materialization.metadata
    assert len(campaign) > 0 and (campaign["expected_net_value_usd"] > 0).all()
    active = set(scores.loc[scores["active_at_as_of"], "customer_id"])
    assert set(campaign["customer_id"]) <= active
    assert (campaign["churn_probability"] >= meta["value_threshold"].value).all()
    assert campaign["expected_net_value_usd"].is_monotonic_decreasing


def test_scores_carry_each_customers_top_reasons_and_the_model_its_shap_summary(graph):
    settings, result = graph
    scores = table(settings, "churn_scores")
    features = set(table(settings, "gold_features").columns)
    high = scores[scores["risk_tier"] == "high"]
    assert len(high) and (high["top_reasons"].str.len() > 0).all()
    named = {dict(r)["feature"] for reasons in high["reasons"] for r in reasons}
    assert named <= features  # reasons are original columns (one-hot columns summed back)
    assert (high["reasons"].map(len) == high["top_reasons"].str.count("; ") + 1).all()  # the string is the records
    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    assert meta["shap_summary"].value.startswith("![mean |SHAP| per feature](data:image/png;base64,")


def test_the_model_reports_its_validation_mode_and_training_population(graph):
    settings, result = graph
    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    train, gold = table(settings, "training_set"), table(settings, "gold_features")
    population = meta["training_population"].value
    assert meta["validation"].value == "out_of_time" and meta["repeated_customers"].value == 0
    latest = train["feature_timestamp"].max().date().isoformat()
    assert f"validated on the latest cutoff {latest}" in meta["validation_reason"].value
    assert sum(population["rows_by_cutoff"].values()) == len(train) == meta["training_rows"].value
    assert population["customers"] == train["customer_id"].nunique()
    left_out = gold[(gold["row_role"] == "train") & gold["label_available"] & ~gold["eligible"]]
    assert sum(population["left_out_by_population_rules"].values()) == len(left_out) > 0
    assert "label.active_within_days=90" in population["rules"]
    campaign = next(e for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "retention_campaign").materialization.metadata
    assert campaign["valuation"].value == "value column monthly_fee"
    assert campaign["threshold_warning"].value == "none"
