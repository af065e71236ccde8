"""The switch that publishes a run, and the recovery that undoes what failed or killed runs left.

Publishing a generation, in this order:
  1. pin the user-facing tables (gold, scores, campaign) into the generation (engine snapshots);
  2. point the registry's champion alias at the run's champion;
  3. replace the release manifest (one atomic rename): from here on every reader sees the new set;
  4. tag the run's candidate version `champion` or `rejected`;
  5. on an engine whose tables users query in place (Unity Catalog), copy the pinned tables to their
     published names, one Delta commit each (Delta has no multi-table transaction: a kill here leaves
     some of them at the previous release until the next publication).
A kill before 3 leaves the old release in force; recovery then moves the alias back and deletes the
candidate. A kill between 3 and 4 leaves the new release in force; recovery finishes step 4.

Recovery runs under the data directory's run lock, so no other run is live: every generation but the
published one, the one it replaced and the current run's is removed (with its Feast project in a
shared registry or Redis), every candidate version of a run that failed or was killed is deleted (it
can never be promoted; a candidate of a run that succeeded without publishing, such as a run of
`churn_model` alone, stays for a later run's gate to judge), and MLflow runs left RUNNING by a killed
process are ended as KILLED.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retention_assets.engine.base import Engine
from retention_assets.feature_store.repository import FeastConfig, FeastLayout, teardown_generation
from retention_assets.model.tracking import (
    CANDIDATE,
    CHAMPION_STATE,
    REJECTED,
    TrackingConfig,
    champion_version,
    champion_override,
    delete_version,
    end_override,
    end_run,
    set_champion,
    set_version_state,
    store_exists,
    unfinished_runs,
    version_states,
)
from retention_assets.publication.generations import (
    ChampionDecision,
    Release,
    generation_dir,
    generation_id,
    generations,
    is_staged,
    read_release,
    write_release,
)
from retention_assets.publication.staging import ONLINE


class PublicationError(RuntimeError):
    """The run cannot be published (something it must have staged is missing)."""


def publish_release(data_dir: Path, engine: Engine, tracking: TrackingConfig, *, run_id: str, as_of: str,
                    tables: list[str], feast: FeastConfig, decision: ChampionDecision,
                    trained_version: str | None) -> Release:
    """Make the run's staged generation the published one (see the module docstring for the order)."""
    generation = generation_id(run_id)
    directory = generation_dir(data_dir, generation)
    if not is_staged(directory, ONLINE):
        raise PublicationError(f"run {run_id} staged no online features: a release needs online_features, "
                               f"churn_scores and retention_campaign materialized in the same run")
    pinned = {}
    for table in tables:
        path = directory / "tables" / f"{table}.parquet"
        engine.snapshot(table, path)
        pinned[table] = str(path)
    previous = read_release(data_dir)
    release = Release(generation=generation, run_id=run_id, model_version=decision.champion_version, as_of=as_of,
                      feast=asdict(feast), tables=pinned, previous=previous.generation if previous else None,
                      challenger_version=trained_version, promoted=decision.promoted)
    set_champion(tracking, decision.champion_version)
    end_override(tracking)
    write_release(data_dir, release)
    if trained_version is not None:
        set_version_state(tracking, trained_version, CHAMPION_STATE if decision.promoted else REJECTED)
    for table in tables:
        engine.publish(table)
    return release


@dataclass
class Recovery:
    """What a recovery undid or finished."""

    removed_generations: list[str] = field(default_factory=list)
    deleted_versions: list[str] = field(default_factory=list)
    finished_versions: list[str] = field(default_factory=list)
    ended_runs: list[str] = field(default_factory=list)
    alias_reset_to: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.removed_generations or self.deleted_versions or self.finished_versions or self.ended_runs
                    or self.alias_reset_to)

    def describe(self) -> str:
        parts = []
        if self.removed_generations:
            parts.append(f"removed unpublished or superseded generations {', '.join(self.removed_generations)}")
        if self.deleted_versions:
            parts.append(f"deleted model versions {', '.join(self.deleted_versions)} of runs that never published")
        if self.finished_versions:
            parts.append(f"finished the state tags of published versions {', '.join(self.finished_versions)}")
        if self.alias_reset_to:
            parts.append(f"moved the champion alias back to the published version {self.alias_reset_to}")
        if self.ended_runs:
            parts.append(f"ended {len(self.ended_runs)} MLflow run(s) left RUNNING by a killed process as KILLED")
        return "; ".join(parts) or "nothing to recover"


def _shared(layout: FeastLayout) -> bool:
    """Whether a generation's Feast project has parts outside its directory."""
    return layout.registry is not None or layout.online_store.get("type") != "sqlite"


def recover(data_dir: Path, tracking: TrackingConfig, layout: FeastLayout, current_run: str | None = None,
            succeeded: Callable[[str], bool] = lambda run_id: False) -> Recovery:
    """Undo or finish what earlier runs left (see the module docstring). Call it only while holding the
    data directory's run lock; `current_run`'s own generation, versions and MLflow runs are left alone.
    `succeeded` says whether a Dagster run ended successfully (a killed run never did)."""
    done = Recovery()
    release = read_release(data_dir)
    current = generation_id(current_run) if current_run else None
    keep = {g for g in (release and release.generation, release and release.previous, current) if g}
    for generation in generations(data_dir):
        if generation in keep:
            continue
        directory = generation_dir(data_dir, generation)
        if _shared(layout):
            teardown_generation(layout.config(directory, generation))
        shutil.rmtree(directory, ignore_errors=True)
        done.removed_generations.append(generation)
    if store_exists(tracking):
        _recover_registry(tracking, release, current_run, succeeded, done)
    return done


def _recover_registry(tracking: TrackingConfig, release: Release | None, current_run: str | None,
                      succeeded: Callable[[str], bool], done: Recovery) -> None:
    for version in version_states(tracking):
        if version.state != CANDIDATE or (current_run and version.dagster_run_id == current_run):
            continue
        published = release is not None and version.dagster_run_id == release.run_id
        if not published and version.dagster_run_id and succeeded(version.dagster_run_id):
            continue  # a run that succeeded without publishing: a later run's gate may judge it
        if published:
            state = CHAMPION_STATE if version.version == release.model_version else REJECTED
            set_version_state(tracking, version.version, state)
            done.finished_versions.append(version.version)
        else:
            delete_version(tracking, version.version)
            done.deleted_versions.append(version.version)
    overridden = champion_override(tracking) is not None  # `retention champion set/clear`: a person's choice
    if release is not None and not overridden and champion_version(tracking) != release.model_version:
        set_champion(tracking, release.model_version)
        done.alias_reset_to = release.model_version
    for run_id, dagster_run in unfinished_runs(tracking):
        if current_run and dagster_run == current_run:
            continue
        end_run(tracking, run_id, "KILLED")
        done.ended_runs.append(run_id)
