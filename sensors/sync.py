"""The incremental sync: every 5 minutes, one run per due site for today.

Yesterday too while the site's watermark is still inside it. Which sites are due comes
from the ACE request budget (:mod:`vitals.ace.cadence`): up to 50 sites at 30
requests/minute every site is due every tick; beyond that each site is synced once per
longer interval, in fixed slots so each tick carries an even share, and point
catalogues are listed on a staggered, slower cycle.
"""

import dagster as dg

from resources.hot_store import HotStoreResource
from vitals.ace.cadence import SyncCadence, catalogue_due, is_due, sync_cadence
from vitals.config import load_settings
from vitals.samples import day_of_ms
from vitals.windows import SYNC_OVERLAP_MS
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.jobs import sync_job
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key


def sync_run_requests(
    sites: list[str], hot_store: HotStoreResource, now_ms: int, cadence: SyncCadence
) -> list[dg.RunRequest]:
    """Run requests for the sites due in the sync tick at ``now_ms``."""
    requests = []
    for site in sites:
        if not is_due(site, cadence, now_ms):
            continue
        watermark = hot_store.get_watermark(site)
        days = {day_of_ms(now_ms)}
        if watermark is not None:
            days.add(day_of_ms(max(watermark - SYNC_OVERLAP_MS, 0)))
            days = {day for day in days if day >= day_of_ms(now_ms - 86_400_000)}
        refresh_catalogue = catalogue_due(site, cadence, now_ms) or not hot_store.list_points(
            site, limit=1
        )
        for day in sorted(days):
            selection = [ace_raw_samples.key, hot_samples.key]
            if refresh_catalogue:
                selection.insert(0, ace_points.key)
            requests.append(
                dg.RunRequest(
                    run_key=f"sync:{site}:{day}:{now_ms // 60_000}",
                    partition_key=site_day_key(site, day),
                    asset_selection=selection,
                    tags={
                        "vitals/kind": "sync",
                        "vitals/site": site,
                        "vitals/sync_interval_minutes": str(cadence.interval_minutes),
                    },
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
    """Every 5 minutes: pull each due site from its watermark (minus an overlap) to now."""
    sites = context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME)
    if not sites:
        return dg.SkipReason("no sites yet: the site_discovery_sensor adds them")
    now = int(context.scheduled_execution_time.timestamp() * 1000)
    cadence = sync_cadence(len(sites), load_settings().ace_requests_per_minute)
    message = (
        f"{len(sites)} sites at {cadence.requests_per_minute} requests/minute: each synced "
        f"every {cadence.interval_minutes} min, catalogue every "
        f"{cadence.catalogue_refresh_minutes} min (~{cadence.expected_requests_per_minute:.1f} "
        "requests/minute)"
    )
    if cadence.over_ceiling:
        context.log.warning(f"{message}: over the ceiling, data falls behind (docs/scale.md)")
    else:
        context.log.info(message)
    requests = sync_run_requests(list(sites), hot_store, now, cadence)
    return requests or dg.SkipReason(f"no site due in this tick; {message}")
