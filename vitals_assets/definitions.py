"""The one Definitions object: merged from small per-area pieces."""

from __future__ import annotations

import dagster as dg

from sensors.alerts import health_checks_schedule, run_failure_alert, stall_alert_sensor
from sensors.archival import daily_archival_schedule, late_data_sweep_schedule
from sensors.rollups import rollups_follow_cold_files
from sensors.sites import site_discovery_sensor
from sensors.sync import sync_schedule
from vitals.arrow_memory import configure_arrow_memory
from vitals.config import load_settings
from vitals_assets.bindings import build_resources
from vitals_assets.checks import cold_checks, hot_checks
from vitals_assets.cold import cold_timeseries
from vitals_assets.examples import point_hourly_summary
from vitals_assets.executor import build_executor
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.jobs import (
    archive_job,
    health_checks_job,
    rollup_months_job,
    rollups_job,
    sync_job,
)
from vitals_assets.quality import point_quality
from vitals_assets.rollup_months import (
    rollup_month_covers_current_days,
    rollup_months,
    rollup_year_covers_month_days,
)
from vitals_assets.rollups import cold_rollups


def _ingest_defs() -> dg.Definitions:
    return dg.Definitions(assets=[ace_points, ace_raw_samples, hot_samples])


def _cold_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[cold_timeseries, cold_rollups, rollup_months, point_quality],
        asset_checks=[
            *cold_checks,
            *hot_checks,
            rollup_month_covers_current_days,
            rollup_year_covers_month_days,
        ],
    )


def _query_defs() -> dg.Definitions:
    return dg.Definitions(assets=[point_hourly_summary])


def _operations_defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[sync_job, archive_job, health_checks_job, rollups_job, rollup_months_job],
        schedules=[
            sync_schedule,
            daily_archival_schedule,
            late_data_sweep_schedule,
            health_checks_schedule,
        ],
        sensors=[
            site_discovery_sensor,
            run_failure_alert,
            stall_alert_sensor,
            rollups_follow_cold_files,
        ],
    )


# Every process that loads the code location (webserver, daemon, run workers) archives
# and queries with Arrow: give it the allocator those steps were measured with.
configure_arrow_memory()

# The only module-scope Definitions (dagster loads exactly one).
defs = dg.Definitions.merge(
    _ingest_defs(),
    _cold_defs(),
    _query_defs(),
    _operations_defs(),
    # In-process unless a Celery broker is configured (vitals_assets/executor.py).
    dg.Definitions(resources=build_resources(), executor=build_executor(load_settings())),
)
