"""The stand-in workspace, driven only by real clients: databricks-sdk, dagster-databricks' Pipes clients,
MLflow's `databricks-uc` registry, Spark Connect against Sail, delta-rs. Each test would break if the stand-in
answered differently from what these clients need.

No `from __future__ import annotations` here: Dagster reads the assets' annotations (the context's type) as
objects at definition time."""

import base64
import importlib.metadata
import io
import json
import textwrap
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster_databricks import PipesDatabricksClient
from dagster_databricks.pipes import PipesDatabricksServerlessClient

from .clients import dbfs_put, wait_for_run
from .conftest import DatabricksTestWorkspace

CLUSTER = {"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}


def _submit(ws, task: dict, **submit_args) -> int:
    from databricks.sdk.service import jobs

    return ws.jobs.submit(run_name=task["task_key"], tasks=[jobs.SubmitTask.from_dict(task)], **submit_args).run_id


def _spark(remote: str):
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(remote).create()


def _ensure_schema(ws, catalog: str, schema: str) -> None:
    from databricks.sdk.errors import NotFound

    try:
        ws.schemas.get(f"{catalog}.{schema}")
    except NotFound:
        ws.schemas.create(name=schema, catalog_name=catalog)


def _ensure_volume(ws, catalog: str, schema: str, volume: str) -> None:
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.catalog import VolumeType

    _ensure_schema(ws, catalog, schema)
    try:
        ws.volumes.read(f"{catalog}.{schema}.{volume}")
    except NotFound:
        ws.volumes.create(catalog_name=catalog, schema_name=schema, name=volume, volume_type=VolumeType.MANAGED)


# ---------------------------------------------------------------------------------------------------- jobs
BRONZE_JOB = """
import json, os, sys
from pyspark.sql import SparkSession

active = SparkSession.getActiveSession()  # the cluster made one before this code
spark = SparkSession.builder.getOrCreate()
lake, n = sys.argv[1], int(sys.argv[2])
path = f"{lake}/bronze/t"
df = spark.range(n).selectExpr("CAST(id AS INT) AS id", "concat('row-', id) AS name")
df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
spark.sql("CREATE SCHEMA IF NOT EXISTS main.bronze")
spark.sql(f"CREATE TABLE IF NOT EXISTS main.bronze.t USING delta LOCATION '{path}'")
print(json.dumps({
    "active_session_before_user_code": active is not None,
    "cluster_id": spark.conf.get("spark.databricks.clusterUsageTags.clusterId"),
    "log_delivery": spark.conf.get("spark.databricks.clusterUsageTags.clusterLogDeliveryEnabled"),
    "runtime": os.environ.get("DATABRICKS_RUNTIME_VERSION"),
    "env_var": os.environ.get("RETENTION_ENV"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "rows_by_name": spark.table("main.bronze.t").count(),
}))
"""


def test_spark_python_task_writes_a_delta_table_registered_in_unity_catalog(
        databricks_workspace: DatabricksTestWorkspace, workspace_client, monkeypatch):
    from deltalake import DeltaTable

    ws, lake = workspace_client, databricks_workspace.lake_root
    monkeypatch.setenv("PYTHONPATH", "/parent/only")  # the orchestrator's path is not the cluster's
    dbfs_put(ws, "/retention/jobs/bronze_job.py", BRONZE_JOB)
    run_id = _submit(ws, {
        "task_key": "bronze", "new_cluster": {**CLUSTER, "spark_env_vars": {"RETENTION_ENV": "test"}},
        "spark_python_task": {"python_file": "dbfs:/retention/jobs/bronze_job.py", "parameters": [lake, "5"]}})
    run = wait_for_run(ws, run_id)
    assert run.state.result_state.value == "SUCCESS", run.state.state_message
    assert run.run_page_url and run.tasks[0].run_id != run_id
    facts = json.loads(ws.jobs.get_run_output(run.tasks[0].run_id).logs.strip().splitlines()[-1])
    assert facts == {"active_session_before_user_code": True, "cluster_id": run.tasks[0].cluster_instance.cluster_id,
                     "log_delivery": "", "runtime": "16.4", "env_var": "test", "pythonpath": None, "rows_by_name": 5}

    path = f"{lake}/bronze/t"
    assert ws.tables.get("main.bronze.t").storage_location == path
    assert sorted(DeltaTable(path).to_pandas()["id"]) == [0, 1, 2, 3, 4]
    spark = _spark(databricks_workspace.spark_remote)
    try:
        rows = spark.table("main.bronze.t").orderBy("id").collect()
    finally:
        spark.stop()
    assert [(r.id, r.name) for r in rows] == [(i, f"row-{i}") for i in range(5)]


def test_how_sail_and_its_unity_catalog_provider_behave(databricks_workspace: DatabricksTestWorkspace,
                                                        workspace_client):
    """What the Spark side of the Databricks track can rely on with Sail 0.7.2 and its `unity` provider."""
    from databricks.sdk.errors import NotFound
    from deltalake import DeltaTable
    from pyspark.errors.exceptions.connect import AnalysisException

    ws = workspace_client
    path = f"{databricks_workspace.lake_root}/facts/t_{uuid.uuid4().hex[:8]}"
    spark = _spark(databricks_workspace.spark_remote)
    try:
        for _ in range(2):  # CREATE SCHEMA IF NOT EXISTS twice: fine (the provider takes the 409 for an answer)
            spark.sql("CREATE SCHEMA IF NOT EXISTS main.facts").collect()
        spark.range(3).write.format("delta").mode("overwrite").save(path)
        spark.sql(f"CREATE TABLE IF NOT EXISTS main.facts.t USING delta LOCATION '{path}'").collect()
        assert spark.catalog.tableExists("main.facts.t")
        assert not spark.catalog.tableExists("main.facts.missing")
        assert [(r.database, r.tableName) for r in spark.sql("SHOW TABLES IN main.facts").collect()] == [
            ("main.facts", "t")]
        # registered by LOCATION, the table has no columns in UC, so DESCRIBE shows none (reading it works)
        assert spark.sql("DESCRIBE TABLE main.facts.t").collect() == []
        assert not ws.tables.get("main.facts.t").columns
        with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
            spark.table("main.facts.missing").collect()
        # overwriting the Delta folder: reading by name sees the new version
        spark.range(10, 12).write.format("delta").mode("overwrite").save(path)
        assert sorted(r.id for r in spark.table("main.facts.t").collect()) == [10, 11]
        # DROP TABLE deletes the UC entry, not the files of an external table
        spark.sql("DROP TABLE IF EXISTS main.facts.t").collect()
        with pytest.raises(NotFound):
            ws.tables.get("main.facts.t")
        assert sorted(DeltaTable(path).to_pandas()["id"]) == [10, 11]
        spark.sql("DROP TABLE IF EXISTS main.facts.t").collect()  # absent: fine
        # managed tables: the catalog picks the location (staging-tables), commits go through the catalog
        spark.sql("CREATE TABLE IF NOT EXISTS main.facts.managed (id INT) USING delta").collect()
        spark.sql("INSERT INTO main.facts.managed VALUES (1)").collect()
        spark.sql("INSERT INTO main.facts.managed VALUES (2)").collect()
        assert sorted(r.id for r in spark.table("main.facts.managed").collect()) == [1, 2]
        assert ws.tables.get("main.facts.managed").table_type.value == "MANAGED"
        spark.sql("DROP TABLE IF EXISTS main.facts.managed").collect()
    finally:
        spark.stop()


def test_a_failing_task_fails_the_run_with_its_error(databricks_workspace, workspace_client):
    ws = workspace_client
    dbfs_put(ws, "/retention/jobs/fail.py", "raise ValueError('the input is empty')\n")
    run = wait_for_run(ws, _submit(ws, {"task_key": "fails", "new_cluster": CLUSTER,
                                        "spark_python_task": {"python_file": "dbfs:/retention/jobs/fail.py"}}))
    assert (run.state.life_cycle_state.value, run.state.result_state.value) == ("TERMINATED", "FAILED")
    assert "ValueError: the input is empty" in run.state.state_message
    output = ws.jobs.get_run_output(run.tasks[0].run_id)
    assert output.error == "ValueError: the input is empty" and "Traceback" in output.error_trace


def test_a_cancelled_run_ends_canceled_and_its_process_is_gone(databricks_workspace, workspace_client):
    from databricks.sdk.service import files

    ws = workspace_client
    dbfs_put(ws, "/retention/jobs/sleep.py", "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    cluster = {**CLUSTER, "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}}
    run_id = _submit(ws, {"task_key": "sleeps", "new_cluster": cluster,
                          "spark_python_task": {"python_file": "dbfs:/retention/jobs/sleep.py"}})
    deadline = time.monotonic() + 60
    while (run := ws.jobs.get_run(run_id)).state.life_cycle_state.value != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stdout = f"dbfs:/cluster-logs/{run.tasks[0].cluster_instance.cluster_id}/driver/stdout"
    dbfs = files.DbfsAPI(ws.api_client)
    while b"sleeping" not in base64.b64decode(dbfs.read(stdout).data):  # the task's code is running
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ws.jobs.cancel_run(run_id)
    run = wait_for_run(ws, run_id, timeout=30)
    assert (run.state.life_cycle_state.value, run.state.result_state.value) == ("TERMINATED", "CANCELED")
    process = databricks_workspace.workspace.runs[run_id].tasks[0].process
    assert process is not None and process.poll() is not None


def test_a_library_the_cluster_cannot_install_fails_the_task(databricks_workspace, workspace_client):
    ws = workspace_client
    dbfs_put(ws, "/retention/jobs/noop.py", "print('never runs')\n")
    wheel = "dbfs:/retention/wheels/retention_assets-0.0.0-py3-none-any.whl"
    missing_wheel = _submit(ws, {"task_key": "whl", "new_cluster": CLUSTER, "libraries": [{"whl": wheel}],
                                 "spark_python_task": {"python_file": "dbfs:/retention/jobs/noop.py"}})
    wrong_pin = _submit(ws, {"task_key": "pin", "new_cluster": CLUSTER,
                             "libraries": [{"pypi": {"package": "dagster-pipes==0.0.1"}}],
                             "spark_python_task": {"python_file": "dbfs:/retention/jobs/noop.py"}})
    for run_id, named in ((missing_wheel, wheel), (wrong_pin, "dagster-pipes==0.0.1")):
        run = wait_for_run(ws, run_id)
        assert (run.state.life_cycle_state.value, run.state.result_state.value) == ("INTERNAL_ERROR", "FAILED")
        assert "Library installation failed" in run.state.state_message and named in run.state.state_message
        assert run.status.termination_details.code.value == "LIBRARY_INSTALLATION_ERROR"


# ---------------------------------------------------------------------------------------------------- Pipes
PIPES_JOB = """
from dagster_pipes import PipesDbfsContextLoader, PipesDbfsMessageWriter, open_dagster_pipes

with open_dagster_pipes(context_loader=PipesDbfsContextLoader(), message_writer=PipesDbfsMessageWriter()) as pipes:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    n = spark.range(pipes.get_extra("rows")).count()
    print("driver stdout: counted on the cluster", flush=True)
    pipes.log.info(f"counted {n} rows")
    pipes.report_custom_message({"rows": n, "asset": pipes.asset_key})
    pipes.report_asset_materialization(metadata={"dagster/row_count": {"raw_value": n, "type": "int"}})
"""


def _log_messages(instance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


def test_pipes_databricks_client_runs_an_asset_over_dbfs(databricks_workspace, workspace_client, tmp_path,
                                                         fast_pipes_log_forwarding):
    from dagster_databricks.pipes import PipesDbfsLogReader, PipesDbfsMessageReader
    from databricks.sdk.service import jobs

    ws = workspace_client
    script = tmp_path / "pipes_job.py"
    script.write_text(PIPES_JOB)
    dbfs_put(ws, "/retention/jobs/pipes_job.py", script.read_bytes())
    stdout = io.StringIO()
    reader = PipesDbfsMessageReader(client=ws, interval=0.5, log_readers=[
        PipesDbfsLogReader(client=ws, remote_log_name="stdout", target_stream=stdout, interval=0.5),
        PipesDbfsLogReader(client=ws, remote_log_name="stderr", target_stream=io.StringIO(), interval=0.5)])
    custom_messages: list = []

    @dg.asset
    def counted_rows(context: dg.AssetExecutionContext, pipes_databricks: PipesDatabricksClient):
        task = jobs.SubmitTask.from_dict({
            "task_key": "counted_rows",
            "new_cluster": {**CLUSTER, "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}}},
            "libraries": [{"pypi": {"package": f"dagster-pipes=={importlib.metadata.version('dagster-pipes')}"}}],
            "spark_python_task": {"python_file": "dbfs:/retention/jobs/pipes_job.py"}})
        invocation = pipes_databricks.run(task=task, context=context, extras={"rows": 7})
        custom_messages.extend(invocation.get_custom_messages())
        return invocation.get_materialize_result()

    instance = dg.DagsterInstance.ephemeral()
    client = PipesDatabricksClient(ws, message_reader=reader, poll_interval_seconds=0.5)
    result = dg.materialize([counted_rows], resources={"pipes_databricks": client}, instance=instance)

    assert result.success
    (materialization,) = result.asset_materializations_for_node("counted_rows")
    assert materialization.metadata["dagster/row_count"].value == 7
    assert materialization.metadata["Databricks Job Run ID"].value
    assert custom_messages == [{"rows": 7, "asset": "counted_rows"}]
    assert "counted 7 rows" in _log_messages(instance, result.run_id)
    assert "driver stdout: counted on the cluster" in stdout.getvalue()


PIPES_NOTEBOOK = """# Databricks notebook source
from dagster_pipes import (PipesDatabricksNotebookWidgetsParamsLoader, PipesUnityCatalogVolumesContextLoader,
                           PipesUnityCatalogVolumesMessageWriter, open_dagster_pipes)

# COMMAND ----------
with open_dagster_pipes(context_loader=PipesUnityCatalogVolumesContextLoader(),
                        message_writer=PipesUnityCatalogVolumesMessageWriter(),
                        params_loader=PipesDatabricksNotebookWidgetsParamsLoader(dbutils.widgets)) as pipes:
    n = spark.range(pipes.get_extra("rows")).count()
    pipes.log.info(f"the notebook counted {n} rows")
    pipes.report_asset_materialization(metadata={"dagster/row_count": {"raw_value": n, "type": "int"}})
"""


def test_pipes_serverless_client_runs_a_notebook_over_a_volume(databricks_workspace, workspace_client):
    from databricks.sdk.service import jobs
    from databricks.sdk.service.workspace import ImportFormat, Language

    ws = workspace_client
    _ensure_volume(ws, "main", "retention", "pipes")
    ws.workspace.mkdirs("/Workspace/retention")
    ws.workspace.upload("/Workspace/retention/count_notebook", PIPES_NOTEBOOK.encode(), format=ImportFormat.SOURCE,
                        language=Language.PYTHON, overwrite=True)

    @dg.asset
    def notebook_rows(context: dg.AssetExecutionContext, pipes_serverless: PipesDatabricksServerlessClient):
        task = jobs.SubmitTask.from_dict({"task_key": "notebook_rows", "notebook_task": {
            "notebook_path": "/Workspace/retention/count_notebook", "source": "WORKSPACE"}})
        return pipes_serverless.run(task=task, context=context, extras={"rows": 4}).get_materialize_result()

    instance = dg.DagsterInstance.ephemeral()
    client = PipesDatabricksServerlessClient(client=ws, volume_path="/Volumes/main/retention/pipes",
                                             poll_interval_seconds=0.5)
    result = dg.materialize([notebook_rows], resources={"pipes_serverless": client}, instance=instance)

    assert result.success
    (materialization,) = result.asset_materializations_for_node("notebook_rows")
    assert materialization.metadata["dagster/row_count"].value == 4
    assert "the notebook counted 4 rows" in _log_messages(instance, result.run_id)
    # the Pipes temp folders on the volume were cleaned up through the Files API
    assert list(ws.files.list_directory_contents("/Volumes/main/retention/pipes/tmp")) == []


SERVERLESS_PYTHON_JOB = """
import os, sys
from dagster_pipes import (PipesCliArgsParamsLoader, PipesUnityCatalogVolumesContextLoader,
                           PipesUnityCatalogVolumesMessageWriter, open_dagster_pipes)

with open_dagster_pipes(context_loader=PipesUnityCatalogVolumesContextLoader(),
                        message_writer=PipesUnityCatalogVolumesMessageWriter(),
                        params_loader=PipesCliArgsParamsLoader()) as pipes:
    from pyspark.sql import SparkSession

    n = SparkSession.builder.getOrCreate().range(pipes.get_extra("rows")).count()
    pipes.report_asset_materialization(metadata={"dagster/row_count": {"raw_value": n, "type": "int"},
                                                 "flags": {"raw_value": [a for a in sys.argv if a.startswith("--")],
                                                           "type": "json"},
                                                 "env": {"raw_value": "DAGSTER_PIPES_CONTEXT" in os.environ,
                                                         "type": "bool"}})
"""


def test_pipes_serverless_client_runs_a_python_file_with_cli_bootstrap(databricks_workspace, workspace_client):
    """On serverless, a `spark_python_task` gets the Pipes bootstrap as `--dagster-pipes-context/-messages`
    parameters (argv), not as environment variables: the script needs `PipesCliArgsParamsLoader`."""
    from dagster_databricks.pipes import PipesUnityCatalogVolumesMessageReader
    from databricks.sdk.service import jobs

    ws = workspace_client
    _ensure_volume(ws, "main", "retention", "pipes")
    ws.files.upload("/Volumes/main/retention/pipes/jobs/serverless_job.py", io.BytesIO(SERVERLESS_PYTHON_JOB.encode()),
                    overwrite=True)
    pins = [f"dagster-pipes=={importlib.metadata.version('dagster-pipes')}"]

    @dg.asset
    def serverless_rows(context: dg.AssetExecutionContext, pipes_serverless: PipesDatabricksServerlessClient):
        task = jobs.SubmitTask.from_dict({
            "task_key": "serverless_rows", "environment_key": "pipes",
            "spark_python_task": {"python_file": "/Volumes/main/retention/pipes/jobs/serverless_job.py"}})
        environments = [jobs.JobEnvironment.from_dict(
            {"environment_key": "pipes", "spec": {"client": "2", "dependencies": pins}})]
        return pipes_serverless.run(task=task, context=context, extras={"rows": 3},
                                    submit_args={"environments": environments}).get_materialize_result()

    # stdout/stderr forwarding through messages (the default) costs the remote ~6 s at exit: off here
    reader = PipesUnityCatalogVolumesMessageReader(client=ws, volume_path="/Volumes/main/retention/pipes",
                                                   include_stdio_in_messages=False)
    client = PipesDatabricksServerlessClient(client=ws, volume_path="/Volumes/main/retention/pipes",
                                             message_reader=reader, poll_interval_seconds=0.5)
    result = dg.materialize([serverless_rows], resources={"pipes_serverless": client})

    assert result.success
    (materialization,) = result.asset_materializations_for_node("serverless_rows")
    assert materialization.metadata["dagster/row_count"].value == 3
    assert materialization.metadata["flags"].value == ["--dagster-pipes-context", "--dagster-pipes-messages"]
    assert materialization.metadata["env"].value is False


def test_a_notebook_reads_its_widgets_and_exits_with_a_value(databricks_workspace, workspace_client):
    from databricks.sdk.service.workspace import ImportFormat, Language

    ws = workspace_client
    ws.workspace.mkdirs("/Workspace/retention")
    source = textwrap.dedent("""\
        # Databricks notebook source
        table = dbutils.widgets.get("table")
        try:
            dbutils.widgets.get("missing")
        except Exception as e:
            missing = type(e).__name__ + ": " + str(e)
        dbutils.notebook.exit(f"{table}|{missing}|{spark is not None}")
        raise AssertionError("exit ends the notebook")
        """)
    ws.workspace.upload("/retention/widgets", source.encode(), format=ImportFormat.SOURCE, language=Language.PYTHON,
                        overwrite=True)
    run = wait_for_run(ws, _submit(ws, {"task_key": "widgets", "notebook_task": {
        "notebook_path": "/retention/widgets", "base_parameters": {"table": "main.bronze.t"}}}))
    assert run.state.result_state.value == "SUCCESS", run.state.state_message
    result = ws.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result
    assert result == "main.bronze.t|InputWidgetNotDefined: No input widget named missing is defined|True"


# ---------------------------------------------------------------------------------------------------- MLflow
@pytest.fixture
def mlflow_uc(databricks_env, workspace_client, tmp_path, monkeypatch):
    """MLflow with tracking on a local SQLite file and the registry on the stand-in's Unity Catalog."""
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")  # a stand-in failure fails fast
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # the setters below export these: restored after
        monkeypatch.setenv(name, "")
    _ensure_schema(workspace_client, "main", "ml")
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri("databricks-uc")
    # artifacts beside the database (a SQLite store's default artifact root is ./mlruns in the working directory)
    mlflow.create_experiment("retention", artifact_location=(tmp_path / "artifacts").as_uri())
    try:
        yield tracking_uri
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_mlflow_databricks_uc_registry_round_trip(mlflow_uc, databricks_workspace):
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x.a + x.b > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    name = "main.ml.churn_model"
    mlflow.set_experiment("retention")
    with mlflow.start_run():
        signature = infer_signature(x, model.predict(x))
        requirements = [f"scikit-learn=={importlib.metadata.version('scikit-learn')}"]  # skips inferring them
        info = mlflow.sklearn.log_model(model, name="model", signature=signature, registered_model_name=name,
                                        pip_requirements=requirements)
        version = str(info.registered_model_version)
        with pytest.raises(MlflowException, match="signature"):
            mlflow.sklearn.log_model(model, name="unsigned", registered_model_name="main.ml.churn_model_unsigned",
                                     pip_requirements=requirements)
        with pytest.raises(MlflowException, match="three levels"):
            mlflow.sklearn.log_model(model, name="two_level", signature=signature,
                                     registered_model_name="ml.churn_model", pip_requirements=requirements)

    client = MlflowClient(tracking_uri=mlflow_uc, registry_uri="databricks-uc")
    with pytest.raises(MlflowException, match="SCHEMA_DOES_NOT_EXIST"):
        client.create_registered_model("main.no_such_schema.churn_model")
    mlflow.register_model(info.model_uri, name, tags={"source": "register_model"})
    client.set_registered_model_alias(name, "champion", version)
    champion = client.get_model_version_by_alias(name, "champion")
    assert (champion.version, champion.status, champion.aliases) == (version, "READY", ["champion"])
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(x.head(5))) == list(model.predict(x.head(5)))

    client.set_model_version_tag(name, version, "validated", "no")
    client.set_model_version_tag(name, version, "validated", "yes")  # replaces the value
    assert client.get_model_version(name, version).tags == {"validated": "yes"}
    listed = client.search_model_versions(f"name = '{name}'")
    assert version in [v.version for v in listed]  # (UC search results carry no tags: MLflow drops them)
    latest = max(int(v.version) for v in listed)
    assert client.get_model_version(name, str(latest)).tags == {"source": "register_model"}

    client.delete_registered_model_alias(name, "champion")
    assert client.get_model_version(name, version).aliases == []
    client.delete_model_version(name, version)
    assert version not in [v.version for v in client.search_model_versions(f"name='{name}'")]
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(name, version)
    models = Path(databricks_workspace.root, "Models", "main", "ml", "churn_model")
    assert not (models / version).exists() and (models / str(latest) / "MLmodel").is_file()


# ---------------------------------------------------------------------------------------------------- the edge
def test_unknown_endpoints_answer_404_and_are_recorded(databricks_workspace, workspace_client):
    from databricks.sdk.errors import NotFound

    workspace = databricks_workspace.workspace
    before = len(workspace.unknown_calls)
    with pytest.raises(NotFound, match="No API found"):
        workspace_client.clusters.get("0000-000000-nothere")
    assert workspace.unknown_calls[before:] == ["GET /api/2.1/clusters/get"]
    del workspace.unknown_calls[before:]  # expected here: not a failure of this test


def test_the_files_api_needs_an_existing_volume(databricks_workspace, workspace_client):
    from databricks.sdk.errors import NotFound

    _ensure_volume(workspace_client, "main", "retention", "pipes")
    workspace_client.files.upload("/Volumes/main/retention/pipes/probe.txt", io.BytesIO(b"x"), overwrite=True)
    assert workspace_client.files.download("/Volumes/main/retention/pipes/probe.txt").contents.read() == b"x"
    with pytest.raises(NotFound, match="main.retention.no_such_volume"):
        workspace_client.files.upload("/Volumes/main/retention/no_such_volume/probe.txt", io.BytesIO(b"x"))
    workspace_client.files.delete("/Volumes/main/retention/pipes/probe.txt")


def test_calls_without_the_token_are_refused(databricks_workspace):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.errors import Unauthenticated

    wrong = WorkspaceClient(config=Config(host=databricks_workspace.host, token="dapi-wrong", retry_timeout_seconds=5))
    with pytest.raises(Unauthenticated):
        wrong.catalogs.get("main")


def test_the_cluster_sees_dbfs_and_volumes_at_their_fuse_paths(databricks_workspace):
    root = databricks_workspace.root
    assert Path("/dbfs").resolve() == (root / "dbfs").resolve()
    assert Path("/Volumes").resolve() == (root / "Volumes").resolve()
    assert Path("/Workspace").resolve() == (root / "Workspace").resolve()
