"""The partitioning schemes: UTC day x site (a multi-partition), and month x site for month files."""

from __future__ import annotations

import warnings
from datetime import date

import dagster as dg

from vitals.config import load_settings

_SETTINGS = load_settings()
# VITALS_HISTORY_START (default 2024-01-01): the first day a backfill can reach.
PARTITIONS_START = _SETTINGS.history_start.isoformat()

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


def _backfill_policy(partitions_per_run: int) -> dg.BackfillPolicy | None:
    """One run per site-day by default; with N > 1, up to N site-days in each run.

    The backfill daemon then cuts the backfill into ranges of site-days. Why: the daemon submits about one run a second and each run costs a process start,
    so a 1-year x 200-site backfill is 73,000 runs (docs/scale.md). The assets already
    process every site-day of a range in turn (``partition_runs.run_per_site_day``).
    """
    return dg.BackfillPolicy.multi_run(partitions_per_run) if partitions_per_run > 1 else None


# Every date x site asset carries it: a backfill's assets must share one policy to
# share runs.
SITE_DAY_BACKFILL_POLICY = _backfill_policy(_SETTINGS.backfill_partitions_per_run)


# Month files (``rollup_months``): month x site. The first month is the one holding the
# first daily partition, so every day's month is a partition (end_offset=1: this month).
_HISTORY_START = _SETTINGS.history_start
MONTHS_START = _HISTORY_START.replace(day=1).isoformat()
month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=MONTHS_START, timezone="UTC", end_offset=1
)
site_month_partitions = dg.MultiPartitionsDefinition(
    {"month": month_partitions, "site": site_partitions}
)


def site_month_key(site: str, year: int, month: int) -> dg.MultiPartitionKey:
    """The partition key for one site-month (``YYYY-MM-01|site``)."""
    return dg.MultiPartitionKey({"month": date(year, month, 1).isoformat(), "site": site})


def split_site_month_key(partition_key: str | dg.MultiPartitionKey) -> tuple[str, int, int]:
    """(site, year, month) from a month x site key."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        first, site = dims["month"], dims["site"]
    else:
        first, site = str(partition_key).split("|", 1)
    month = date.fromisoformat(first)
    return site, month.year, month.month


def month_key_of_site_day(partition_key: str | dg.MultiPartitionKey) -> str:
    """The ``rollup_months`` partition a ``date|site`` partition belongs to."""
    site, day = split_site_day_key(partition_key)
    return str(site_month_key(site, day.year, day.month))


def _month_of_days_mapping() -> dg.MultiPartitionMapping:
    """A month's upstream partitions are its days (same site).

    The dimensions differ in name (``date`` upstream, ``month`` here), so the mapping is
    spelled out. ``MultiPartitionMapping`` is a beta class in Dagster 1.13 that we use on
    purpose: its warning is ignored here, while it is built, and nowhere else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        return dg.MultiPartitionMapping(
            {
                "date": dg.DimensionPartitionMapping("month", dg.TimeWindowPartitionMapping()),
                "site": dg.DimensionPartitionMapping("site", dg.IdentityPartitionMapping()),
            }
        )


MONTH_OF_DAYS_MAPPING = _month_of_days_mapping()
