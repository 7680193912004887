"""Daily archival (02:00 UTC) and the hourly late-data sweep.

Both find every site-day that ended more than HOT_STORAGE_DAYS ago and still has hot
rows, and request its ``cold_timeseries`` partition; the asset deletes hot rows only
after the file is verified. Late rows for an archived day are merged by that re-run.
"""

import dagster as dg

from resources.hot_store import HotStoreResource
from vitals.samples import MS_PER_DAY
from vitals_assets.jobs import archive_job
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key


def archival_run_requests(
    sites: list[str], hot_store: HotStoreResource, now_ms: int, *, hot_storage_days: int
) -> list[dg.RunRequest]:
    """One run per site-day past the threshold that still holds hot rows."""
    # Days whose end <= now - threshold: i.e. days starting before now - threshold - 1 day.
    cutoff_ms = (now_ms // MS_PER_DAY - hot_storage_days) * MS_PER_DAY
    requests = []
    for site in sites:
        for day in hot_store.days_with_samples(site, cutoff_ms):
            requests.append(
                dg.RunRequest(
                    run_key=f"archive:{site}:{day}:{now_ms // 60_000}",
                    partition_key=site_day_key(site, day),
                    tags={"vitals/kind": "archive", "vitals/site": site},
                )
            )
    return requests


def _archival_schedule(name: str, cron: str, description: str) -> dg.ScheduleDefinition:
    """A schedule requesting ``cold_timeseries`` for every site-day past the window.

    The daily run and the late-data sweep differ only in when they run: one body.
    """

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=archive_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def archival(
        context: dg.ScheduleEvaluationContext, hot_store: HotStoreResource
    ) -> list[dg.RunRequest] | dg.SkipReason:
        sites = list(context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
        now_ms = int(context.scheduled_execution_time.timestamp() * 1000)
        requests = archival_run_requests(
            sites, hot_store, now_ms, hot_storage_days=hot_store.hot_storage_days
        )
        return requests or dg.SkipReason("no site-day past the hot window holds hot rows")

    return archival


daily_archival_schedule = _archival_schedule(
    "daily_archival_schedule",
    "0 2 * * *",
    "02:00 UTC: archive every site-day that left the hot window.",
)
late_data_sweep_schedule = _archival_schedule(
    "late_data_sweep_schedule",
    "30 * * * *",
    "Hourly: late rows that reached an archived day are merged into its file.",
)
