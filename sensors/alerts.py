"""Alerts: run failures and stalls, to ``alerts.jsonl`` and the alert webhook; health checks.

Every alert is appended to ``alerts.jsonl`` in the data folder (the record that stays)
and, when ``VITALS_ALERT_WEBHOOK_URL`` is set, posted to that channel (Slack-compatible
JSON). A channel that refuses is logged; the line in ``alerts.jsonl`` is kept.
"""

import json
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus

from resources.alert_webhook import AlertWebhookResource
from vitals.config import load_settings
from vitals.webhook import WebhookError
from vitals_assets.backfill_progress import backfill_progress, last_progress_timestamp
from vitals_assets.jobs import health_checks_job

BACKFILL_STALL_S = 3600  # the plan: a backfill without progress for an hour
ARCHIVAL_STALL_S = 25 * 60  # the plan: archival longer than 25 minutes


def run_label(run: dg.DagsterRun) -> str:
    """What an operator calls the run: its job, or the assets of an ad-hoc materialisation.

    Runs launched from the UI's *Materialize* button belong to Dagster's hidden
    ``__ASSET_JOB``, a name that tells an operator nothing.
    """
    if not run.job_name.startswith("__ASSET_JOB") or not run.asset_selection:
        return run.job_name
    return "materialize " + ", ".join(sorted(k.to_user_string() for k in run.asset_selection))


def record_alert(
    title: str, alert: dict[str, Any], webhook: AlertWebhookResource, log: Any
) -> None:
    """Append the alert to ``alerts.jsonl`` and post it to the webhook, if one is set."""
    line = {"at": datetime.now(UTC).isoformat(), "title": title, **alert}
    path = load_settings().data_dir / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    if not webhook.enabled:
        return
    try:
        webhook.send(title, alert)
    except WebhookError as exc:
        log.error(f"alert not delivered to the webhook ({exc}); it is in {path}")


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(
    context: dg.RunFailureSensorContext, alert_webhook: AlertWebhookResource
) -> None:
    """Each failed run: a line in ``alerts.jsonl``, a webhook post, an error in the log."""
    run = context.dagster_run
    alert = {
        "run_id": run.run_id,
        "job": run_label(run),
        "assets": sorted(key.to_user_string() for key in run.asset_selection or ()),
        "partition": run.tags.get("dagster/partition"),
        "message": context.failure_event.message,
        "error": step_error(context.instance, run.run_id),
    }
    record_alert(f"Vitals run failed: {alert['job']}", alert, alert_webhook, context.log)
    context.log.error(f"run {run.run_id} of {alert['job']} failed: {alert['message']}")


def step_error(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The first failed step's error: what to do is there, not in "Steps failed: [...]"."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is None or event.step_failure_data.error is None:
            continue
        return f"{event.step_key}: {event.step_failure_data.error.message.strip()}"[:1000]
    return None


def find_stalls(instance: dg.DagsterInstance, now: float) -> dict[str, dict[str, Any]]:
    """Stalled work by a stable key: backfills without progress, archival runs too long."""
    stalls: dict[str, dict[str, Any]] = {}
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        idle = now - last_progress_timestamp(instance, backfill)
        if idle < BACKFILL_STALL_S:
            continue
        progress = backfill_progress(instance, backfill.backfill_id)
        stalls[f"backfill:{backfill.backfill_id}"] = {
            "stall": "backfill without progress",
            "backfill_id": backfill.backfill_id,
            "title": backfill.title,
            "idle_minutes": round(idle / 60),
            "done": f"{progress.materialized} of {progress.targeted} asset partitions"
            if progress
            else None,
        }
    running = instance.get_run_records(
        dg.RunsFilter(tags={"vitals/kind": "archive"}, statuses=[dg.DagsterRunStatus.STARTED])
    )
    for record in running:
        if record.start_time is None or now - record.start_time < ARCHIVAL_STALL_S:
            continue
        run = record.dagster_run
        stalls[f"run:{run.run_id}"] = {
            "stall": "archival run longer than 25 minutes",
            "run_id": run.run_id,
            "partition": run.tags.get("dagster/partition"),
            "running_minutes": round((now - record.start_time) / 60),
        }
    return stalls


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def stall_alert_sensor(
    context: dg.SensorEvaluationContext, alert_webhook: AlertWebhookResource
) -> dg.SkipReason:
    """Every 5 minutes: alert once for each newly stalled backfill or archival run."""
    alerted = set(json.loads(context.cursor or "[]"))
    stalls = find_stalls(context.instance, time.time())
    new = [key for key in stalls if key not in alerted]
    for key in new:
        stall = stalls[key]
        record_alert(f"Vitals stalled: {stall['stall']}", stall, alert_webhook, context.log)
    # Only what is still stalled stays in the cursor: a stall that clears and comes
    # back is alerted again.
    context.update_cursor(json.dumps(sorted(stalls)))
    return dg.SkipReason(f"{len(stalls)} stalled ({len(new)} newly alerted)")


health_checks_schedule = dg.ScheduleDefinition(
    name="health_checks_schedule",
    job=health_checks_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
