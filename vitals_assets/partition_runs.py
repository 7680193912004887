"""One asset body per site-day, whether a run targets one partition or a range.

``dagster.materialize`` with partition-range tags and backfills with a single-run
policy hand an asset a range of keys; each site-day is then processed in turn and the
run's metadata sums the per-day figures (and lists them).
"""

from collections.abc import Callable
from datetime import date
from typing import Any

import dagster as dg

from vitals_assets.partitions import split_site_day_key

# One site-day's figures: plain numbers/strings/bools or Dagster metadata values.
SiteDayMetadata = dict[str, Any]
SiteDayBody = Callable[[str, date], SiteDayMetadata]
_NOT_SUMMED = {
    "site",
    "window",
    "window_start",
    "window_end",
    "key",
    "checksum",
    "incremental",
    # ratios: a range run's sum of them would mean nothing
    "rows_per_request",
    "bytes_per_sample",
    "samples_per_hour",
}


def site_days(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    """The (site, day) pairs this run targets, in key order."""
    return [split_site_day_key(key) for key in context.partition_keys]


def combine_metadata(per_day: list[tuple[str, date, SiteDayMetadata]]) -> SiteDayMetadata:
    """One partition: its metadata. A range: sums of the numeric figures plus a list."""
    if len(per_day) == 1:
        return per_day[0][2]
    totals: SiteDayMetadata = {"partitions": len(per_day)}
    for _site, _day, metadata in per_day:
        for name, value in metadata.items():
            if name in _NOT_SUMMED or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                totals[name] = round(totals.get(name, 0) + value, 3)
            elif isinstance(value, dg.JsonMetadataValue) and isinstance(value.data, list):
                merged = totals.get(name, dg.MetadataValue.json([])).data
                totals[name] = dg.MetadataValue.json([*merged, *value.data])
    totals["per_partition"] = dg.MetadataValue.json(
        [
            {
                "site": site,
                "date": day.isoformat(),
                **{k: v for k, v in metadata.items() if isinstance(v, int | float | str | bool)},
            }
            for site, day, metadata in per_day
        ]
    )
    return totals


def run_kind(context: dg.AssetExecutionContext) -> str:
    """What launched the run: ``backfill``, ``sync``, ``archive`` or ``manual``.

    Recorded with each materialisation, so the metrics exporter can split figures (ACE
    requests, samples) by it without looking up every run.
    """
    tags = context.run.tags
    if "dagster/backfill" in tags:
        return "backfill"
    return tags.get("vitals/kind") or "manual"


def run_per_site_day(context: dg.AssetExecutionContext, body: SiteDayBody) -> dg.MaterializeResult:
    """Run ``body`` for every targeted site-day and return the combined result."""
    per_day = []
    for site, day in site_days(context):
        per_day.append((site, day, body(site, day)))
    return dg.MaterializeResult(
        metadata={**combine_metadata(per_day), "run_kind": run_kind(context)}
    )
