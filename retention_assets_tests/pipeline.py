"""Running the project's own refresh job in-process for tests."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from retention_assets.automation import FULL_JOB
from retention_assets.definitions import build_definitions
from retention_assets.settings import Settings


def run_refresh(settings: Settings, instance: dg.DagsterInstance | None = None, selection=None,
                profile: str | None = None):
    defs = build_definitions(settings, profile)
    job = defs.resolve_job_def(FULL_JOB)
    return job.execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False,
                                  asset_selection=selection)


def table(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(settings.data_path) / "tables" / f"{name}.parquet")


def engine(settings: Settings):
    """The engine the local profile uses, over the run's tables (use as a context manager)."""
    from retention_assets.engine.duckdb_engine import DuckDBEngine

    return DuckDBEngine(Path(settings.data_path) / "tables")


def training_rows(settings: Settings, table_name: str = "gold_features") -> pd.DataFrame:
    """The training rows of a gold-shaped table, as the pipeline selects them (every row, table order)."""
    from retention_assets.features.gold import training_sample

    with engine(settings) as e:
        return training_sample(e, table_name, None, 10**12, settings.entity.entity_key)


def materialized_keys(result) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def check_results(result) -> dict[str, bool]:
    return {
        f"{e.event_specific_data.asset_key.to_user_string()}:{e.event_specific_data.check_name}": e.event_specific_data.passed
        for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def step_failures(result) -> dict[str, str]:
    from retention_assets.assets.failures import step_failure_messages

    return step_failure_messages(result.all_events)


def published_feast(settings: Settings):
    """The Feast repository of the published release."""
    from retention_assets.publication.generations import require_release

    return require_release(settings.data_path).feast_config()


def published_fingerprint(settings: Settings) -> dict[str, str]:
    """A hash of everything users and serving read: the release manifest; every file of the published
    generation (gold, scores, campaign, the Feast offline source, registry and online store); the score
    history; and the MLflow registry's champion alias and published versions with their states."""
    import hashlib

    from retention_assets.model.tracking import CANDIDATE, champion_version, version_states
    from retention_assets.monitoring.performance import cohort_paths
    from retention_assets.profiles import build_profile
    from retention_assets.publication.generations import generation_dir, read_release, release_path

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    release = read_release(settings.data_path)
    assert release is not None, "nothing published"
    directory = generation_dir(settings.data_path, release.generation)
    found = {"release.json": digest(release_path(settings.data_path))}
    found.update({str(p.relative_to(directory)): digest(p) for p in sorted(directory.rglob("*")) if p.is_file()})
    found.update({f"score_history/{p.name}": digest(p) for p in cohort_paths(settings.data_path)})
    tracking = build_profile(settings.data_path).tracking()
    found["mlflow alias"] = str(champion_version(tracking))
    found["mlflow versions"] = repr([(v.version, v.state, v.dagster_run_id, v.mlflow_run_id)
                                     for v in version_states(tracking) if v.state != CANDIDATE])
    return found
