"""The code location loads and validates, the way `dagster dev` and the CLI load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]


def test_definitions_are_loadable():
    from vitals_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "ace_points",
        "ace_raw_samples",
        "hot_samples",
        "cold_timeseries",
        "cold_rollups",
        "rollup_months",
    } <= keys
    for name in ("ace_points", "ace_raw_samples", "hot_samples", "cold_timeseries"):
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        assert isinstance(partitions, dg.MultiPartitionsDefinition)
        assert sorted(dim.name for dim in partitions.partitions_defs) == ["date", "site"]
    months = graph.get(dg.AssetKey("rollup_months")).partitions_def
    assert isinstance(months, dg.MultiPartitionsDefinition)
    assert sorted(dim.name for dim in months.partitions_defs) == ["month", "site"]
    # the rollups sensor launches these two (a job's assets share one partitioning)
    for job in ("sync_job", "rollups_job", "rollup_months_job"):
        assert defs.resolve_job_def(job) is not None
    assert {s.name for s in defs.schedules} >= {"sync_schedule", "daily_archival_schedule"}


def test_dagster_definitions_validate_cli(tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), VITALS_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Validation successful" in proc.stdout + proc.stderr


def test_every_schedule_and_sensor_is_on_by_default():
    """The README's claim: everything is on in `vitals dev` (and wherever the code location
    is loaded), the sensor that builds rollups included; no default
    (STOPPED) automation sensor is added by Dagster behind our back."""
    from vitals_assets.definitions import defs

    repository = defs.get_repository_def()
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    assert "rollups_follow_cold_files" in sensors
    assert "default_automation_condition_sensor" not in sensors
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
    for schedule in repository.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
