"""The sync schedule at portfolio size: 200 sites at 30 requests/minute stay in budget."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from resources.hot_store import HotStoreResource
from sensors.sync import sync_run_requests, sync_schedule
from vitals.ace.cadence import CATALOGUE_REQUESTS_PER_SITE, SYNC_BUDGET_SHARE, sync_cadence
from vitals.ace.client import AcePoint

SITES = [f"site_{i:03d}" for i in range(200)]


def test_200_sites_are_each_synced_every_15_minutes_within_the_request_budget(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ACE_REQUESTS_PER_MINUTE", "30")
    hot = HotStoreResource(url=str(tmp_path / "hot.sqlite"))
    for site in SITES:  # every site has a catalogue: listings follow the cadence only
        hot.upsert_points(site, [AcePoint(name=f"{site}/ahu/sat", collect_interval=300)])
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:  # one tick through the schedule itself
        instance.add_dynamic_partitions("site", SITES)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=start)
        first = sync_schedule(context, hot_store=hot)
    cadence = sync_cadence(len(SITES), 30)
    start_ms = int(start.timestamp() * 1000)
    assert isinstance(first, list)
    assert sorted(r.run_key for r in first) == sorted(
        r.run_key for r in sync_run_requests(SITES, hot, start_ms, cadence)
    )
    # Half an hour of ticks (two intervals) (evaluating the schedule builds a new instance each time).
    syncs, listings, per_tick = half_an_hour_of_ticks(hot, cadence, start)
    assert set(syncs) == set(SITES) and set(syncs.values()) == {2}  # every 15 min, each
    # Listings every 3 hours (12 intervals), staggered: about a sixth of the sites in two.
    assert set(listings.values()) == {1} and 15 <= len(listings) <= 55
    assert min(per_tick) >= 60 and max(per_tick) / 5 <= 30  # each tick a share, none a burst
    assert sum(per_tick) / (6 * 5) <= SYNC_BUDGET_SHARE * 30  # requests a minute on average


def half_an_hour_of_ticks(hot, cadence, start):
    syncs: Counter = Counter()
    listings: Counter = Counter()
    per_tick = []
    for tick in range(6):  # two 15-minute intervals of 5-minute ticks
        when = start + timedelta(minutes=5 * tick)
        requests = sync_run_requests(SITES, hot, int(when.timestamp() * 1000), cadence)
        assert requests, f"tick {when}: no site due"
        cost = 0.0
        for request in requests:
            site = request.tags["vitals/site"]
            assert request.tags["vitals/sync_interval_minutes"] == "15"
            assert request.partition_key == f"{when.date().isoformat()}|{site}"
            syncs[site] += 1
            cost += 1
            if dg.AssetKey("ace_points") in request.asset_selection:
                listings[site] += 1
                cost += CATALOGUE_REQUESTS_PER_SITE
        per_tick.append(cost)
    return syncs, listings, per_tick
