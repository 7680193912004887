"""An example of using the query resource from an asset: a daily chart-sized summary."""

import dagster as dg

from resources.hot_store import HotStoreResource
from resources.query import QueryResource
from vitals.samples import day_bounds_ms
from vitals_assets.cold import cold_timeseries
from vitals_assets.partitions import (
    SITE_DAY_BACKFILL_POLICY,
    site_day_partitions,
    split_site_day_key,
)


class PointSummaryConfig(dg.Config):
    """Which points to summarise (case-insensitive); empty means the first five."""

    points: list[str] = []  # noqa: RUF012 - pydantic copies defaults per instance


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    deps=[cold_timeseries],
    kinds={"duckdb"},
    group_name="examples",
)
def point_hourly_summary(
    context: dg.AssetExecutionContext,
    config: PointSummaryConfig,
    query: QueryResource,
    hot_store: HotStoreResource,
) -> dg.MaterializeResult:
    """Hourly avg/min/max of a few points of the site-day, through the query resource.

    Reads both tiers (hot wins), as a chart would.
    """
    site, day = split_site_day_key(context.partition_key)
    names = config.points or [point.name for point in hot_store.list_points(site, limit=5)]
    start_ms, end_ms = day_bounds_ms(day)
    result = query.query(site, names, start_ms, end_ms, interval="1h", aggs=("avg", "min", "max"))
    table = {
        series.point: {
            "hours": len(series.t),
            "avg": series.values["avg"],
        }
        for series in result.series
    }
    first = result.series[0] if result.series else None
    return dg.MaterializeResult(
        metadata={
            "points": len(result.series),
            "samples": result.samples,
            "tiers": ", ".join(result.tiers),
            "query_duration_s": round(result.elapsed_ms / 1000, 4),
            "summary": dg.MetadataValue.json(table),
            "first_point_daily_avg": (
                sum(v for v in first.values["avg"] if v is not None) / max(len(first.t), 1)
                if first
                else 0.0
            ),
        }
    )
