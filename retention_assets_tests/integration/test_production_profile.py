"""The production profile against the real Postgres (127.0.0.1:5432) and Redis (127.0.0.1:6379).

The whole graph runs with the Dagster instance of deploy/production/dagster.yaml on Postgres, MLflow
tracking and the Feast registry on Postgres and the Feast online store on Redis. Each test session
uses its own databases and Feast project (Redis keys are namespaced by project) and removes them.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from retention_assets_tests.pipeline import check_results, materialized_keys, published_feast, run_refresh, table

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def _drop_databases(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        for name in names:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def production(tmp_path_factory, small_sample):
    import dagster as dg

    from retention_assets.profiles import PRODUCTION_DAGSTER_HOME, build_profile, ensure_production_services
    from retention_assets.settings import load_settings
    from retention_assets_tests.conftest import write_settings

    tag = f"rt_{uuid.uuid4().hex[:8]}"
    databases = {"mlflow": f"{tag}_mlflow", "feast": f"{tag}_feast", "dagster": f"{tag}_dagster"}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RETENTION_PROFILE", "production")
        env.setenv("RETENTION_POSTGRES_URL", POSTGRES)
        env.setenv("RETENTION_MLFLOW_DB", databases["mlflow"])
        env.setenv("RETENTION_FEAST_DB", databases["feast"])
        env.setenv("RETENTION_FEAST_PROJECT", tag)
        env.setenv("RETENTION_REDIS", "127.0.0.1:6379")
        env.setenv("RETENTION_DAGSTER_PG_URL", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{databases['dagster']}")
        settings = load_settings(write_settings(tmp_path_factory.mktemp("production"), small_sample))
        services = build_profile(settings.data_path)
        ensure_production_services(services)
        instance = dg.DagsterInstance.from_config(str(PRODUCTION_DAGSTER_HOME))
        try:
            result = run_refresh(settings, instance=instance)
            yield settings, services, instance, result, tag
        finally:
            instance.dispose()
            try:
                from retention_assets.feature_store.repository import teardown_generation
                from retention_assets.publication.generations import generation_dir, generations

                for generation in generations(settings.data_path):  # their Redis keys and registry projects
                    teardown_generation(services.feast().config(generation_dir(settings.data_path, generation),
                                                                generation))
            finally:
                _drop_databases(list(databases.values()))


def test_the_whole_graph_runs_on_postgres_and_redis(production):
    _, services, _, result, _ = production
    assert services.name == "production"
    assert result.success
    assert {"feast_features", "training_set", "online_features", "churn_model", "champion_model", "churn_scores",
            "retention_campaign"} <= materialized_keys(result)
    assert all(check_results(result).values())


def test_dagster_runs_and_events_are_stored_in_postgres(production):
    import psycopg

    _, _, instance, result, tag = production
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert instance.get_run_by_id(result.run_id).is_success
    with psycopg.connect(f"{POSTGRES}/{tag}_dagster") as connection:
        runs = connection.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0]
        events = connection.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,)).fetchone()[0]
    assert runs == 1 and events > 50


def test_mlflow_tracks_and_registers_in_postgres(production):
    import psycopg
    from mlflow import MlflowClient

    _, services, _, result, tag = production
    meta = next(e for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "churn_model").materialization.metadata
    assert meta["mlflow_tracking_uri"].value == f"{POSTGRES}/{tag}_mlflow"
    client = MlflowClient(tracking_uri=(uri := services.mlflow_tracking_uri), registry_uri=uri)
    assert client.get_run(meta["mlflow_run_id"].value).data.metrics["roc_auc"] == meta["roc_auc"].value
    assert str(client.get_model_version_by_alias("churn_model", "champion").version) == \
        meta["mlflow_model_version"].value
    with psycopg.connect(f"{POSTGRES}/{tag}_mlflow") as connection:
        stored = connection.execute("SELECT run_uuid FROM runs").fetchall()
    assert [r[0] for r in stored] == [meta["mlflow_run_id"].value]


def test_feast_registry_in_postgres_and_online_store_in_redis(production):
    import psycopg
    import redis

    settings, services, _, result, tag = production
    feast = published_feast(settings)
    assert feast.project.startswith(f"{tag}_")  # each generation is a project of its own
    store = feast.store()
    assert type(store.registry).__name__ == "SqlRegistry"
    with psycopg.connect(f"{POSTGRES}/{tag}_feast") as connection:
        services_in_db = connection.execute("SELECT feature_service_name FROM feature_services WHERE project_id = %s",
                                            (feast.project,)).fetchall()
    assert [r[0] for r in services_in_db] == ["churn_model_v1"]
    customers = len(table(settings, "churn_scores"))
    keys = list(redis.Redis(host="127.0.0.1", port=6379).scan_iter(match=b"*" + feast.project.encode(), count=1000))
    assert len(keys) == customers  # one hash per customer, as of the scoring time


def test_serving_on_the_production_profile_agrees_with_batch_scores(production):
    from retention_assets.serving import predict

    settings, _, _, _, _ = production
    batch = table(settings, "churn_scores").set_index("customer_id")
    ids = batch.index[::40].tolist()
    served = predict(ids, settings, profile="production").set_index("customer_id")
    np.testing.assert_allclose(served["churn_probability"], batch.loc[ids, "churn_probability"], rtol=0, atol=1e-9)
    assert served["top_reasons"].tolist() == batch.loc[ids, "top_reasons"].tolist()
