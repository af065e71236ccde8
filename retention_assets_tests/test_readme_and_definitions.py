"""The README's commands and the code location itself, as a user meets them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_readme_quickstart_is_two_commands_and_ci_runs_the_second_verbatim():
    commands = readme_commands()
    assert len(commands) == 2
    install, run = commands[0].split(" && ")
    assert install == "python -m pip install -e ." and run == "retention quickstart"
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_the_local_quickstart_installs_nothing_of_the_databricks_extra():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {Requirement(r).name for r in project["dependencies"]}
    extra = {Requirement(r).name for r in project["optional-dependencies"]["databricks"]}
    assert {"pyspark", "pysail", "deltalake", "databricks-sdk", "dagster-databricks"} <= extra
    assert not base & extra  # the quickstart installs `.`, the base dependencies only
    assert "retention-assets[databricks]" in project["optional-dependencies"]["test"]


def test_readme_quickstart_runs_the_whole_graph_and_prints_metrics(tmp_path):
    run = readme_commands()[0].split(" && ")[1]  # the install half already ran to get here
    env = {k: v for k, v in os.environ.items() if k not in ("RETENTION_SETTINGS", "RETENTION_DATA_DIR", "DAGSTER_HOME",
                                                            "RETENTION_PROFILE")}
    done = subprocess.run(run, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # feedback while it runs: the job, then one line per step with the elapsed and the step's own time
    assert "Running job full_refresh" in done.stdout
    assert re.search(r"\[\s*(\d+m)?\d+s\] started\s+churn_model\n", done.stdout)
    assert re.search(r"\[\s*(\d+m)?\d+s\] done\s+churn_model \((\d+m)?\d+s\)\n", done.stdout)
    assert re.search(r"\] done\s+published_release ", done.stdout)
    metrics = re.search(r"ROC AUC (\d\.\d+) \| PR AUC (\d\.\d+)", done.stdout)
    assert metrics and 0.7 < float(metrics.group(1)) < 0.99
    from retention_assets.publication.generations import read_release

    release = read_release(tmp_path / ".retention_data")
    scores = Path(release.tables["churn_scores"])
    assert str(scores) in done.stdout and scores.exists()
    assert f"Published generation {release.generation}" in done.stdout

    # The README's serving command, in the same place: the champion on the online features.
    import json

    import pandas as pd

    serving = (ROOT / "README.md").read_text().split("### Serving", 1)[1]
    command = re.search(r"```bash\n(.+?)\n", serving).group(1).split("#")[0].strip()
    assert command.startswith("retention score ")
    served = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    assert "loading the champion model ..." in served.stderr  # progress on stderr, stdout compared below
    assert "reading 2 customer(s) from the online store" in served.stderr and "scored 2 customer(s)" in served.stderr
    # the output the README shows is this command's: the same customers, reasons and wording (numbers masked:
    # another machine's BLAS may move a last digit)
    shown = re.search(r"```text\n(.+?)\n```", serving, re.S).group(1)

    def masked(text: str) -> list[str]:
        return [re.sub(r"-?\d[\d,]*(\.\d+)?", "#", line) for line in text.strip().splitlines()]
    assert masked(served.stdout) == masked(shown)
    assert "svd_" not in served.stdout and "_count" not in served.stdout
    records = [json.loads(line) for line in subprocess.run(
        command + " --json", shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300).stdout.splitlines() if line.startswith("{")]
    batch = pd.read_parquet(scores).set_index("customer_id")
    assert [r["customer_id"] for r in records] == command.split()[2:]
    for record in records:
        assert abs(record["churn_probability"] - batch.loc[record["customer_id"], "churn_probability"]) < 1e-9
        assert record["top_reasons"] == batch.loc[record["customer_id"], "top_reasons"]
        assert [r["text"] for r in record["reasons"]] == [r["text"] for r in batch.loc[record["customer_id"], "reasons"]]


HEAVY = ('sklearn', 'matplotlib', 'duckdb', 'scipy', 'mlflow', 'shap', 'feast', 'psycopg', 'psycopg2', 'redis',
         'pyspark', 'pysail', 'databricks', 'dagster_databricks', 'deltalake')


@pytest.mark.parametrize("profile", ["local", "production", "spark_engine", "databricks"])
def test_definitions_load_fast_without_heavy_libraries(profile):
    """Every profile loads its definitions in under 3 s, importing no engine, ML or Databricks library."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETENTION_", "DATABRICKS_"))}
    env["RETENTION_PROFILE"] = "local" if profile == "spark_engine" else profile
    if profile == "spark_engine":
        env["RETENTION_ENGINE"] = "spark"
    if profile == "databricks":
        env.update(DATABRICKS_HOST="https://example.cloud.databricks.com", DATABRICKS_TOKEN="dapi-x",
                   RETENTION_SPARK_REMOTE="sc://example.cloud.databricks.com:443")
    code = ("import time, sys; t = time.perf_counter(); import retention_assets.definitions; "
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "print(f'{time.perf_counter() - t}|{\",\".join(heavy)}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    seconds, heavy = out.stdout.strip().splitlines()[-1].split("|")
    assert float(seconds) < 3.0
    assert heavy == ""


def test_runs_execute_in_one_process_unless_asked_otherwise(monkeypatch, tmp_path):
    """The UI and sensors launch runs with the definitions' executor: in-process by default (one import
    of the heavy libraries per run), one process per step only when asked."""
    from retention_assets.definitions import build_definitions
    from retention_assets.settings import current_settings

    settings = current_settings()
    monkeypatch.delenv("RETENTION_EXECUTOR", raising=False)
    default = build_definitions(settings)
    assert {default.resolve_job_def(j).executor_def.name for j in ("full_refresh", "retrain")} == {"in_process"}
    monkeypatch.setenv("RETENTION_EXECUTOR", "multiprocess")
    assert build_definitions(settings).resolve_job_def("full_refresh").executor_def.name == "multiprocess"
    monkeypatch.setenv("RETENTION_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="RETENTION_EXECUTOR='threads' is not an executor"):
        build_definitions(settings)


def test_dagster_definitions_validate_passes():
    out = subprocess.run(["dagster", "definitions", "validate", "-m", "retention_assets.definitions"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Validation successful" in out.stderr + out.stdout


def test_refresh_schedule_is_daily_in_utc_and_running():
    from retention_assets.definitions import defs

    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "daily_refresh"
    dg.Definitions.validate_loadable(defs)


def test_readme_settings_example_is_valid(tmp_path):
    from retention_assets.settings import load_settings

    text = (ROOT / "README.md").read_text()
    example = re.search(r"```yaml\n(entity:.+?)```", text, re.S).group(1)
    (tmp_path / "settings.yaml").write_text(example)
    settings = load_settings(tmp_path / "settings.yaml")
    assert settings.entity.duplicate_keys == "error" and "transactions" in settings.events


def test_quickstart_reports_bad_input_as_one_clear_sentence(tmp_path, monkeypatch, capsys, small_sample):
    import pandas as pd

    from retention_assets.cli import main
    from retention_assets_tests.assets.test_leakage_and_bad_input import copy_sample
    from retention_assets_tests.conftest import write_settings

    paths = copy_sample(small_sample, tmp_path / "data")
    customers = pd.read_csv(paths.customers, dtype=str).drop(columns=["customer_id"])
    customers.to_csv(paths.customers, index=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))  # a persistent instance, as `dagster dev`'s
    monkeypatch.delenv("RETENTION_SETTINGS", raising=False)

    code = main(["quickstart", "--settings", str(write_settings(tmp_path, paths))])

    out, err = capsys.readouterr()
    assert code == 1
    assert f"raw_customers: {paths.customers}, column 'customer_id': the column is missing" in err
    assert "Traceback" not in err
    # progress on stdout, one line per step, and the run is listed under its job on the UI's Jobs page
    assert re.search(r"\]\s+started\s+raw_customers\n", out) and re.search(r"\]\s+FAILED\s+raw_customers \(", out)
    import dagster as dg

    runs = dg.DagsterInstance.get().get_runs(dg.RunsFilter(
        job_name="full_refresh", tags={".dagster/repository": "__repository__@retention_assets"}))
    assert len(runs) == 1 and runs[0].run_id in out


def test_weekly_retrain_schedule_and_every_sensor_run_by_default():
    from retention_assets.definitions import defs

    weekly = defs.resolve_schedule_def("weekly_retrain_schedule")
    assert weekly.cron_schedule == "0 7 * * 1" and weekly.execution_timezone == "UTC"
    assert weekly.job_name == "retrain" and weekly.default_status == dg.DefaultScheduleStatus.RUNNING
    names = {s.name for s in defs.sensors}
    assert names == {"source_files_sensor", "drift_sensor", "performance_sensor", "retrain_outcome_sensor",
                     "retrain_failure_sensor", "failure_reason_sensor"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in defs.sensors)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dagster_dev_opens_with_the_sensors_and_schedules_running(tmp_path):
    """The README's `DAGSTER_HOME=$PWD dagster dev`: what the UI shows as running, asked over GraphQL."""
    import json
    import signal
    import time
    import urllib.request

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env.update(DAGSTER_HOME=str(tmp_path), RETENTION_DATA_DIR=str(tmp_path / "data"))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    server = subprocess.Popen(["dagster", "dev", "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    query = {"query": "{ sensorsOrError(repositorySelector: {repositoryName: \"__repository__\", "
                      "repositoryLocationName: \"retention_assets\"}) { ... on Sensors { results { name "
                      "sensorState { status } } } } schedulesOrError(repositorySelector: {repositoryName: "
                      "\"__repository__\", repositoryLocationName: \"retention_assets\"}) { ... on Schedules { "
                      "results { name scheduleState { status } } } } }"}
    try:
        answer, deadline = None, time.time() + 180
        while time.time() < deadline:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps(query).encode(),
                                                 {"Content-Type": "application/json"})
                answer = json.loads(urllib.request.urlopen(request, timeout=10).read())["data"]
                if answer["sensorsOrError"].get("results"):
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(2)
        assert answer, "dagster dev did not answer"
        sensors = {s["name"]: s["sensorState"]["status"] for s in answer["sensorsOrError"]["results"]}
        schedules = {s["name"]: s["scheduleState"]["status"] for s in answer["schedulesOrError"]["results"]}
        assert sensors["drift_sensor"] == sensors["performance_sensor"] == "RUNNING"
        assert set(sensors.values()) == {"RUNNING"}
        assert schedules == {"daily_refresh_schedule": "RUNNING", "weekly_retrain_schedule": "RUNNING"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
