"""The 5-minute incremental sync: one run per site for today.

Yesterday too while the site's watermark is still inside it.
"""

import dagster as dg

from resources.hot_store import HotStoreResource
from vitals.samples import day_of_ms
from vitals.windows import SYNC_OVERLAP_MS
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.jobs import sync_job
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

CATALOGUE_REFRESH_MINUTES = 60


def sync_run_requests(
    sites: list[str], hot_store: HotStoreResource, now_ms: int
) -> list[dg.RunRequest]:
    """Run requests for one sync cycle at ``now_ms``."""
    requests = []
    minute_of_hour = (now_ms // 60_000) % 60
    for site in sites:
        watermark = hot_store.get_watermark(site)
        days = {day_of_ms(now_ms)}
        if watermark is not None:
            days.add(day_of_ms(max(watermark - SYNC_OVERLAP_MS, 0)))
            days = {day for day in days if day >= day_of_ms(now_ms - 86_400_000)}
        refresh_catalogue = minute_of_hour < 5 or not hot_store.list_points(site, limit=1)
        for day in sorted(days):
            selection = [ace_raw_samples.key, hot_samples.key]
            if refresh_catalogue:
                selection.insert(0, ace_points.key)
            requests.append(
                dg.RunRequest(
                    run_key=f"sync:{site}:{day}:{now_ms // 60_000}",
                    partition_key=site_day_key(site, day),
                    asset_selection=selection,
                    tags={"vitals/kind": "sync", "vitals/site": site},
                )
            )
    return requests


@dg.schedule(
    cron_schedule="*/5 * * * *",
    job=sync_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def sync_schedule(
    context: dg.ScheduleEvaluationContext, hot_store: HotStoreResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """Every 5 minutes: pull each site from its watermark (minus an overlap) to now."""
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME)
    if not sites:
        return dg.SkipReason("no sites yet: the site_discovery_sensor adds them")
    now = int(context.scheduled_execution_time.timestamp() * 1000)
    return sync_run_requests(list(sites), hot_store, now)
