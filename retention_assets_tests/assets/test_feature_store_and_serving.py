"""After a full materialization: the Feast repository, the training set it served, and online serving."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from retention_assets.features.gold import feature_columns
from retention_assets_tests.pipeline import published_feast, table, training_rows


def _metadata(result, asset: str):
    return next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == asset).materialization.metadata


def _services(settings):
    from retention_assets.profiles import build_profile

    return build_profile(settings.data_path)


def test_training_set_is_the_feast_as_of_join_of_gold_training_rows(graph):
    settings, result = graph
    train = table(settings, "training_set")
    expected = training_rows(settings)
    pd.testing.assert_frame_equal(train, expected)
    assert train["feature_timestamp"].nunique() == 2  # two cutoffs, each row with its own features
    meta = _metadata(result, "training_set")
    assert sum(meta["rows_by_cutoff"].value.values()) == len(expected)


def test_registry_has_the_view_and_a_feature_service_for_the_registered_model(graph):
    from retention_assets.feature_store.repository import VIEW

    settings, result = graph
    store = published_feast(settings).store()
    view = store.get_feature_view(VIEW)
    gold = table(settings, "gold_features")
    assert {f.name for f in view.features} == {*feature_columns(gold.columns, "customer_id"), "eligible"}
    meta = _metadata(result, "churn_model")
    service = store.get_feature_service(meta["feast_feature_service"].value)
    assert service.name == f"churn_model_v{meta['mlflow_model_version'].value}"
    served = {f.name for projection in service.feature_view_projections for f in projection.features}
    assert served <= {f.name for f in view.features} and "eligible" in served


def test_online_store_holds_the_offline_values_of_exactly_the_champions_features(graph):
    from retention_assets.feature_store.repository import online_features, service_features

    settings, result = graph
    config = published_feast(settings)
    meta = _metadata(result, "churn_model")
    service = meta["feast_feature_service"].value
    scores = table(settings, "churn_scores")
    ids = scores["customer_id"].tolist()
    online = online_features(config, service, "customer_id", ids, "feature_timestamp").set_index("customer_id")
    assert online["feature_timestamp"].notna().all()
    assert (online["feature_timestamp"] == scores["feature_timestamp"].iloc[0]).all()
    import joblib

    model = joblib.load(settings.data_path / "tables" / "churn_model.joblib")
    features = service_features(config, service)
    assert features == [*model.serving_features, "eligible"]
    gold = table(settings, "gold_features")
    offline = gold[gold["row_role"] == "score"].set_index("customer_id").loc[ids]
    for feature in features:
        a, b = online[feature].loc[ids], offline[feature]
        same = (a.isna() & b.isna()) | (a == b)
        assert same.all(), f"{feature}: online differs from gold for {list(a[~same].index[:3])}"


def test_batch_scores_from_the_offline_tables_equal_serving_to_1e_9(graph):
    from retention_assets.serving import predict

    settings, _ = graph
    batch = table(settings, "churn_scores").set_index("customer_id")
    ids = batch.sample(frac=1.0, random_state=3).index.tolist()  # every customer, in a shuffled order
    served = predict(ids, settings)
    assert served["customer_id"].tolist() == ids  # in the order asked
    served = served.set_index("customer_id")
    np.testing.assert_allclose(served["churn_probability"], batch.loc[ids, "churn_probability"], rtol=0, atol=1e-9)
    for column in ("risk_tier", "top_reasons", "model_version", "feature_timestamp", "active_at_as_of"):
        assert served[column].tolist() == batch.loc[ids, column].tolist(), column
    # the structured reasons too: the same records, field by field, for every customer
    assert served["reasons"].map(_records).tolist() == batch.loc[ids, "reasons"].map(_records).tolist()
    assert (batch["top_reasons"].str.len() > 0).sum() > 100


def _records(reasons) -> list[dict]:
    """Reasons as plain records, however they were read (lists from serving, arrays from Parquet)."""
    return [{k: (round(v, 9) if isinstance(v, float) else v) for k, v in dict(r).items()} for r in reasons]


def test_unknown_customers_are_named_not_scored_from_imputed_defaults(graph):
    from retention_assets.model.serving import ServingError
    from retention_assets.serving import predict

    settings, _ = graph
    known = table(settings, "churn_scores")["customer_id"].iloc[0]
    with pytest.raises(ServingError, match="no-such-customer"):
        predict([known, "no-such-customer"], settings)


def test_http_endpoint_serves_the_same_scores(graph):
    from retention_assets.serving import serve

    settings, _ = graph
    batch = table(settings, "churn_scores").set_index("customer_id")
    ids = batch.index[:3].tolist()
    server = serve(0, settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        query = "&".join(f"customer_id={i}" for i in ids)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/score?{query}", timeout=60) as response:
            body = json.loads(response.read())
        assert [r["customer_id"] for r in body] == ids
        for record in body:
            assert abs(record["churn_probability"] - batch.loc[record["customer_id"], "churn_probability"]) < 1e-9
            assert record["top_reasons"] == batch.loc[record["customer_id"], "top_reasons"]
            assert _records(record["reasons"]) == _records(batch.loc[record["customer_id"], "reasons"])
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/score?customer_id=nobody", timeout=60)
        assert missing.value.code == 404 and "nobody" in missing.value.read().decode()
    finally:
        server.shutdown()
        server.server_close()


def test_mlflow_run_carries_what_serving_needs(graph):
    from mlflow import MlflowClient

    _, result = graph
    meta = _metadata(result, "churn_model")
    client = MlflowClient(tracking_uri=(uri := meta["mlflow_tracking_uri"].value), registry_uri=uri)
    paths = {a.path for a in client.list_artifacts(meta["mlflow_run_id"].value, "serving")}
    assert paths == {"serving/spec.json", "serving/shap_background.parquet", "serving/glossary.json"}
    version = client.get_model_version_by_alias("churn_model", "champion")
    assert str(version.version) == meta["mlflow_model_version"].value
