"""The one partitioning scheme: UTC day x site (a multi-partition)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from vitals.config import load_settings

# VITALS_HISTORY_START (default 2024-01-01): the first day a backfill can reach.
PARTITIONS_START = load_settings().history_start.isoformat()

# end_offset=1: today is a partition too, so the 5-minute sync writes into it.
date_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone="UTC", end_offset=1
)
SITE_PARTITIONS_NAME = "site"
site_partitions = dg.DynamicPartitionsDefinition(name=SITE_PARTITIONS_NAME)

site_day_partitions = dg.MultiPartitionsDefinition(
    {"date": date_partitions, "site": site_partitions}
)


def site_day_key(site: str, day: date) -> dg.MultiPartitionKey:
    """The partition key for one site-day."""
    return dg.MultiPartitionKey({"date": day.isoformat(), "site": site})


def split_site_day_key(partition_key: str | dg.MultiPartitionKey) -> tuple[str, date]:
    """(site, day) from a multi-partition key."""
    if not isinstance(partition_key, dg.MultiPartitionKey):
        partition_key = dg.MultiPartitionKey(
            {
                "date": str(partition_key).split("|")[0],
                "site": str(partition_key).split("|", 1)[1],
            }
        )
    dims = partition_key.keys_by_dimension
    return dims["site"], date.fromisoformat(dims["date"])
