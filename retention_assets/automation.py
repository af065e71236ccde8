"""Jobs, schedules and sensors: how the graph refreshes itself and when it retrains.

    full_refresh      everything (the quickstart; the first run)
    daily_refresh     raw through scores and monitoring with the current champion (no training)
    retrain           training set, model, champion gate, scores, campaign and drift
    daily_refresh_schedule   06:00 UTC every day
    weekly_retrain_schedule  07:00 UTC every Monday (trigger "scheduled")
    source_files_sensor      a source file differs from what the last refresh read: request daily_refresh
    drift_sensor             feature_drift fired: request retrain (trigger "drift")
    performance_sensor       model_performance fired: request retrain (trigger "performance_drop")
    retrain_outcome_sensor   a run that trained a model ended: record the champion decision in iterations.yaml
    failure_reason_sensor    any run failed: put its first cause, one sentence, on the run page (tag
                             retention/failure)

Every sensor and schedule is running by default, keeps a cursor and names its reason when it skips.
"""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from retention_assets.assets.model import TRIGGER_TAG
from retention_assets.assets.raw import SOURCE_FINGERPRINT
from retention_assets.core.names import (
    CAMPAIGN,
    CHAMPION,
    DRIFT,
    MODEL,
    ONLINE,
    PERFORMANCE,
    RELEASE,
    SCORES,
    TIMELINE,
    TRAINING_SET,
)
from retention_assets.resources.tracking import MlflowTracking
from retention_assets.settings import Settings

FULL_JOB = "full_refresh"
REFRESH_JOB = "daily_refresh"
RETRAIN_JOB = "retrain"
DAILY_REFRESH_CRON = "0 6 * * *"
WEEKLY_RETRAIN_CRON = "0 7 * * 1"
SIGNAL_TAG = "retention/signal"
RETRAIN_TAG = "retention/retrain"  # dagster.yaml queues runs with it one at a time
TRAINING = (TRAINING_SET, MODEL, CHAMPION)
CODE_LOCATION = "retention_assets"  # as workspace.yaml and pyproject's [tool.dagster] name it
REPOSITORY_TAG = ".dagster/repository"  # the UI lists a job's runs by this tag (set on runs it launches)


def job_page_tags() -> dict[str, str]:
    """Tags that put a run launched in-process (the quickstart) under its job on the UI's Jobs page,
    as if the UI had launched it."""
    return {REPOSITORY_TAG: f"__repository__@{CODE_LOCATION}"}


def _latest_materialization(instance: dg.DagsterInstance, asset: str):
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return records[0] if records else None


def signal_sensor(name: str, asset: str, flag: str, trigger: str, run_key) -> dg.SensorDefinition:
    """A sensor that requests one retrain per new materialization of `asset` whose `flag` is true."""

    @dg.sensor(name=name, job_name=RETRAIN_JOB, default_status=dg.DefaultSensorStatus.RUNNING,
               minimum_interval_seconds=60,
               description=f"Requests the {RETRAIN_JOB} job (trigger '{trigger}') when a new {asset} "
                           f"materialization reports {flag}; one run per signal (run key), quiet otherwise.")
    def _sensor(context: dg.SensorEvaluationContext):
        record = _latest_materialization(context.instance, asset)
        if record is None:
            return dg.SkipReason(f"{asset} has not been materialized yet")
        if context.cursor and int(context.cursor) >= record.storage_id:
            return dg.SkipReason(f"no new {asset} materialization since the last evaluation")
        context.update_cursor(str(record.storage_id))
        metadata = record.asset_materialization.metadata
        reason = metadata["signal_reason"].value if "signal_reason" in metadata else ""
        if flag not in metadata or not metadata[flag].value:
            return dg.SkipReason(f"{asset}: {reason or 'no signal'}")
        # One retrain answers every signal from the same data: the other sensor may have asked already.
        already = context.instance.get_runs(dg.RunsFilter(job_name=RETRAIN_JOB, created_after=datetime.fromtimestamp(
            record.timestamp, tz=timezone.utc)), limit=1)
        if already:
            return dg.SkipReason(f"{asset} signalled ({reason[:120]}), but retrain run {already[0].run_id} "
                                 f"(trigger {already[0].tags.get(TRIGGER_TAG)}) was requested after it")
        return dg.RunRequest(run_key=run_key(metadata), tags={TRIGGER_TAG: trigger, SIGNAL_TAG: reason[:250]})

    return _sensor


def build_automation(settings: Settings) -> tuple[list, list, list]:
    everything = dg.AssetSelection.all()
    training = dg.AssetSelection.assets(*TRAINING)
    full = dg.define_asset_job(FULL_JOB, selection=everything,
                               description="Every asset: sources, features, training, champion gate, scores, "
                                           "monitoring. The quickstart runs this.")
    refresh = dg.define_asset_job(
        REFRESH_JOB, selection=everything - training,
        description="Re-read every source and rebuild bronze, silver, gold, the feature store, the champion's "
                    "scores and campaign, and the monitoring assets. No training: retraining is its own job.")
    retrain = dg.define_asset_job(
        RETRAIN_JOB, selection=dg.AssetSelection.assets(*TRAINING, ONLINE, SCORES, CAMPAIGN, DRIFT, RELEASE),
        tags={RETRAIN_TAG: "1"},
        description="A new training set from the feature store, a challenger, the champion gate, and the online "
                    "features, scores, campaign and drift of whichever model is champion afterwards, published "
                    "together.")
    schedules = [
        dg.ScheduleDefinition(
            name="daily_refresh_schedule", job=refresh, cron_schedule=DAILY_REFRESH_CRON, execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Every day at 06:00 UTC: raw through scores and monitoring with the current champion."),
        dg.ScheduleDefinition(
            name="weekly_retrain_schedule", job=retrain, cron_schedule=WEEKLY_RETRAIN_CRON, execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING, tags={TRIGGER_TAG: "scheduled"},
            description="Every Monday at 07:00 UTC (after the daily refresh): retrain and gate a challenger."),
    ]

    @dg.sensor(name="source_files_sensor", job=refresh, default_status=dg.DefaultSensorStatus.RUNNING,
               minimum_interval_seconds=60,
               description="Watches the declared source files (size and modification time); when one changes, "
                           "requests daily_refresh so every layer downstream of raw follows.")
    def source_files_sensor(context: dg.SensorEvaluationContext):
        from retention_assets.core.files import fingerprint

        current = fingerprint(settings.source_paths, settings.base_dir)
        baseline = context.cursor
        if baseline is None:  # first evaluation: compare with the files the last refresh read
            record = _latest_materialization(context.instance, TIMELINE)
            if record is None:
                return dg.SkipReason(f"nothing materialized yet: run {FULL_JOB} first")
            read = record.asset_materialization.metadata.get(SOURCE_FINGERPRINT)
            baseline = read.value if read else None
        context.update_cursor(current)
        if baseline == current:
            return dg.SkipReason("the source files are unchanged since the last refresh read them")
        return dg.RunRequest(run_key=f"sources:{current}", tags={SIGNAL_TAG: "source files changed"})

    drift = signal_sensor("drift_sensor", DRIFT, "drift_signal", "drift",
                          lambda md: f"drift:{md['model_version'].value}:{md['as_of'].value if 'as_of' in md else ''}")
    performance = signal_sensor("performance_sensor", PERFORMANCE, "performance_signal", "performance_drop",
                                lambda md: f"performance:{md['model_version'].value}:{md['cohort'].value}")

    # No monitored_jobs: every job of the code location, so runs of "Materialize all" (the implicit asset job)
    # and of any selection are recorded too; runs that trained no model are skipped by record_outcome.
    @dg.run_status_sensor(name="retrain_outcome_sensor", run_status=dg.DagsterRunStatus.SUCCESS,
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="When any run that trained a model succeeds (any job, \"Materialize all\" "
                                      "included), records in iterations.yaml whether it became champion, with its "
                                      "parent's metrics beside its own (published_release records it first).")
    def retrain_outcome_sensor(context: dg.RunStatusSensorContext, tracking: MlflowTracking):
        return _record(context, tracking, "success")

    @dg.run_failure_sensor(name="retrain_failure_sensor", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="When any run that trained a model fails (any job or selection; e.g. the "
                                       "champion gate stopped a worse challenger), records that it did not become "
                                       "champion.")
    def retrain_failure_sensor(context: dg.RunFailureSensorContext, tracking: MlflowTracking):
        return _record(context, tracking, "failure")

    def _record(context, tracking: MlflowTracking, status: str):
        from retention_assets.exploration.iterations import HISTORY_FILE, record_outcome
        from retention_assets.model.tracking import champion_version

        iteration = record_outcome(settings.findings_path / HISTORY_FILE, context.dagster_run.run_id, status,
                                   champion_version(tracking.config()))
        if iteration is None:
            return dg.SkipReason(f"run {context.dagster_run.run_id} trained no model")
        context.log.info(f"{iteration.id}: {status}, champion {iteration.champion}")
        return None

    @dg.run_failure_sensor(name="failure_reason_sensor", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="When any run of this code location fails, tags it with its first cause in "
                                       "one sentence (retention/failure: file, column, rows or the failed check), so "
                                       "the run page says why before any log is opened.")
    def failure_reason_sensor(context: dg.RunFailureSensorContext):
        from retention_assets.assets.failures import FAILURE_TAG, failure_sentences

        run_id = context.dagster_run.run_id
        events = [record.dagster_event for record in context.instance.all_logs(run_id) if record.dagster_event]
        sentences = failure_sentences(events)
        if not sentences:
            return dg.SkipReason(f"run {run_id} failed without a step or check failure to name")
        context.instance.add_run_tags(run_id, {FAILURE_TAG: " ".join(sentences[0].split())[:2000]})
        return None

    sensors = [source_files_sensor, drift, performance, retrain_outcome_sensor, retrain_failure_sensor,
               failure_reason_sensor]
    return [full, refresh, retrain], schedules, sensors
