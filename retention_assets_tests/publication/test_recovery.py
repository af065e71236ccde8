"""Recovery after failed or killed runs, on a real MLflow store: what never published is undone, what
published is finished, and the run in progress is left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from retention_assets.feature_store.repository import FeastLayout
from retention_assets.model.tracking import (
    CANDIDATE,
    CHAMPION_STATE,
    RUN_TAG,
    STATE_TAG,
    TrackingConfig,
    champion_version,
    set_champion,
    unfinished_runs,
    version_states,
)
from retention_assets.publication.generations import (
    Release,
    generation_dir,
    generation_id,
    generations,
    read_release,
    write_release,
)
from retention_assets.publication.switch import recover

PUBLISHED_RUN, KILLED_RUN, OLDER_RUN = ("aaaaaaaa-1111-0000-0000-000000000000", "bbbbbbbb-2222-0000-0000-000000000000",
                                        "cccccccc-3333-0000-0000-000000000000")
LAYOUT = FeastLayout("retention", None, {"type": "sqlite"})


def _model_run(client: MlflowClient, experiment: str, dagster_run: str, finish: bool) -> str:
    run = client.create_run(experiment, tags={"dagster_run_id": dagster_run})
    if finish:
        client.set_terminated(run.info.run_id, "FINISHED")
    return run


def _candidate(client: MlflowClient, name: str, run, dagster_run: str) -> str:
    version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id,
                                          tags={STATE_TAG: CANDIDATE, RUN_TAG: dagster_run})
    return str(version.version)


@pytest.fixture
def left_behind(tmp_path):
    """A published run (version 1), and a run killed after registering version 2 and moving the alias to it
    (between the switch's steps 2 and 3), with generations on disk for both and for an older run."""
    tracking = TrackingConfig(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri(),
                              "retention-churn", "churn_model")
    client = tracking.client()
    experiment = client.create_experiment(tracking.experiment_name, artifact_location=tracking.artifact_location)
    client.create_registered_model(tracking.registered_model_name)
    published = _candidate(client, "churn_model", _model_run(client, experiment, PUBLISHED_RUN, True), PUBLISHED_RUN)
    killed_run = _model_run(client, experiment, KILLED_RUN, False)
    killed = _candidate(client, "churn_model", killed_run, KILLED_RUN)
    set_champion(tracking, killed)
    data_dir = tmp_path / "data"
    for run_id in (PUBLISHED_RUN, KILLED_RUN, OLDER_RUN):
        (generation_dir(data_dir, generation_id(run_id)) / "feast").mkdir(parents=True)
    write_release(data_dir, Release(generation_id(PUBLISHED_RUN), PUBLISHED_RUN, published, "2026-06-30T00:00:00+00:00",
                                    feast={}, tables={}))
    return data_dir, tracking, killed_run.info.run_id


def test_what_never_published_is_undone_and_what_published_is_finished(left_behind):
    data_dir, tracking, killed_mlflow_run = left_behind
    done = recover(data_dir, tracking, LAYOUT)

    assert done.deleted_versions == ["2"]  # the killed run's candidate can never be promoted
    assert done.finished_versions == ["1"]  # the published run was killed after the switch, before its tag
    assert done.alias_reset_to == "1" and champion_version(tracking) == "1"
    assert done.ended_runs == [killed_mlflow_run] and unfinished_runs(tracking) == []
    assert [(v.version, v.state) for v in version_states(tracking)] == [("1", CHAMPION_STATE)]
    assert generations(data_dir) == [generation_id(PUBLISHED_RUN)]
    assert set(done.removed_generations) == {generation_id(KILLED_RUN), generation_id(OLDER_RUN)}
    assert read_release(data_dir).model_version == "1"

    again = recover(data_dir, tracking, LAYOUT)
    assert not again.changed, again.describe()


def test_the_run_in_progress_keeps_its_generation_versions_and_mlflow_runs(left_behind):
    data_dir, tracking, killed_mlflow_run = left_behind
    done = recover(data_dir, tracking, LAYOUT, current_run=KILLED_RUN)

    assert done.deleted_versions == [] and done.ended_runs == []
    assert [v.version for v in version_states(tracking) if v.state == CANDIDATE] == ["2"]
    assert (generation_dir(data_dir, generation_id(KILLED_RUN))).exists()
    assert done.removed_generations == [generation_id(OLDER_RUN)]
    assert champion_version(tracking) == "1"  # the alias is the release's until this run publishes
    assert [r for r, _ in unfinished_runs(tracking)] == [killed_mlflow_run]


def test_a_store_that_does_not_exist_yet_is_not_created_by_recovery(tmp_path):
    tracking = TrackingConfig(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}", None, "retention-churn", "churn_model")
    done = recover(tmp_path / "data", tracking, LAYOUT)
    assert not done.changed
    assert not Path(tmp_path / "mlflow" / "mlflow.db").exists()


def test_a_candidate_of_a_run_that_succeeded_without_publishing_stays_for_a_later_gate(left_behind):
    data_dir, tracking, _ = left_behind
    done = recover(data_dir, tracking, LAYOUT, succeeded=lambda run_id: run_id == KILLED_RUN)

    assert done.deleted_versions == []
    assert [(v.version, v.state) for v in version_states(tracking)] == [("1", CHAMPION_STATE), ("2", CANDIDATE)]
    assert champion_version(tracking) == "1"  # still the release's: only a published run moves it
