"""How fresh each site's hot data is, and which sites have not synced yet.

A site that has never synced (no watermark and no hot sample) has nothing that could be
stale: on a fresh start the health check runs seconds before the first sync, and a red
check then would mean nothing. Such a site is reported as awaiting its first sync (a
warning, not a failure); once it has synced, falling behind is a failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from resources.hot_store import HotStoreResource

FRESHNESS_LIMIT_MINUTES = 15  # with the 5-minute sync; longer sync intervals add to it


@dataclass(frozen=True)
class Freshness:
    """How far behind each site's hot data is, and which sites have never synced."""

    lag_minutes: dict[str, float | None]  # synced sites; None: synced, yet no sample held
    awaiting_first_sync: list[str]
    limit_minutes: float = FRESHNESS_LIMIT_MINUTES

    @property
    def stale(self) -> list[str]:
        """Synced sites more than the freshness limit behind (or holding no sample)."""
        limit = self.limit_minutes
        return sorted(site for site, lag in self.lag_minutes.items() if lag is None or lag > limit)

    @property
    def worst_lag_minutes(self) -> float:
        """The largest lag among synced sites, in minutes."""
        return max((lag for lag in self.lag_minutes.values() if lag is not None), default=0.0)


def hot_freshness(
    hot_store: HotStoreResource,
    sites: Iterable[str],
    now: int,
    limit_minutes: float = FRESHNESS_LIMIT_MINUTES,
) -> Freshness:
    """Lag of every site in ``sites`` or in the hot store, at ``now`` (epoch ms)."""
    lags: dict[str, float | None] = {}
    awaiting = []
    for site in sorted(set(sites) | set(hot_store.list_sites())):
        latest = hot_store.latest_sample_ms(site)
        if latest is None and hot_store.get_watermark(site) is None:
            awaiting.append(site)
            continue
        lags[site] = None if latest is None else (now - latest) / 60_000
    return Freshness(lags, awaiting, limit_minutes)
