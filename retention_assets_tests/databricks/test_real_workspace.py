"""Opt-in smoke test against a real Databricks workspace (no stand-in): one step of the databricks profile,
run as a job through Pipes, writing a Delta table in Unity Catalog.

Skipped unless DATABRICKS_HOST and RETENTION_SPARK_REMOTE are set (see the README's "Databricks track"):

    DATABRICKS_HOST=https://<workspace> DATABRICKS_TOKEN=<token> \\
    RETENTION_SPARK_REMOTE="sc://<workspace>:443/;token=<token>;x-databricks-cluster-id=<cluster>" \\
    RETENTION_SMOKE_CATALOG=<a catalog you may create schemas in> \\
    python -m pytest retention_assets_tests/databricks/test_real_workspace.py

It creates the schemas `retention_smoke_*` and the Volume `retention_smoke_raw.files` in that catalog, uploads
the wheel, the entry point and a small sample there, and leaves them for inspection.
"""

import os
import uuid

import dagster as dg
import pytest

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABRICKS_HOST") and os.environ.get("RETENTION_SPARK_REMOTE")),
    reason="a real workspace is opt-in: set DATABRICKS_HOST, DATABRICKS_TOKEN (or OAuth) and RETENTION_SPARK_REMOTE")


def test_one_step_runs_as_a_job_on_a_real_workspace_and_writes_a_unity_catalog_table(tmp_path, monkeypatch):
    from databricks.sdk import WorkspaceClient

    from retention_assets.remote.deploy import deploy, ensure_volume, upload
    from retention_assets.sample.generator import generate_sample
    from retention_assets.settings import load_settings
    from retention_assets_tests.conftest import write_settings
    from retention_assets_tests.pipeline import run_refresh, step_failures

    catalog = os.environ.get("RETENTION_SMOKE_CATALOG", "main")
    client = WorkspaceClient()
    volume = f"/Volumes/{catalog}/retention_smoke_raw/files"
    ensure_volume(client, volume)
    run = uuid.uuid4().hex[:8]
    local = generate_sample(tmp_path / "sample", n_customers=300, seed=5, events_per_customer=20.0)
    remote = {}
    for name in ("customers", "transactions", "support_tickets"):
        path = getattr(local, name)
        remote[name] = f"{volume}/{run}/{path.name}"
        upload(client, remote[name], path.read_bytes())
    paths = type(local)(**{**local.__dict__, **{k: type(local.customers)(v) for k, v in remote.items()}})
    layers = ("raw", "bronze", "silver", "gold", "serving")
    settings = load_settings(write_settings(tmp_path, paths, unity_catalog={
        "catalog": catalog, "schemas": {layer: f"retention_smoke_{layer}" for layer in layers},
        "model_schema": "retention_smoke_ml", "storage_root": os.environ.get("RETENTION_SMOKE_STORAGE_ROOT",
                                                                            f"{volume}/{run}/lake")}))
    code_root = f"{volume}/code"
    monkeypatch.setenv("RETENTION_DATABRICKS_CODE", code_root)
    monkeypatch.setenv("RETENTION_DATABRICKS_COMPUTE", os.environ.get("RETENTION_DATABRICKS_COMPUTE", "serverless"))
    monkeypatch.setenv("RETENTION_DATABRICKS_VOLUME", f"{volume}/pipes")
    deploy(client, code_root, pipes_volume=f"{volume}/pipes")
    result = run_refresh(settings, selection=[dg.AssetKey("raw_customers")], profile="databricks")
    assert result.success, step_failures(result)
    table = client.tables.get(f"{catalog}.retention_smoke_raw.raw_customers")
    assert table.data_source_format.value == "DELTA"
    rows = result.asset_materializations_for_node("raw_customers")[0].metadata["dagster/row_count"].value
    assert rows == 300
