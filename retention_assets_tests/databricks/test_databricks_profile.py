"""The whole graph on the databricks profile: every set-based step a Databricks job run through the real
`PipesDatabricksClient`, tables as Delta tables in Unity Catalog, the model in the Unity Catalog registry;
against the stand-in workspace (only its REST surface is stood in) with Sail as the clusters' engine.

The same settings and sample run once on the local track (DuckDB) and once on the databricks profile; every
set-based table must be the same, table by table.
"""

from __future__ import annotations

import dagster as dg
import pytest

from retention_assets_tests.conftest import write_settings
from retention_assets_tests.parity import COMPARED, assert_same_table, read_sorted
from retention_assets_tests.pipeline import check_results, materialized_keys, run_refresh, step_failures

STEP_JOBS = ("raw", "bronze_entity", "bronze_event", "silver", "labels", "gold", "scores")


def unity_catalog(prefix: str, lake_root: str) -> dict:
    """Settings of a catalog layout of its own (the stand-in's catalog is shared by the whole session)."""
    layers = ("raw", "bronze", "silver", "gold", "serving")
    return {"catalog": "main", "schemas": {layer: f"{prefix}_{layer}" for layer in layers},
            "model_schema": f"{prefix}_ml", "storage_root": f"{lake_root}/{prefix}"}


def databricks_environment(env: pytest.MonkeyPatch, workspace, tmp, compute: str = "job_cluster") -> None:
    """What a user sets to point the databricks profile at a workspace (tracking on SQLite here: the
    stand-in serves the Unity Catalog registry, not the whole tracking server)."""
    for key in ("RETENTION_ENGINE", "RETENTION_PROFILE"):
        env.delenv(key, raising=False)
    env.setenv("DATABRICKS_HOST", workspace.host)
    env.setenv("DATABRICKS_TOKEN", workspace.token)
    env.setenv("RETENTION_SPARK_REMOTE", workspace.spark_remote)
    env.setenv("RETENTION_MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    env.setenv("RETENTION_DATABRICKS_COMPUTE", compute)
    env.setenv("RETENTION_DATABRICKS_POLL_SECONDS", "0.3")
    code_root = "/Volumes/main/retention_ml/code" if compute == "serverless" else "dbfs:/retention/code"
    env.setenv("RETENTION_DATABRICKS_CODE", code_root)
    # Dagster's Pipes log readers wait 10 s after a run for late driver logs: 1 s here.
    env.setattr("dagster._core.pipes.utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 1)
    # A job's cluster authenticates to its own workspace (MLflow's registry in the scoring step).
    workspace.workspace.cluster_env.update(DATABRICKS_HOST=workspace.host, DATABRICKS_TOKEN=workspace.token)


@pytest.fixture(scope="module")
def deployed_wheel(tmp_path_factory):
    from retention_assets.remote.deploy import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_clusters_wheel_holds_the_steps_and_requires_no_dagster_feast_or_duckdb(deployed_wheel):
    import zipfile

    with zipfile.ZipFile(deployed_wheel) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "dagster-pipes==1.13.27" in requires
    assert not [r for r in requires if r.startswith(("dagster ", "dagster=", "dagster-webserver", "feast", "duckdb",
                                                     "matplotlib"))]
    assert {"retention_assets/remote/entry.py", "retention_assets/steps/layers.py"} <= set(names)
    assert not [n for n in names if n.startswith("retention_assets_tests/")]


def deploy_code(workspace, code_root: str, wheel, pipes_volume: str | None = None) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    from retention_assets.remote.deploy import deploy

    client = WorkspaceClient(config=Config(host=workspace.host, token=workspace.token, retry_timeout_seconds=15))
    deploy(client, code_root, wheel, pipes_volume)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory, small_sample, databricks_workspace, deployed_wheel):
    """The sample on the local track and on the databricks profile, with their engines for reading."""
    from retention_assets.definitions import build_resources
    from retention_assets.profiles import build_profile
    from retention_assets.settings import load_settings

    local_dir = tmp_path_factory.mktemp("local")
    local = load_settings(write_settings(local_dir, small_sample))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("RETENTION_ENGINE", raising=False)
        local_result = run_refresh(local, profile="local")
    assert local_result.success
    remote_dir = tmp_path_factory.mktemp("databricks")
    remote = load_settings(write_settings(remote_dir, small_sample,
                                          unity_catalog=unity_catalog("parity", databricks_workspace.lake_root)))
    env = pytest.MonkeyPatch()
    databricks_environment(env, databricks_workspace, remote_dir)
    deploy_code(databricks_workspace, "dbfs:/retention/code", deployed_wheel)
    runs_before = set(databricks_workspace.workspace.runs)
    remote_result = run_refresh(remote, profile="databricks")
    assert remote_result.success, step_failures(remote_result)
    runs = {k: v for k, v in databricks_workspace.workspace.runs.items() if k not in runs_before}
    engines = {"local": build_resources(local, build_profile(local, "local"))["compute"].engine(),
               "databricks": build_resources(remote, build_profile(remote, "databricks"))["compute"].engine()}
    yield {"local": local, "databricks": remote, "result": remote_result, "runs": runs, "engines": engines,
           "env": env, "workspace": databricks_workspace}
    for engine in engines.values():
        engine.close()
    env.undo()


@pytest.mark.parametrize("table", COMPARED)
def test_each_set_based_table_is_the_same_on_both_tracks(tracks, table):
    local, remote = tracks["engines"]["local"], tracks["engines"]["databricks"]
    assert remote.location(table).startswith("main.parity_")  # read from Unity Catalog by its three-level name
    assert_same_table(read_sorted(local, table), read_sorted(remote, table), table)


def test_every_window_table_is_the_same_on_both_tracks(tracks):
    local, remote = tracks["engines"]["local"], tracks["engines"]["databricks"]
    windows = sorted(p.stem for p in local.tables_dir.glob("bronze_event_*.parquet"))
    assert len(windows) == 14
    for table in windows:
        assert remote.location(table) == f"main.parity_bronze.{table}"
        assert_same_table(read_sorted(local, table), read_sorted(remote, table), table)


def test_each_set_based_step_is_one_databricks_job_run_with_the_wheel(tracks):
    runs = tracks["runs"].values()
    names = sorted(run.run_name for run in runs)
    settings = tracks["databricks"]
    expected = sorted([*("retention_raw" for _ in range(1 + len(settings.events))), "retention_bronze_entity",
                       *("retention_bronze_event" for _ in settings.events), "retention_silver", "retention_labels",
                       "retention_gold", "retention_scores"])
    assert names == expected
    for run in runs:
        task = run.tasks[0].spec
        assert run.tasks[0].result_state == "SUCCESS", run.run_name
        assert task["spark_python_task"]["python_file"] == "dbfs:/retention/code/entry.py"
        assert {"whl": "dbfs:/retention/code/wheels/retention_assets-0.1.0-py3-none-any.whl"} in task["libraries"]
        assert "DAGSTER_PIPES_CONTEXT" in task["new_cluster"]["spark_env_vars"]  # the Pipes bootstrap


def test_tables_are_delta_tables_in_their_layers_schemas_readable_by_delta_rs(tracks, workspace_client):
    from deltalake import DeltaTable

    rows = {e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
            for e in tracks["result"].get_asset_materialization_events()
            if "dagster/row_count" in e.materialization.metadata}
    for table, schema in [("raw_customers", "parity_raw"), ("bronze_event_transactions_30d", "parity_bronze"),
                          ("silver_joined", "parity_silver"), ("gold_features", "parity_gold"),
                          ("training_set", "parity_gold"), ("churn_scores", "parity_gold"),
                          ("churn_scores", "parity_serving"), ("retention_campaign", "parity_serving")]:
        info = workspace_client.tables.get(f"main.{schema}.{table}")
        assert info.data_source_format.value == "DELTA" and info.table_type.value == "EXTERNAL", table
        assert info.storage_location.endswith(f"/parity/{schema}/{table}")
        assert DeltaTable(info.storage_location).to_pyarrow_table().num_rows == rows[table], table


def test_the_model_is_in_the_unity_catalog_registry_with_a_signature_and_the_champion_alias(tracks):
    import mlflow
    from mlflow import MlflowClient

    tracking = tracks["databricks"]
    uri = f"sqlite:///{tracking.data_path.parent / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri="databricks-uc")
    champion = client.get_model_version_by_alias("main.parity_ml.churn_model", "champion")
    assert champion.version == "1" and champion.tags["retention.state"] == "champion"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri("databricks-uc")
    info = mlflow.models.get_model_info("models:/main.parity_ml.churn_model@champion")
    assert info.signature is not None and info.signature.inputs and info.signature.outputs


def test_credentials_never_reach_metadata_logs_or_job_specs(tracks):
    import json

    token = tracks["workspace"].token
    for event in tracks["result"].all_events:  # materializations, metadata, Pipes logs
        assert token not in str(event), event.event_type_value
    for run in tracks["runs"].values():  # what was submitted to the workspace
        assert token not in json.dumps([task.spec for task in run.tasks])
    drivers = "".join(p.read_text(errors="replace") for p in tracks["workspace"].root.rglob("driver/std*"))
    assert "step raw" in drivers or "retention" in drivers  # the clusters' driver logs exist
    assert token not in drivers


def test_the_published_tables_are_the_runs_own_in_the_serving_schema(tracks):
    remote = tracks["engines"]["databricks"]
    for table in ("gold_features", "churn_scores", "retention_campaign"):
        published = remote.frame(f"SELECT * FROM main.parity_serving.{table}")
        assert_same_table(published.sort_values(list(published.columns[:2])).reset_index(drop=True),
                          read_sorted(remote, table)[list(published.columns)].sort_values(
                              list(published.columns[:2])).reset_index(drop=True), table)


def test_the_quickstart_summary_reads_the_published_run_through_the_profile(tracks, capsys, monkeypatch):
    from retention_assets.cli import _print_summary

    monkeypatch.setenv("RETENTION_PROFILE", "databricks")  # what `retention quickstart --profile databricks` sets
    _print_summary(tracks["databricks"], None)  # outside a run: credentials resolved from the environment
    out = capsys.readouterr().out
    assert "Published generation" in out and "800 customers" in out and tracks["workspace"].token not in out


def test_a_worse_challenger_does_not_take_the_champion_alias_nor_change_what_users_read(tracks, workspace_client):
    import yaml
    from deltalake import DeltaTable
    from mlflow import MlflowClient

    published = {t: DeltaTable(workspace_client.tables.get(f"main.parity_serving.{t}").storage_location).version()
                 for t in ("gold_features", "churn_scores", "retention_campaign")}
    settings = tracks["databricks"]
    findings = settings.findings_path / "transactions_findings.yaml"
    data = yaml.safe_load(findings.read_text())
    data["review"]["selected"] = False  # without transactions the model is much weaker
    findings.write_text(yaml.safe_dump(data, sort_keys=False))
    worse = run_refresh(settings, profile="databricks")
    assert check_results(worse)["churn_model:beats_champion"] is False
    assert "champion_model" not in materialized_keys(worse)
    client = MlflowClient(tracking_uri=f"sqlite:///{settings.data_path.parent / 'mlflow.db'}",
                          registry_uri="databricks-uc")
    assert client.get_model_version_by_alias("main.parity_ml.churn_model", "champion").version == "1"
    for table, version in published.items():  # no new commit on a published table
        assert DeltaTable(workspace_client.tables.get(f"main.parity_serving.{table}").storage_location
                          ).version() == version, table


def test_a_step_runs_serverless_through_a_volume(tmp_path, small_sample, databricks_workspace, deployed_wheel,
                                                 monkeypatch):
    from retention_assets.settings import load_settings

    settings = load_settings(write_settings(tmp_path, small_sample,
                                            unity_catalog=unity_catalog("serverless", databricks_workspace.lake_root)))
    databricks_environment(monkeypatch, databricks_workspace, tmp_path, compute="serverless")
    deploy_code(databricks_workspace, "/Volumes/main/retention_ml/code", deployed_wheel,
                pipes_volume="/Volumes/main/retention_ml/pipes")
    before = set(databricks_workspace.workspace.runs)
    result = run_refresh(settings, selection=[dg.AssetKey("raw_customers")], profile="databricks")
    assert result.success, step_failures(result)
    (run,) = [r for k, r in databricks_workspace.workspace.runs.items() if k not in before]
    task = run.tasks[0].spec
    assert "new_cluster" not in task and task["environment_key"] == "retention"
    assert "--dagster-pipes-context" in task["spark_python_task"]["parameters"]  # bootstrap through the Volume
    rows = result.asset_materializations_for_node("raw_customers")[0].metadata["dagster/row_count"].value
    assert rows == 800


def test_bad_input_reads_the_same_on_databricks_as_on_the_local_track(tmp_path, small_sample, databricks_workspace,
                                                                      deployed_wheel, monkeypatch):
    from retention_assets.settings import load_settings

    broken = tmp_path / "customers.csv"
    broken.write_text("")
    paths = type(small_sample)(**{**small_sample.__dict__, "customers": broken})
    (tmp_path / "local").mkdir()
    (tmp_path / "remote").mkdir()
    local = load_settings(write_settings(tmp_path / "local", paths))
    local_failure = step_failures(run_refresh(local, selection=[dg.AssetKey("raw_customers")], profile="local"))
    remote = load_settings(write_settings(tmp_path / "remote", paths,
                                          unity_catalog=unity_catalog("bad_input", databricks_workspace.lake_root)))
    databricks_environment(monkeypatch, databricks_workspace, tmp_path)
    deploy_code(databricks_workspace, "dbfs:/retention/code", deployed_wheel)
    remote_failure = step_failures(run_refresh(remote, selection=[dg.AssetKey("raw_customers")], profile="databricks"))
    assert remote_failure == local_failure and str(broken) in remote_failure["raw_customers"]

