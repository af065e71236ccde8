"""A run's staged Feast repository and champion: what the run's later steps read, never the published ones.

The first step of a run that needs the feature store stages it: the offline source is pinned from the
engine's `feast_features` table (the latest materialization, as every Dagster asset reads its inputs)
and applied to the generation's own registry. The run's champion is the decision its gate wrote, or
the published champion when the run did not train.
"""

from __future__ import annotations

from pathlib import Path

from retention_assets.engine.base import Engine
from retention_assets.feature_store.repository import FeastConfig, FeastLayout, Published, stage_offline
from retention_assets.publication.generations import (
    generation_dir,
    generation_id,
    is_staged,
    mark_staged,
    read_decision,
    read_release,
)

OFFLINE = "feast"
ONLINE = "online"


def staged_feast(layout: FeastLayout, data_dir: Path, run_id: str) -> FeastConfig:
    """The Feast repository of `run_id`'s generation (staged or not)."""
    generation = generation_id(run_id)
    return layout.config(generation_dir(data_dir, generation), generation)


def stage_feast(layout: FeastLayout, data_dir: Path, run_id: str, engine: Engine, table: str, key: str,
                timestamp: str, *, restage: bool = False) -> tuple[FeastConfig, Published | None]:
    """The run's Feast repository with its offline source and view applied (done once per run, or again
    with `restage` when the run has just rewritten the source table). Returns what was applied, if anything."""
    config = staged_feast(layout, data_dir, run_id)
    directory = generation_dir(data_dir, generation_id(run_id))
    if is_staged(directory, OFFLINE) and not restage:
        return config, None
    published = stage_offline(config, engine, table, key, timestamp)
    mark_staged(directory, OFFLINE)
    return config, published


def run_champion(data_dir: Path, run_id: str) -> str | None:
    """The version this run serves: its own gate's decision, else the published champion, else None."""
    decision = read_decision(generation_dir(data_dir, generation_id(run_id)))
    if decision is not None:
        return decision.champion_version
    release = read_release(data_dir)
    return release.model_version if release is not None else None


def mark_online(data_dir: Path, run_id: str) -> None:
    mark_staged(generation_dir(data_dir, generation_id(run_id)), ONLINE)
