"""Backfill one full default-site day through the real assets (ace_points ->
ace_raw_samples -> hot_samples -> cold_timeseries, via dagster.materialize).

1. Unthrottled simulator: seconds, requests, samples per request.
2. At 30 requests/minute: wall time beside two baselines run in the same process:
   - a bare client: plain httpx replaying the very requests the platform made (read from
     the simulator's request log), each after acquiring the same kind of shared limiter,
     reading every body and doing nothing with it: the least any client pays for this day
     at this limit, the API's own serving time included;
   - the limiter alone (acquires only, no requests).
   The platform's overhead is its wall time above the bare client's, as a fraction of
   its wall time (parsing, validation, raw pulls, the cold file, Dagster's run steps).

    .venv/bin/python bench/backfill.py [--interval 60] [--rpm 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _platform import SimulatorProcess, fresh_env, peak_rss_mb


def run_backfill_day(day, site: str) -> tuple[float, dict, dict]:
    import dagster as dg

    from tests.support.platform_helpers import INGEST, metadata_of
    from vitals.config import load_settings
    from vitals_assets.bindings import build_resources
    from vitals_assets.cold import cold_timeseries
    from vitals_assets.ingest import ace_raw_samples
    from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [site])
    began = time.monotonic()
    result = dg.materialize(
        [*INGEST, cold_timeseries],
        partition_key=str(site_day_key(site, day)),
        resources=build_resources(load_settings()),
        instance=instance,
    )
    wall = time.monotonic() - began
    return wall, metadata_of(result, ace_raw_samples), metadata_of(result, cold_timeseries)


def limiter_only_seconds(requests: int, rpm: int) -> float:
    """The same shared limiter, acquired ``requests`` times and nothing else."""
    from vitals.ace.rate_limit import SharedRateLimiter

    state = Path(tempfile.mkdtemp(prefix="vitals-bench-limiter-")) / "limiter.sqlite"
    limiter = SharedRateLimiter(state, limit=rpm, window_seconds=60.0, bucket="baseline")
    began = time.monotonic()
    for _ in range(requests):
        limiter.acquire()
    return time.monotonic() - began


def bare_client_seconds(simulator: SimulatorProcess, targets: list[str], rpm: int) -> float:
    """Replay ``targets`` with plain httpx at ``rpm`` through a fresh shared limiter."""
    import httpx

    from vitals.ace.rate_limit import SharedRateLimiter

    state = Path(tempfile.mkdtemp(prefix="vitals-bench-bare-")) / "limiter.sqlite"
    limiter = SharedRateLimiter(state, limit=rpm, window_seconds=60.0, bucket="bare")
    origin = simulator.url.rsplit("/api", 1)[0]
    began = time.monotonic()
    with httpx.Client(headers={"Authorization": "Bearer bench-key"}, timeout=120) as client:
        for target in targets:
            limiter.acquire()
            response = client.get(origin + target)
            if response.status_code != 200:
                raise SystemExit(f"bare client replay of {target} answered {response.status_code}")
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=60, help="simulator --interval")
    parser.add_argument("--rpm", type=int, default=30)
    parser.add_argument("--skip-throttled", action="store_true")
    parser.add_argument(
        "--range-days", type=int, default=3, help="days of the concurrent-range phase (0 skips it)"
    )
    parser.add_argument("--range-only", action="store_true", help="only the concurrent-range phase")
    args = parser.parse_args()
    simulator = SimulatorProcess("--interval", str(args.interval))
    site = "acme_hq"
    try:
        site = simulator_sites(simulator)[0]
        today = datetime.now(UTC).date()
        if args.range_only:
            range_phase(today, site, args, simulator)
            return

        fresh_env(simulator, rpm=100_000, name="unthrottled")
        wall, raw, cold = run_backfill_day(today - timedelta(days=40), site)
        print("== one full site-day, unthrottled simulator ==")
        print(f"samples            {raw['rows']:,}")
        print(
            f"requests           {raw['requests']} (planned {raw['expected_requests']}, "
            f"{raw['sub_windows']} sub-windows)"
        )
        print(f"samples/request    {raw['rows_per_request']:,.0f}")
        print(f"pull seconds       {raw['duration_s']:.1f}")
        print(
            f"cold file seconds  {cold['duration_s']:.1f} ({cold['rows']:,} rows, "
            f"{cold['bytes_per_sample']} B/sample)"
        )
        print(f"wall seconds       {wall:.1f}   peak RSS {peak_rss_mb():,.0f} MB")
        if args.skip_throttled:
            return

        fresh_env(simulator, rpm=args.rpm, name="throttled")
        simulator.reset()
        wall, raw, cold = run_backfill_day(today - timedelta(days=41), site)
        targets = [r["target"] for r in simulator.stats()["recent_requests"]]
        limiter_only = limiter_only_seconds(len(targets), args.rpm)
        bare = bare_client_seconds(simulator, targets, args.rpm)
        overhead = max(wall - bare, 0.0)
        print(f"\n== the same at {args.rpm} requests/minute ==")
        print(
            f"requests           {len(targets)} (incl. catalogue; platform counted {raw['requests'] + 1})"
        )
        print(
            f"wall seconds       {wall:.1f} (pull {raw['duration_s']:.1f}, cold file {cold['duration_s']:.1f})"
        )
        print(f"bare client        {bare:.1f} s (same requests, same limit, same process)")
        print(f"limiter alone      {limiter_only:.1f} s (acquires only)")
        print(f"throttle waits     {raw['throttle_wait_s']:.1f} s in {raw['throttle_waits']} waits")
        print(
            f"platform overhead  {overhead:.1f} s = {overhead / wall:.1%} of wall time "
            f"(above the limiter alone: {max(wall - limiter_only, 0.0) / wall:.1%})"
        )
        if args.range_days:
            range_phase(today, site, args, simulator)
    finally:
        simulator.stop()


def range_phase(today, site: str, args, simulator) -> None:
    """Several days at once, each in its own process as a backfill runs them (one run per
    partition, pool limit 4), all sharing the one limit: one day's cold file is built
    while the others still pull. Overhead against a bare client making the same requests
    at the same limit."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    fresh_env(simulator, rpm=args.rpm, name="range")
    simulator.reset()
    days = [today - timedelta(days=50 + n) for n in range(args.range_days)]
    began = time.monotonic()
    with ProcessPoolExecutor(
        max_workers=len(days), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        results = list(pool.map(run_backfill_day, days, [site] * len(days)))
    wall = time.monotonic() - began
    targets = [r["target"] for r in simulator.stats()["recent_requests"]]
    bare = bare_client_seconds(simulator, targets, args.rpm)
    overhead = max(wall - bare, 0.0)
    samples = sum(raw["rows"] for _w, raw, _c in results)
    print(
        f"\n== {len(days)} site-days at once (a process each), {args.rpm} requests/minute shared =="
    )
    print(f"samples            {samples:,} in {len(targets)} requests")
    print(f"wall seconds       {wall:.1f}")
    print(f"bare client        {bare:.1f} s (same requests, same limit)")
    print(f"platform overhead  {overhead:.1f} s = {overhead / wall:.1%} of wall time")


def simulator_sites(simulator: SimulatorProcess) -> list[str]:
    import httpx

    body = httpx.get(
        f"{simulator.url}/sites", headers={"Authorization": "Bearer bench"}, timeout=30
    ).json()
    return [item["name"] for item in body["items"]]


if __name__ == "__main__":
    main()
