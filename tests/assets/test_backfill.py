"""Backfills through Dagster: partition ranges, request economy, faults, the shared
breaker, and exactly-once with a live sync over the same days."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest

from resources.ace import AceApiResource
from tests.support.helpers import as_key_dict
from tests.support.platform_helpers import (
    INGEST,
    expected_hot_rows,
    materialize_day,
    metadata_of,
    new_instance,
)
from vitals.cold.keys import cold_day_key
from vitals.config import load_settings
from vitals.samples import day_bounds_ms
from vitals_assets.bindings import build_resources
from vitals_assets.cold import cold_timeseries
from vitals_assets.ingest import ace_raw_samples
from vitals_assets.partitions import site_day_key

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()
BACKFILL = [*INGEST, cold_timeseries]


def materialize_range(instance, first, last, *, resources=None, raise_on_error=True):
    return dg.materialize(
        BACKFILL,
        instance=instance,
        resources=resources or build_resources(load_settings()),
        tags={
            "dagster/asset_partition_range_start": str(site_day_key(SITE, first)),
            "dagster/asset_partition_range_end": str(site_day_key(SITE, last)),
        },
        raise_on_error=raise_on_error,
    )


def file_keys(cold, day) -> dict:
    table = pq.read_table(cold.local_copy(cold_day_key(SITE, day)))
    ts = [int(t.timestamp() * 1000) for t in table.column("ts").to_pylist()]
    keys = list(zip(table.column("point_name").to_pylist(), ts, strict=False))
    assert len(keys) == len(set(keys)), "duplicate (point, ts) in a cold file"
    return dict(zip(keys, table.column("value").to_pylist(), strict=False))


def test_range_across_the_hot_threshold(stores, simulator, monkeypatch):
    """Old days go straight to cold files; days inside the window land in the hot store."""
    hot, cold = stores
    monkeypatch.setenv("HOT_STORAGE_DAYS", "3")
    first, last = TODAY - timedelta(days=6), TODAY - timedelta(days=2)
    result = materialize_range(new_instance([SITE]), first, last)
    assert result.success
    raw_meta = metadata_of(result, ace_raw_samples)
    assert raw_meta["partitions"] == 5
    # Request economy: one request per planned sub-window at most (small site: 1 page/day).
    assert raw_meta["requests"] == raw_meta["expected_requests"] == 5
    for offset in range(2, 7):
        day = TODAY - timedelta(days=offset)
        start, end = day_bounds_ms(day)
        expected = expected_hot_rows(simulator, SITE, start, end)
        assert file_keys(cold, day) == expected
        in_hot = hot.count_samples(SITE, start, end)
        assert in_hot == (len(expected) if offset <= 3 else 0), day


@pytest.mark.parametrize(
    "faults", ["rate_limit:every=3:retry_after=1", "server_error:every=4", "drop:every=3"]
)
def test_transient_faults_mid_range_end_complete_and_duplicate_free(stores, simulator, faults):
    _hot, cold = stores
    simulator.set_faults(faults)
    first, last = TODAY - timedelta(days=33), TODAY - timedelta(days=31)
    assert materialize_range(new_instance([SITE]), first, last).success
    for offset in (31, 32, 33):
        day = TODAY - timedelta(days=offset)
        start, end = day_bounds_ms(day)
        assert file_keys(cold, day) == expected_hot_rows(simulator, SITE, start, end)


def test_outage_opens_the_shared_breaker_fails_fast_and_recovers(stores, simulator):
    _hot, cold = stores
    settings = load_settings()
    resources = build_resources(settings)
    resources["ace"] = AceApiResource(
        base_url=settings.ace_api_url,
        api_key=simulator.api_key,
        requests_per_minute=6000,
        state_dir=str(settings.state_dir),
        page_size=100_000,
        backoff_base_seconds=0.1,
        backoff_max_seconds=0.5,
        breaker_failure_threshold=4,
        breaker_cooldown_seconds=3,
    )
    instance = new_instance([SITE])
    first, last = TODAY - timedelta(days=45), TODAY - timedelta(days=41)
    materialize_day(instance, SITE, first, assets=INGEST[:1])  # catalogue while ACE is up
    simulator.reset()
    simulator.set_faults("outage")
    began = time.monotonic()
    result = materialize_range(instance, first, last, resources=resources, raise_on_error=False)
    elapsed = time.monotonic() - began
    assert not result.success
    errors = " ".join(
        str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure
    )
    assert "circuit" in errors.lower() or "breaker" in errors.lower()
    # Fail fast: a handful of requests reached ACE, not retries for every day.
    assert simulator.stats()["requests_total"] <= 8
    assert elapsed < 60
    assert not any(cold.exists(cold_day_key(SITE, first + timedelta(days=n))) for n in range(5))

    simulator.set_faults(None)
    time.sleep(3.5)  # the breaker half-opens after its cool-down and lets a probe through
    assert materialize_range(instance, first, last, resources=resources).success
    for n in range(5):
        day = first + timedelta(days=n)
        start, end = day_bounds_ms(day)
        assert file_keys(cold, day) == expected_hot_rows(simulator, SITE, start, end)


def test_backfill_overlapping_live_sync_is_exactly_once(stores, simulator):
    hot, cold = stores
    day = TODAY - timedelta(days=1)
    start, end = day_bounds_ms(day)
    instance = new_instance([SITE])
    materialize_day(instance, SITE, day, assets=INGEST[:1])
    hot.set_watermark(SITE, start + 6 * 3_600_000)
    incremental = {"ops": {"ace_raw_samples": {"config": {"mode": "incremental"}}}}
    full_day = {"ops": {"ace_raw_samples": {"config": {"mode": "full_day"}}}}
    errors: list[BaseException] = []

    def run(config):
        try:
            materialize_day(new_instance([SITE]), SITE, day, assets=INGEST[1:], run_config=config)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(c,)) for c in (incremental, full_day, incremental)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    expected = expected_hot_rows(simulator, SITE, start, end)
    stored = hot.read_samples(SITE, start, end)
    assert stored.num_rows == len(expected) and as_key_dict(stored) == expected
    materialize_day(instance, SITE, day, assets=[cold_timeseries])
    assert file_keys(cold, day) == expected


def test_rerun_pulls_only_the_sub_windows_not_yet_stored(stores, simulator):
    """A partition that failed part-way keeps its finished sub-windows; the re-run
    pulls only the rest."""
    _hot, cold = stores
    settings = load_settings()
    resources = build_resources(settings)
    resources["ace"] = AceApiResource(
        base_url=settings.ace_api_url,
        api_key=simulator.api_key,
        requests_per_minute=6000,
        state_dir=str(settings.state_dir),
        page_size=1000,
    )
    instance = new_instance([SITE])
    day = TODAY - timedelta(days=50)
    first = dg.materialize(
        [*INGEST, cold_timeseries],
        partition_key=str(site_day_key(SITE, day)),
        resources=resources,
        instance=instance,
    )
    meta = metadata_of(first, ace_raw_samples)
    assert meta["sub_windows"] >= 3 and meta["sub_windows_reused"] == 0
    from vitals.cold.keys import parsed_key
    from vitals.cold.raw_pulls import list_raw_pulls

    pulls = list_raw_pulls(cold, SITE, day)
    lost = pulls[1]  # as if the run had died before storing this sub-window
    cold.delete(lost.key)
    cold.delete(parsed_key(lost.key))
    cold.delete(cold_day_key(SITE, day))
    simulator.reset()
    second = dg.materialize(
        [*INGEST[1:], cold_timeseries],
        partition_key=str(site_day_key(SITE, day)),
        resources=resources,
        instance=instance,
    )
    again = metadata_of(second, ace_raw_samples)
    assert again["sub_windows_reused"] == meta["sub_windows"] - 1
    assert 0 < again["requests"] < meta["requests"]
    start, end = day_bounds_ms(day)
    assert file_keys(cold, day) == expected_hot_rows(simulator, SITE, start, end)


def test_concurrent_partitions_share_one_rate_limit(stores, simulator):
    """Four partitions at once, one limit: the simulator never sees more than the limit
    in any window (a 4 s window of 8 requests here, to keep the test short)."""
    settings = load_settings()
    limit, window = 8, 4.0
    page_size = 5000

    def resources():
        res = build_resources(settings)
        res["ace"] = AceApiResource(
            base_url=settings.ace_api_url,
            api_key=simulator.api_key,
            requests_per_minute=limit,
            rate_limit_window_seconds=window,
            state_dir=str(settings.state_dir),
            page_size=page_size,
        )
        return res

    instance = new_instance([SITE])
    materialize_day(instance, SITE, TODAY - timedelta(days=60), assets=INGEST[:1])
    simulator.reset()
    errors = []

    def run(offset):
        try:
            dg.materialize(
                INGEST[1:2],
                partition_key=str(site_day_key(SITE, TODAY - timedelta(days=offset))),
                resources=resources(),
                instance=new_instance([SITE]),
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(offset,)) for offset in (61, 62, 63, 64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    # The simulator stamps each request when its answer is sent; answers of 5,000
    # samples take well under 0.5 s, so any 3.5 s of answers started within 4 s.
    stamps = sorted(r["t"] for r in simulator.stats(window_s=3600)["recent_requests"])
    assert len(stamps) >= 4 * 6  # ~7 pages per day at page_size 5000
    check = window - 0.5
    most_in_window = max(
        sum(1 for other in stamps[i:] if other - stamp < check) for i, stamp in enumerate(stamps)
    )
    assert most_in_window <= limit
