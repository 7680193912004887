"""Data quality per point and site-day: the ``point_quality`` asset and its checks.

Built after each cold day (the rollups sensor requests it with ``cold_rollups``) and,
for today, by the 5-minute sync (``sync_job``), measured up to now. It depends on
``cold_timeseries`` only: a dependency on ``hot_samples`` would skip it for every day
past the hot window (``hot_samples`` yields nothing for those); in the sync run it may
so see the hot rows of the previous cycle, at most 5 minutes behind.
"""

from datetime import timedelta

import dagster as dg

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.config import load_settings
from vitals.quality.build import build_quality_day
from vitals.quality.summary import read_quality_day, summary_of_rows
from vitals.samples import day_bounds_ms
from vitals.windows import now_ms
from vitals_assets.cold import cold_timeseries
from vitals_assets.partition_runs import site_days
from vitals_assets.partitions import site_day_partitions

COVERAGE_DROP_WARN = 0.10  # mean coverage 10 points below the day before
STALE_SHARE_WARN = 0.05  # more than 5 % of the site's points stale
CHECK_COVERAGE = "coverage_steady"
CHECK_STALE = "few_stale_points"


@dg.asset(
    partitions_def=site_day_partitions,
    deps=[cold_timeseries],
    kinds={"parquet", "duckdb"},
    group_name="quality",
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_COVERAGE,
            asset="point_quality",
            description="Mean point coverage did not drop by 10 points against the day before",
        ),
        dg.AssetCheckSpec(
            CHECK_STALE,
            asset="point_quality",
            description="At most 5 % of the site's points are stale",
        ),
    ],
)
def point_quality(
    context: dg.AssetExecutionContext, hot_store: HotStoreResource, cold_store: ColdStoreResource
) -> dg.MaterializeResult:
    """quality/{site}/{YYYY}/{MM}/{DD}.parquet: per point coverage, gaps, stuck, implausible.

    Coverage against each point's collect interval, the longest gap, the longest flat
    run, samples outside the unit's plausible range, the history mode the data suggests
    (docs/query.md "Data quality").
    """
    overrides = load_settings().site_overrides
    clock = now_ms()
    metadata: dict[str, dg.RawMetadataValue] = {}
    checks: list[dg.AssetCheckResult] = []
    worst_drop, worst_stale, stale_detail = 0.0, 0.0, ""
    for site, day in site_days(context):
        _start, end = day_bounds_ms(day)
        built = build_quality_day(
            cold_store.store,
            hot_store,
            site,
            day,
            overrides=overrides,
            now_ms=clock if clock < end else None,
        )
        summary = built.summary
        previous = read_quality_day(cold_store.store, site, day - timedelta(days=1))
        before = summary_of_rows(list(previous.values())) if previous else None
        drop = float(before["mean_coverage"]) - float(summary["mean_coverage"]) if before else 0.0
        stale_share = int(summary["stale_points"]) / max(1, int(summary["points"]))
        worst_drop = max(worst_drop, drop)
        if stale_share >= worst_stale:
            worst_stale, stale_detail = stale_share, f"{site} {day}"
        metadata.update(
            {
                f"{site}/{day}/mean_coverage": summary["mean_coverage"],
                f"{site}/{day}/stale_points": summary["stale_points"],
                f"{site}/{day}/stuck_points": summary["stuck_points"],
                f"{site}/{day}/implausible_samples": summary["implausible_samples"],
            }
        )
        metadata["samples"] = int(metadata.get("samples", 0) or 0) + built.samples
        metadata["seconds"] = round(float(metadata.get("seconds", 0.0) or 0.0) + built.seconds, 3)
    checks.append(
        dg.AssetCheckResult(
            check_name=CHECK_COVERAGE,
            passed=worst_drop < COVERAGE_DROP_WARN,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"largest_drop": round(worst_drop, 4), "threshold": COVERAGE_DROP_WARN},
        )
    )
    checks.append(
        dg.AssetCheckResult(
            check_name=CHECK_STALE,
            passed=worst_stale <= STALE_SHARE_WARN,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "stale_share": round(worst_stale, 4),
                "threshold": STALE_SHARE_WARN,
                "site_day": stale_detail,
            },
        )
    )
    return dg.MaterializeResult(metadata=metadata, check_results=checks)
