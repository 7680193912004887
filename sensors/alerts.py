"""Run-failure alerting and the health-check schedule."""

import json
from datetime import UTC, datetime

import dagster as dg

from vitals.config import load_settings
from vitals_assets.jobs import health_checks_job


def run_label(run: dg.DagsterRun) -> str:
    """What an operator calls the run: its job, or the assets of an ad-hoc materialisation.

    Runs launched from the UI's *Materialize* button belong to Dagster's hidden
    ``__ASSET_JOB``, a name that tells an operator nothing.
    """
    if not run.job_name.startswith("__ASSET_JOB") or not run.asset_selection:
        return run.job_name
    return "materialize " + ", ".join(sorted(k.to_user_string() for k in run.asset_selection))


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Append each failed run to ``alerts.jsonl`` in the data folder and log it."""
    run = context.dagster_run
    alert = {
        "at": datetime.now(UTC).isoformat(),
        "run_id": run.run_id,
        "job": run_label(run),
        "assets": sorted(key.to_user_string() for key in run.asset_selection or ()),
        "partition": run.tags.get("dagster/partition"),
        "message": context.failure_event.message,
    }
    path = load_settings().data_dir / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert) + "\n")
    context.log.error(f"run {run.run_id} of {alert['job']} failed: {alert['message']}")


health_checks_schedule = dg.ScheduleDefinition(
    name="health_checks_schedule",
    job=health_checks_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
