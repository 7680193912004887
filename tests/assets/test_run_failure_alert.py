"""A failed run becomes one line in alerts.jsonl, named as an operator would name it:
a UI materialisation (Dagster's hidden ``__ASSET_JOB``) by its assets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from sensors.alerts import run_failure_alert
from vitals.config import load_settings
from vitals_assets.definitions import defs
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

SITE = "acme_hq"
OLD_DAY = datetime.now(UTC).date() - timedelta(days=40)


def test_a_failed_ui_materialisation_is_alerted_by_its_assets(stores, _isolated_data_dir):
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.name.startswith("__ASSET_JOB")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        # cold_timeseries alone over a day with no raw pulls fails (and says what to run)
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("cold_timeseries")],
            partition_key=str(site_day_key(SITE, OLD_DAY)),
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
        ).for_run_failure()
        run_failure_alert(context)
    lines = (load_settings().data_dir / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    alert = json.loads(lines[0])
    assert alert["job"] == "materialize cold_timeseries"
    assert alert["assets"] == ["cold_timeseries"]
    assert alert["partition"] == str(site_day_key(SITE, OLD_DAY))
    assert alert["run_id"] == result.dagster_run.run_id
