"""When a site-month's day rollups have settled: the month half of the rollups sensor.

Kept apart from ``sensors/rollups.py`` (which follows cold files to day rollups) so each
file has one job. A month is compacted (``rollup_months``) only when nothing about to
change it is waiting or running, and its newest day rollup change is a quiet period old.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from vitals_assets.partitions import month_key_of_site_day, site_month_key, split_site_day_key

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass
class BusyMonths:
    """Month partitions that must not be compacted in this tick.

    ``of_every_site`` holds (year, month) pairs held back for every site (a range run
    whose ends name different sites may cover the sites between them); ``everything``
    holds back every month (a range compaction run is in progress).
    """

    months: set[str] = field(default_factory=set)
    of_every_site: set[tuple[int, int]] = field(default_factory=set)
    everything: bool = False

    def holds(self, month_partition: str) -> bool:
        """Whether ``month_partition`` (``YYYY-MM-01|site``) waits."""
        if self.everything or month_partition in self.months:
            return True
        first = month_partition.split("|", 1)[0]
        return (int(first[:4]), int(first[5:7])) in self.of_every_site


def _months_between(start_key: str, end_key: str) -> tuple[str | None, list[tuple[int, int]]]:
    """(the range's site, or None if its ends differ; the months from start to end)."""
    (site_a, day_a), (site_b, day_b) = split_site_day_key(start_key), split_site_day_key(end_key)
    first, last = min(day_a, day_b), max(day_a, day_b)
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return (site_a if site_a == site_b else None), months


def busy_months(
    runs: list[dg.DagsterRun],
    waiting_days: list[str],
    *,
    rollups_key: dg.AssetKey,
    months_key: dg.AssetKey,
) -> BusyMonths:
    """Months not to compact in this tick.

    Those with a day waiting (in the cursor or requested now), a day rollup run or a
    compaction run in progress (``runs``: the queued and running runs).
    """
    busy = BusyMonths(months={month_key_of_site_day(day) for day in waiting_days})
    for run in runs:
        selection = run.asset_selection or frozenset()
        partition = run.tags.get("dagster/partition")
        ranged = RANGE_START in run.tags and RANGE_END in run.tags
        if rollups_key in selection:
            if partition:
                busy.months.add(month_key_of_site_day(partition))
            elif ranged:
                site, months = _months_between(run.tags[RANGE_START], run.tags[RANGE_END])
                if site is None:
                    busy.of_every_site.update(months)
                else:
                    busy.months.update(str(site_month_key(site, y, m)) for y, m in months)
        if months_key in selection:
            if partition:
                busy.months.add(partition)
            elif ranged:
                busy.everything = True
    return busy


def settled_month_requests(
    months: dict[str, list[float]],
    busy: BusyMonths,
    *,
    job_name: str,
    months_key: dg.AssetKey,
    now: float,
    quiet_seconds: float,
) -> list[dg.RunRequest]:
    """One compaction run per settled month of ``months``.

    ``months``: partition -> [newest rollup record id, its time]; the run key names the
    newest change it covers, so each settled change is requested once.
    """
    return [
        dg.RunRequest(
            run_key=f"{month}@{int(record_id)}",
            partition_key=month,
            job_name=job_name,
            asset_selection=[months_key],
        )
        for month, (record_id, changed_at) in sorted(months.items())
        if not busy.holds(month) and now - changed_at >= quiet_seconds
    ]
