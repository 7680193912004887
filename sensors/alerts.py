"""Run-failure alerting and the health-check schedule."""

import json
from datetime import UTC, datetime

import dagster as dg

from vitals.config import load_settings
from vitals_assets.jobs import health_checks_job


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Append each failed run to ``alerts.jsonl`` in the data folder and log it."""
    run = context.dagster_run
    alert = {
        "at": datetime.now(UTC).isoformat(),
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "message": context.failure_event.message,
    }
    path = load_settings().data_dir / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert) + "\n")
    context.log.error(f"run {run.run_id} of {run.job_name} failed: {alert['message']}")


health_checks_schedule = dg.ScheduleDefinition(
    name="health_checks_schedule",
    job=health_checks_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
