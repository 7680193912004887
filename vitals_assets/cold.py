"""The cold tier asset: one verified Parquet file per site per UTC day."""

from datetime import date, timedelta

import dagster as dg

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.archive import ArchiveError, archive_site_day
from vitals.cold.keys import cold_day_key
from vitals.cold.raw_pulls import covered_ms, list_raw_pulls
from vitals.samples import day_bounds_ms
from vitals.windows import is_past_hot_window, now_ms
from vitals_assets.ingest import ace_raw_samples
from vitals_assets.partition_runs import SiteDayMetadata, run_per_site_day
from vitals_assets.partitions import SITE_DAY_BACKFILL_POLICY, site_day_partitions


def _refuse_partial_raw_day(
    hot_store: HotStoreResource, cold_store: ColdStoreResource, site: str, day: date
) -> None:
    """Refuse a day known only from raw pulls that do not cover all of it.

    A cancelled or failed backfill then never produces a partial cold file.
    """
    start_ms, end_ms = day_bounds_ms(day)
    covered = covered_ms(list_raw_pulls(cold_store.store, site, day))
    if covered >= end_ms - start_ms:
        return
    if hot_store.count_samples(site, start_ms, end_ms) or cold_store.exists(
        cold_day_key(site, day)
    ):
        return  # the day has other sources (synced hot rows, an earlier file)
    raise dg.Failure(
        f"raw pulls of {site} {day} cover {covered / 3_600_000:.2f} h of 24 h and the day has "
        "no hot rows or earlier file; materialize ace_raw_samples for it first"
    )


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    deps=[ace_raw_samples],
    kinds={"parquet"},
    group_name="cold",
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 3 * * *", lower_bound_delta=timedelta(hours=24)
    ),
)
def cold_timeseries(
    context: dg.AssetExecutionContext, hot_store: HotStoreResource, cold_store: ColdStoreResource
) -> dg.MaterializeResult:
    """timeseries/{site}/{YYYY}/{MM}/{DD}.parquet: every sample of the site-day, verified.

    Built from raw pulls, the previous file and hot rows (read from the hot store; hot
    wins), and verified by reading it back. Its upstream graph (ace_points,
    ace_raw_samples) is all a backfill of old days needs. For days past
    HOT_STORAGE_DAYS the hot rows are deleted only after verification.
    """
    return run_per_site_day(
        context, lambda site, day: _archive_site_day(context, hot_store, cold_store, site, day)
    )


def _archive_site_day(
    context: dg.AssetExecutionContext,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
    site: str,
    day: date,
) -> SiteDayMetadata:
    """Build, verify and record one site-day's file; past the window, delete hot rows."""
    _, day_end = day_bounds_ms(day)
    if day_end > now_ms():
        raise dg.Failure(f"site-day {site} {day} has not ended; its cold file would be partial")
    delete_hot = is_past_hot_window(day, hot_store.hot_storage_days)
    _refuse_partial_raw_day(hot_store, cold_store, site, day)
    try:
        outcome = archive_site_day(hot_store, cold_store.store, site, day, delete_hot=delete_hot)
    except ArchiveError as exc:
        raise dg.Failure(str(exc)) from exc
    context.log.info(
        f"{outcome.key}: {outcome.rows} rows, {outcome.bytes} bytes, verified; "
        f"{outcome.hot_rows_deleted} hot rows deleted"
    )
    return {
        "key": outcome.key,
        "rows": outcome.rows,
        "bytes": outcome.bytes,
        "bytes_per_sample": round(outcome.bytes / max(outcome.rows, 1), 3),
        "checksum": outcome.checksum,
        "rewritten": outcome.rewritten,
        "verified": outcome.verified,
        "hot_rows": outcome.hot_rows,
        "raw_rows": outcome.raw_rows,
        "previous_file_rows": outcome.cold_rows_before,
        "hot_rows_deleted": outcome.hot_rows_deleted,
        "dropped": outcome.raw_dropped,
        "past_hot_window": delete_hot,
        "duration_s": round(outcome.seconds, 3),
    }
