"""Ingest assets: the point catalogue, raw ACE pulls and hot-store rows [date x site]."""

import time
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from resources.ace import AceApiResource
from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.plan import expected_samples_per_hour, plan_pull
from vitals.cold.catalogue import catalogue_intervals, configured_point_names, store_catalogue
from vitals.cold.keys import raw_pull_key
from vitals.cold.raw_pulls import RawPullFile, list_raw_pulls, read_parsed_pulls, store_raw_pull
from vitals.samples import day_bounds_ms, ms_to_iso
from vitals.windows import is_past_hot_window, now_ms, pull_window
from vitals_assets.backfill_progress import progress_metadata
from vitals_assets.partition_runs import SiteDayMetadata, run_kind, run_per_site_day, site_days
from vitals_assets.partitions import SITE_DAY_BACKFILL_POLICY, site_day_key, site_day_partitions

ACE_POOL = "ace_api"


class RawPullConfig(dg.Config):
    """How much of the site-day to pull: ``auto``, ``full_day`` or ``incremental``.

    ``auto`` is incremental when the sync watermark is inside the day, else the whole day.

    ``reuse_stored_windows``: for a day that has ended, sub-windows already stored by an
    earlier (e.g. failed or cancelled) run are not pulled again.
    """

    mode: str = "auto"
    reuse_stored_windows: bool = True


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    pool=ACE_POOL,
    kinds={"python", "sql"},
    group_name="ingest",
)
def ace_points(
    context: dg.AssetExecutionContext,
    ace: AceApiResource,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
) -> dg.MaterializeResult:
    """ACE's configured-point catalogue for the site, upserted into the hot store."""
    catalogues: dict[str, SiteDayMetadata] = {}

    def refresh(site: str, day: date) -> SiteDayMetadata:
        if site not in catalogues:  # one request per site, however many days
            catalogues[site] = _refresh_catalogue(ace, hot_store, cold_store, site)
        return catalogues[site]

    return run_per_site_day(context, refresh)


def _refresh_catalogue(
    ace: AceApiResource, hot_store: HotStoreResource, cold_store: ColdStoreResource, site: str
) -> SiteDayMetadata:
    """Fetch the site's configured points into the hot store and the cold snapshot."""
    began = time.monotonic()
    points = ace.fetch_configured_points(site)
    written = hot_store.upsert_points(site, points)
    timezone = ace.fetch_site_timezone(site)
    store_catalogue(cold_store.store, site, points, timezone=timezone)
    return {
        "site": site,
        "points": len(points),
        "samples_per_hour": round(
            expected_samples_per_hour([p.collect_interval for p in points]), 1
        ),
        "points_written": written,
        "timezone": timezone or "none in the ACE site record",
        "duration_s": round(time.monotonic() - began, 3),
    }


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    deps=[ace_points],
    pool=ACE_POOL,
    kinds={"python", "parquet"},
    group_name="ingest",
)
def ace_raw_samples(
    context: dg.AssetExecutionContext,
    config: RawPullConfig,
    ace: AceApiResource,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
) -> dg.MaterializeResult:
    """Raw ACE pulls of the site-day, kept as received under raw/ in the cold store.

    A day can then be rebuilt without calling ACE again.
    """
    return run_per_site_day(
        context,
        lambda site, day: _pull_site_day(context, config, ace, hot_store, cold_store, site, day),
    )


def _pull_site_day(
    context: dg.AssetExecutionContext,
    config: RawPullConfig,
    ace: AceApiResource,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
    site: str,
    day: date,
) -> SiteDayMetadata:
    """Pull one site-day in planned sub-windows, storing each as soon as it is complete."""
    began = time.monotonic()
    window = pull_window(day, watermark_ms=hot_store.get_watermark(site), mode=config.mode)
    if window.empty:
        raise dg.Failure(f"site-day {site} {day} has not started yet; nothing to pull")
    catalogue_fetched = 0
    if not configured_point_names(hot_store, cold_store.store, site):
        # Without a catalogue the pull could not be planned from the point rates, and
        # archival would keep none of its samples: fetch it now (one listing per site).
        catalogue_fetched = _refresh_catalogue(ace, hot_store, cold_store, site)["points"]
        context.log.info(f"site {site} had no point catalogue; fetched {catalogue_fetched} points")
    intervals = catalogue_intervals(cold_store.store, site) or []
    plan = plan_pull(window.start_ms, window.end_ms, intervals, page_size=ace.page_size)
    _, day_end = day_bounds_ms(day)
    reuse = config.reuse_stored_windows and not window.incremental and day_end <= now_ms()
    stored = (
        {(p.start_ms, p.end_ms) for p in list_raw_pulls(cold_store.store, site, day)}
        if reuse
        else set()
    )
    keys, rows, reused = [], 0, 0
    totals = dict.fromkeys(
        (
            "requests",
            "retries",
            "pages",
            "throttled_429",
            "throttle_waits",
            "throttle_wait_seconds",
        ),
        0,
    )
    for start_ms, end_ms in plan.windows:
        if (start_ms, end_ms) in stored:
            keys.append(raw_pull_key(site, day, start_ms, end_ms))
            reused += 1
            continue
        pull = ace.fetch_site_window(site, start_ms, end_ms)
        # Each sub-window is stored as soon as it is complete: a cancelled or failed
        # run keeps what it finished, and never a partial window.
        keys.append(
            store_raw_pull(
                cold_store.store, site, start_ms, end_ms, pull.table, parsed=pull.to_samples()
            )
        )
        rows += pull.table.num_rows
        for name in totals:
            totals[name] += getattr(pull.stats, name)
    seconds = time.monotonic() - began
    context.log.info(
        f"pulled {rows} raw samples of {site} [{ms_to_iso(window.start_ms)}, "
        f"{ms_to_iso(window.end_ms)}) in "
        f"{totals['requests']} requests ({len(plan.windows)} sub-windows, {reused} reused)"
    )
    # Numbers are plotted per partition in the UI, so each name says its unit (rows,
    # requests, _s); the window bounds are timestamps: readable in the UI, epoch seconds
    # for a machine, and not plotted.
    return {
        "raw_keys": dg.MetadataValue.json(keys),
        "window": f"[{ms_to_iso(window.start_ms)}, {ms_to_iso(window.end_ms)})",
        "window_start": dg.MetadataValue.timestamp(window.start_ms / 1000),
        "window_end": dg.MetadataValue.timestamp(window.end_ms / 1000),
        "incremental": window.incremental,
        "rows": rows,
        "requests": totals["requests"],
        "expected_requests": plan.expected_requests,
        "sub_windows": len(plan.windows),
        "sub_windows_reused": reused,
        "pages": totals["pages"],
        "retries": totals["retries"],
        "responses_429": totals["throttled_429"],
        "throttle_waits": totals["throttle_waits"],
        "throttle_wait_s": round(totals["throttle_wait_seconds"], 3),
        "rows_per_request": round(rows / max(totals["requests"], 1), 1),
        "catalogue_points_fetched": catalogue_fetched,
        "duration_s": round(seconds, 3),
        **progress_metadata(context),
    }


def _pulls_of_this_run(
    context: dg.AssetExecutionContext, cold_store: ColdStoreResource, site: str, day: date
) -> tuple[list[RawPullFile], bool]:
    """The raw pulls this run wrote for the partition, or every pull of the day."""
    all_pulls = list_raw_pulls(cold_store.store, site, day)
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    keys = set()
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if (
            materialization is not None
            and materialization.asset_key == ace_raw_samples.key
            and materialization.partition in (str(site_day_key(site, day)), None)
        ):
            raw_keys = materialization.metadata.get("raw_keys")
            if raw_keys is not None:
                keys.update(raw_keys.value)
    if not keys:
        return all_pulls, False
    return [pull for pull in all_pulls if pull.key in keys], True


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    deps=[ace_raw_samples],
    kinds={"python", "sql"},
    group_name="ingest",
    output_required=False,
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=15)),
)
def hot_samples(
    context: dg.AssetExecutionContext, hot_store: HotStoreResource, cold_store: ColdStoreResource
) -> Iterator[dg.MaterializeResult]:
    """Samples of configured points upserted into the hot store; bad values counted.

    Days inside the hot window only: a day past HOT_STORAGE_DAYS is not materialised; it
    is recorded as an observation and goes to cold_timeseries.
    """
    hot_storage_days = hot_store.hot_storage_days
    targeted = site_days(context)
    past = {(site, day) for site, day in targeted if is_past_hot_window(day, hot_storage_days)}
    if not past:
        yield run_per_site_day(
            context, lambda site, day: _upsert_site_day(context, hot_store, cold_store, site, day)
        )
        return
    # A day past the window is not materialised: the partition's status must mean "these
    # rows are in the hot store", and they are not. An observation says why; days inside
    # the window of the same (range) run are materialised one partition at a time.
    for site, day in targeted:
        partition = str(site_day_key(site, day))
        if (site, day) in past:
            context.log_event(
                dg.AssetObservation(
                    asset_key=context.asset_key,
                    partition=partition,
                    metadata={
                        "skipped": "past the hot window; cold_timeseries builds the day from raw pulls",
                        "hot_storage_days": hot_storage_days,
                    },
                )
            )
        else:
            metadata = {
                **_upsert_site_day(context, hot_store, cold_store, site, day),
                "run_kind": run_kind(context),
            }
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=context.asset_key, partition=partition, metadata=metadata
                )
            )
    context.log.info(
        f"{len(past)} of {len(targeted)} site-day(s) past the {hot_storage_days}-day hot "
        "window: not written to the hot store (cold_timeseries builds them from raw pulls)"
    )


def _upsert_site_day(
    context: dg.AssetExecutionContext,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
    site: str,
    day: date,
) -> SiteDayMetadata:
    """Upsert the raw pulls of one site-day (this run's, else all) into the hot store."""
    began = time.monotonic()
    if not hot_store.list_points(site, limit=1):
        raise dg.Failure(
            f"site {site!r} has no configured points in the hot store; materialize ace_points first"
        )
    pulls, this_run_only = _pulls_of_this_run(context, cold_store, site, day)
    parsed = read_parsed_pulls(cold_store.store, pulls)
    result = hot_store.upsert_samples(site, parsed.table)
    if pulls:
        reached = max(pull.end_ms for pull in pulls)
        current = hot_store.get_watermark(site)
        if current is None or reached > current:  # the watermark only moves forward
            hot_store.set_watermark(site, reached)
    return {
        "rows": result.rows,
        "dropped_bad_value": parsed.dropped_bad_value,
        "dropped_bad_time": parsed.dropped_bad_time,
        "dropped_bad_name": parsed.dropped_bad_name,
        "dropped_unconfigured_point": result.unknown_points,
        "raw_pulls_read": len(pulls),
        "from_this_run_only": this_run_only,
        "duration_s": round(time.monotonic() - began, 3),
    }
