"""A failed run becomes one line in alerts.jsonl, named as an operator would name it (a
UI materialisation, Dagster's hidden ``__ASSET_JOB``, by its assets), and one post to
the alert webhook; a stalled backfill is alerted once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from sensors.alerts import run_failure_alert, stall_alert_sensor
from tests.support.webhook_receiver import webhook_receiver
from vitals.config import load_settings
from vitals_assets.bindings import build_resources
from vitals_assets.definitions import defs
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from vitals_cli.backfill import submit_backfill

SITE = "acme_hq"
OLD_DAY = datetime.now(UTC).date() - timedelta(days=40)


def fail_a_ui_materialisation(instance):
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.name.startswith("__ASSET_JOB")
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
    # cold_timeseries alone over a day with no raw pulls fails (and says what to run)
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey("cold_timeseries")],
        partition_key=str(site_day_key(SITE, OLD_DAY)),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    return result, failure


def alert_lines() -> list[dict]:
    path = load_settings().data_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_failed_ui_materialisation_is_alerted_by_its_assets(stores, monkeypatch):
    with webhook_receiver() as receiver, dg.instance_for_test() as instance:
        monkeypatch.setenv("VITALS_ALERT_WEBHOOK_URL", receiver.url)
        webhook = build_resources()["alert_webhook"]  # bound as EnvVar, as in the code location
        result, failure = fail_a_ui_materialisation(instance)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"alert_webhook": webhook},
        ).for_run_failure()
        run_failure_alert(context)
    (alert,) = alert_lines()
    assert alert["job"] == "materialize cold_timeseries"
    assert alert["assets"] == ["cold_timeseries"]
    assert alert["partition"] == str(site_day_key(SITE, OLD_DAY))
    assert alert["run_id"] == result.dagster_run.run_id
    (post,) = receiver.posts  # Slack's incoming-webhook shape: text + attachment fields
    assert post["text"].startswith("*Vitals run failed: materialize cold_timeseries*")
    fields = {f["title"]: f["value"] for f in post["attachments"][0]["fields"]}
    assert fields["run_id"] == result.dagster_run.run_id
    assert fields["partition"] == str(site_day_key(SITE, OLD_DAY))
    assert "Steps failed" in fields["message"]
    # the step's own error says what to run
    assert fields["error"].startswith("cold_timeseries: ")
    assert "materialize ace_raw_samples" in fields["error"]
    assert fields["error"] == alert["error"]


def test_a_refusing_webhook_keeps_the_alert_line_and_names_no_url(stores, monkeypatch, capfd):
    with webhook_receiver() as receiver, dg.instance_for_test() as instance:
        receiver.status = 500
        monkeypatch.setenv("VITALS_ALERT_WEBHOOK_URL", receiver.url)
        result, failure = fail_a_ui_materialisation(instance)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"alert_webhook": build_resources()["alert_webhook"]},
        ).for_run_failure()
        run_failure_alert(context)
    assert len(receiver.posts) == 1 and len(alert_lines()) == 1
    logged = capfd.readouterr().err
    assert "alert not delivered to the webhook (alert webhook answered HTTP 500)" in logged
    assert "secret" not in logged


def test_a_backfill_without_progress_for_an_hour_is_alerted_once(stores, monkeypatch):
    with webhook_receiver() as receiver, dg.instance_for_test() as instance:
        monkeypatch.setenv("VITALS_ALERT_WEBHOOK_URL", receiver.url)
        backfill_id = submit_backfill(instance, sites=[SITE], start=OLD_DAY, end=OLD_DAY)
        fresh = dg.build_sensor_context(
            instance=instance, resources={"alert_webhook": build_resources()["alert_webhook"]}
        )
        assert "0 stalled" in stall_alert_sensor(fresh).skip_message
        backfill = instance.get_backfill(backfill_id)
        instance.update_backfill(backfill._replace(backfill_timestamp=time.time() - 2 * 3600))
        first = dg.build_sensor_context(
            instance=instance, resources={"alert_webhook": build_resources()["alert_webhook"]}
        )
        assert "1 stalled (1 newly alerted)" in stall_alert_sensor(first).skip_message
        again = dg.build_sensor_context(
            instance=instance,
            cursor=first.cursor,
            resources={"alert_webhook": build_resources()["alert_webhook"]},
        )
        assert "1 stalled (0 newly alerted)" in stall_alert_sensor(again).skip_message
    (post,) = receiver.posts
    assert post["text"].startswith("*Vitals stalled: backfill without progress*")
    fields = {f["title"]: f["value"] for f in post["attachments"][0]["fields"]}
    assert fields["backfill_id"] == backfill_id and int(fields["idle_minutes"]) >= 119
    (line,) = alert_lines()
    assert line["backfill_id"] == backfill_id
