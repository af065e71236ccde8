"""Jobs and schedules. Monitoring sensors and retraining triggers arrive with the monitoring layer."""

from __future__ import annotations

import dagster as dg

REFRESH_JOB = "daily_refresh"
DAILY_REFRESH_CRON = "0 6 * * *"


def build_automation() -> tuple[list, list]:
    refresh = dg.define_asset_job(
        REFRESH_JOB, selection=dg.AssetSelection.all(),
        description="Re-read every source and rebuild bronze, silver, gold, the model and the scores.",
    )
    schedule = dg.ScheduleDefinition(
        name="daily_refresh_schedule", job=refresh, cron_schedule=DAILY_REFRESH_CRON, execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 06:00 UTC: the whole graph, raw through scores.",
    )
    return [refresh], [schedule]
