"""The sync cadence: the ACE request budget decides how often each site is synced."""

from __future__ import annotations

from collections import Counter

import pytest

from vitals.ace.cadence import (
    CATALOGUE_REQUESTS_PER_SITE,
    MAX_SYNC_INTERVAL_MINUTES,
    SYNC_BUDGET_SHARE,
    catalogue_due,
    ceiling_sites,
    is_due,
    sync_cadence,
)

TICK_MS = 5 * 60_000
START = 1_796_000_000_000 - 1_796_000_000_000 % (24 * 3_600_000)  # a UTC midnight


def simulate(sites: list[str], rpm: int, hours: int) -> tuple[Counter, Counter, list[float]]:
    """Each tick's due sites for ``hours``: syncs and listings per site, requests per tick."""
    cadence = sync_cadence(len(sites), rpm)
    syncs: Counter = Counter()
    listings: Counter = Counter()
    per_tick = []
    for tick in range(hours * 12):
        now = START + tick * TICK_MS
        cost = 0.0
        for site in sites:
            if is_due(site, cadence, now):
                syncs[site] += 1
                cost += 1
                if catalogue_due(site, cadence, now):
                    listings[site] += 1
                    cost += CATALOGUE_REQUESTS_PER_SITE
        per_tick.append(cost)
    return syncs, listings, per_tick


def test_small_portfolios_keep_the_five_minute_sync_for_every_site():
    for count in (1, 10, 50):
        cadence = sync_cadence(count, 30)
        assert cadence.interval_minutes == 5 and cadence.freshness_limit_minutes == 15
    sites = [f"s{i}" for i in range(50)]
    syncs, listings, _ = simulate(sites, 30, hours=2)
    assert set(syncs.values()) == {24} and set(listings.values()) == {2}  # hourly listing


def test_200_sites_at_30_requests_a_minute_fit_the_budget_with_a_longer_interval():
    cadence = sync_cadence(200, 30)
    assert (cadence.interval_minutes, cadence.catalogue_refresh_minutes) == (15, 180)
    assert cadence.expected_requests_per_minute <= SYNC_BUDGET_SHARE * 30
    assert cadence.freshness_limit_minutes == 25 and not cadence.over_ceiling
    sites = [f"site_{i:03d}" for i in range(200)]
    syncs, listings, per_tick = simulate(sites, 30, hours=6)
    assert set(syncs.values()) == {6 * 60 // 15}  # every site, once per interval, no gaps
    assert set(listings.values()) == {2}  # once per 3 hours
    # The demand is spread: each 15-minute interval stays within its budget, and no
    # tick carries much more than its share.
    intervals = [sum(per_tick[i : i + 3]) for i in range(0, len(per_tick), 3)]
    assert max(intervals) <= SYNC_BUDGET_SHARE * 30 * 15
    assert max(per_tick) <= 1.6 * sum(per_tick) / len(per_tick)
    # The old schedule: 200 syncs every 5 minutes plus 200 listings at the top of the hour.
    old_first_tick = 200 * (1 + CATALOGUE_REQUESTS_PER_SITE)
    assert old_first_tick > 30 * 5 * 7 and max(per_tick) < 30 * 5


def test_the_interval_grows_with_the_portfolio_and_the_ceiling_is_where_it_passes_an_hour():
    intervals = [sync_cadence(n, 30).interval_minutes for n in (50, 100, 200, 400, 800)]
    assert intervals == sorted(intervals) and intervals[0] == 5 and intervals[-1] < 60
    top = ceiling_sites(30)
    assert sync_cadence(top, 30).interval_minutes <= MAX_SYNC_INTERVAL_MINUTES
    assert sync_cadence(top + 1, 30).over_ceiling
    assert ceiling_sites(60) >= 2 * top - 1  # twice the limit, twice the sites
    for n in (top // 2, top, top + 1, 3 * top):
        assert sync_cadence(n, 30).expected_requests_per_minute <= SYNC_BUDGET_SHARE * 30 + 1e-9


@pytest.mark.parametrize("sites, rpm", [(-1, 30), (10, 0)])
def test_bad_inputs_are_refused(sites, rpm):
    with pytest.raises(ValueError):
        sync_cadence(sites, rpm)
