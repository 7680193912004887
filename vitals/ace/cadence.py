"""How often each site can be synced within the ACE request budget, and which sites are due.

Why: ACE allows ``ACE_REQUESTS_PER_MINUTE`` (30) requests per account, and its API has no
request that covers many sites: the bulk export is per site
(``/sites/{site}/timeseries/paginated``), and the by-name endpoint
(``POST /points/get_timeseries``, ~100 names per request) would need 20-70 requests for
one site of 2,000-7,000 points where one export page (100,000 samples, ~110 minutes of
a 1.3 M samples/day site) needs one. So one sync of one site costs at least one request,
and 200 sites every 5 minutes would ask 40 requests a minute: runs would queue behind
the shared limiter without end. Instead the sync interval grows with the portfolio:

    interval = tick * ceil(sites * sync_requests / (tick * (budget - catalogue load)))

where ``budget`` is ``SYNC_BUDGET_SHARE`` of the limit (the rest is left to backfills,
site discovery and retries) and the catalogue load is each site's configured-point
listing (``catalogue_requests``) spread over its refresh period (at least an hour,
longer when the listings alone would take over a quarter of the budget). Each site gets
a fixed slot (a stable hash), so every tick syncs about ``sites / slots`` sites and the
load is even. Ceiling: with ``MAX_SYNC_INTERVAL_MINUTES`` as the longest interval
operators accept, at most :func:`ceiling_sites` sites; past it the interval
keeps growing (the budget is never exceeded) and the cadence says it is over.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

SYNC_TICK_MINUTES = 5  # the sync schedule's cron interval
SYNC_BUDGET_SHARE = 0.8  # of the request limit; the rest for backfills, discovery, retries
SYNC_REQUESTS_PER_SITE = 1.0  # one export page covers a site's samples of an interval
# Configured-point listing of one site: ceil(points / per_page); 4,600 points at
# per_page 1000 (ACE_API.md section 11: 2,000-7,300 points per site).
CATALOGUE_REQUESTS_PER_SITE = 5.0
CATALOGUE_MIN_REFRESH_MINUTES = 60
CATALOGUE_MAX_SHARE = 0.25  # of the sync budget at most for point listings
MAX_SYNC_INTERVAL_MINUTES = 60  # the documented ceiling: data at most an hour behind
FRESHNESS_MARGIN_MINUTES = 10  # a sync run needs time to start, pull and upsert


@dataclass(frozen=True)
class SyncCadence:
    """Every site synced once per ``interval_minutes``, in ``slots`` groups of ticks."""

    sites: int
    requests_per_minute: int
    interval_minutes: int
    catalogue_refresh_minutes: int
    tick_minutes: int = SYNC_TICK_MINUTES

    @property
    def slots(self) -> int:
        """Ticks per interval: a site is due on one tick in ``slots``."""
        return self.interval_minutes // self.tick_minutes

    @property
    def expected_requests_per_minute(self) -> float:
        """The sync's average demand (sync pulls plus catalogue listings)."""
        return self.sites * (
            SYNC_REQUESTS_PER_SITE / self.interval_minutes
            + CATALOGUE_REQUESTS_PER_SITE / self.catalogue_refresh_minutes
        )

    @property
    def over_ceiling(self) -> bool:
        """Whether sites wait longer than ``MAX_SYNC_INTERVAL_MINUTES`` between syncs."""
        return self.interval_minutes > MAX_SYNC_INTERVAL_MINUTES

    @property
    def freshness_limit_minutes(self) -> int:
        """How far behind a synced site may be before it counts as stale."""
        return max(15, self.interval_minutes + FRESHNESS_MARGIN_MINUTES)


def sync_cadence(
    sites: int, requests_per_minute: int, *, tick_minutes: int = SYNC_TICK_MINUTES
) -> SyncCadence:
    """The shortest interval (a multiple of the tick) whose demand fits the budget."""
    if sites < 0:
        raise ValueError(f"site count must be >= 0, got {sites}")
    if requests_per_minute <= 0:
        raise ValueError(f"requests_per_minute must be positive, got {requests_per_minute}")
    budget = SYNC_BUDGET_SHARE * requests_per_minute
    listing = sites * CATALOGUE_REQUESTS_PER_SITE
    refresh = CATALOGUE_MIN_REFRESH_MINUTES * max(
        1, math.ceil(listing / (CATALOGUE_MAX_SHARE * budget * CATALOGUE_MIN_REFRESH_MINUTES))
    )
    sync_budget = budget - listing / refresh
    ticks = max(1, math.ceil(sites * SYNC_REQUESTS_PER_SITE / (sync_budget * tick_minutes)))
    return SyncCadence(
        sites=sites,
        requests_per_minute=requests_per_minute,
        interval_minutes=ticks * tick_minutes,
        catalogue_refresh_minutes=refresh,
        tick_minutes=tick_minutes,
    )


def ceiling_sites(requests_per_minute: int) -> int:
    """Most sites synced at least every ``MAX_SYNC_INTERVAL_MINUTES`` at this limit."""
    low, high = 0, 1
    while not sync_cadence(high, requests_per_minute).over_ceiling:
        low, high = high, high * 2
    while high - low > 1:  # over_ceiling grows with the site count
        middle = (low + high) // 2
        if sync_cadence(middle, requests_per_minute).over_ceiling:
            high = middle
        else:
            low = middle
    return low


def site_slot(site: str, slots: int) -> int:
    """The site's fixed slot in ``range(slots)`` (the same in every process and tick)."""
    digest = hashlib.blake2b(site.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % slots


def tick_index(now_ms: int, tick_minutes: int = SYNC_TICK_MINUTES) -> int:
    """The number of the tick ``now_ms`` falls in (ticks counted from the epoch)."""
    return now_ms // (tick_minutes * 60_000)


def is_due(site: str, cadence: SyncCadence, now_ms: int) -> bool:
    """Whether the tick at ``now_ms`` syncs ``site``."""
    return (
        site_slot(site, cadence.slots) == tick_index(now_ms, cadence.tick_minutes) % cadence.slots
    )


def catalogue_due(site: str, cadence: SyncCadence, now_ms: int) -> bool:
    """Whether this due sync of ``site`` also refreshes its point catalogue.

    A site's syncs are numbered by interval; one in ``refresh / interval`` of them lists
    the points, at a per-site offset, so listings spread over the refresh period.
    """
    cycles = max(1, cadence.catalogue_refresh_minutes // cadence.interval_minutes)
    interval_number = tick_index(now_ms, cadence.tick_minutes) // cadence.slots
    return interval_number % cycles == site_slot(site + "/catalogue", cycles)
