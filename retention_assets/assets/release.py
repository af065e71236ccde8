"""release: the run's staged outputs become what users and serving read, all at once, or nothing does.

`published_release` depends on every other asset, so it is the run's last step and Dagster skips it
when any step or blocking check of the run failed; it checks that again, then switches the release
manifest (`publication.switch.publish_release`). Before it runs, nothing a user or the serving path
reads has changed.
"""

import dagster as dg

from retention_assets.assets.model import history_table
from retention_assets.core.names import CAMPAIGN, GOLD, MODEL, ONLINE, RELEASE, SCORES, TIMELINE
from retention_assets.resources.compute import EngineResource
from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings

RELEASE_GROUP = "release"
PUBLISHED_TABLES = (GOLD, SCORES, CAMPAIGN)
STAGED_THIS_RUN = (ONLINE, SCORES, CAMPAIGN)  # what a release must have been given by its own run


def blocking_check_failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The blocking checks of `run_id` that failed, as `asset:check` names."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.blocking:
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return failed


def _record_champion(settings: Settings, run_id: str, trained: str | None, champion: str):
    """The run's iteration gets its champion decision where it takes effect, whichever job or selection
    ("Materialize all" included) launched the run; returns the history to show (empty: no model trained)."""
    from retention_assets.exploration.iterations import HISTORY_FILE, load_history, record_outcome

    path = settings.findings_path / HISTORY_FILE
    if trained is None or record_outcome(path, run_id, "success", champion) is None:
        return []
    return load_history(path)


def build_release_asset(settings: Settings, upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    deps = [k for k in upstream if k != dg.AssetKey(TIMELINE)]

    @dg.asset(name=RELEASE, group_name=RELEASE_GROUP, deps=deps, ins={"timeline": dg.AssetIn(TIMELINE)},
              kinds={"mlflow", "feast"},
              description="The published set: gold, the Feast offline source, registry and online store, scores, "
                          "campaign and the registry's champion alias, switched together by one atomic write of "
                          "the release manifest once every step and blocking check of the run has passed. A run "
                          "that fails anywhere leaves the previous release in force, unchanged.")
    def published_release(context: dg.AssetExecutionContext, compute: EngineResource, feast: FeatureStoreResource,
                          tracking: MlflowTracking, timeline: dict) -> dg.MaterializeResult:
        from retention_assets.core.run_lock import data_dir_lock
        from retention_assets.core.timeline import Timeline
        from retention_assets.monitoring.performance import record_cohort
        from retention_assets.publication import ChampionDecision, generation_dir, generation_id, read_decision
        from retention_assets.publication.generations import read_release
        from retention_assets.publication.switch import publish_release

        run_id = context.run.run_id
        failed = blocking_check_failures(context.instance, run_id)
        if failed:
            raise dg.Failure(f"not published: blocking checks failed in this run: {', '.join(failed)}")
        stale = [name for name in STAGED_THIS_RUN
                 if (event := context.instance.get_latest_materialization_event(dg.AssetKey(name))) is None
                 or event.run_id != run_id]
        if stale:
            raise dg.Failure(f"not published: a release needs {', '.join(STAGED_THIS_RUN)} materialized in the same "
                             f"run, and this run did not materialize {', '.join(stale)}")
        as_of = Timeline.from_dict(timeline).as_of
        with data_dir_lock(settings.data_path):  # held already on the in-process executor
            decision = read_decision(generation_dir(settings.data_path, generation_id(run_id)))
            trained = decision.challenger_version if decision is not None else None
            if decision is None:
                current = read_release(settings.data_path)
                if current is None:
                    raise dg.Failure("not published: no champion yet (this run trained no model)")
                decision = ChampionDecision(current.model_version, "", False, "this run trained no model")
            with compute.engine() as engine:
                release = publish_release(settings.data_path, engine, tracking.config(), run_id=run_id,
                                          as_of=as_of.isoformat(), tables=list(PUBLISHED_TABLES),
                                          feast=feast.staged(run_id), decision=decision, trained_version=trained)
                record_cohort(engine, SCORES, settings.data_path, as_of)
            compute.guard.recover(run_id, context.log, context.instance)  # the generation before the replaced one goes now
        history = _record_champion(settings, run_id, trained, release.model_version)
        if history:  # the model's own page gets the decided history too (its materialization predates it)
            context.log_event(dg.AssetObservation(asset_key=MODEL, metadata={
                "iteration_history": dg.MetadataValue.md(history_table(history)),
                "champion_version": dg.MetadataValue.text(str(release.model_version)),
                "promoted": dg.MetadataValue.bool(release.promoted)}))
        context.log.info(f"published generation {release.generation}: model version {release.model_version}, "
                         f"as of {release.as_of} (replacing {release.previous or 'nothing'})")
        return dg.MaterializeResult(metadata={
            "generation": dg.MetadataValue.text(release.generation),
            "model_version": dg.MetadataValue.text(release.model_version),
            "promoted": dg.MetadataValue.bool(release.promoted),
            "champion_reason": dg.MetadataValue.text(decision.reason),
            "as_of": dg.MetadataValue.text(release.as_of),
            "replaced": dg.MetadataValue.text(release.previous or "nothing"),
            "feast_project": dg.MetadataValue.text(release.feast["project"]),
            "feast_repo": dg.MetadataValue.path(release.feast["repo_path"]),
            "tables": dg.MetadataValue.json(release.tables),
            **({"iteration_history": dg.MetadataValue.md(history_table(history))} if history else {}),
        })

    return published_release
