"""One 5-minute incremental sync cycle of the default site (~4,600 points) through
the real assets (ace_raw_samples -> hot_samples, via dagster.materialize, SQLite).

Prints, as medians over several cycles: wall seconds of the run, the time the
simulator spent serving (its own busy-time counter: the "API latency"), and the
platform's seconds without it; plus, in the same process, a bare httpx pull of the
same window (no parsing, no storage) as the baseline.

    .venv/bin/python bench/sync_cycle.py [--cycles 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import httpx
from _platform import SimulatorProcess, fresh_env, peak_rss_mb


def bare_pull_seconds(url: str, site: str, start_ms: int, end_ms: int) -> float:
    from vitals.samples import ms_to_iso

    began = time.monotonic()
    params = {
        "start_time": ms_to_iso(start_ms),
        "end_time": ms_to_iso(end_ms),
        "page_size": 100_000,
        "raw_data": "True",
    }
    with httpx.Client(headers={"Authorization": "Bearer bench"}, timeout=60) as client:
        cursor = None
        while True:
            body = client.get(
                f"{url}/sites/{site}/timeseries/paginated",
                params=dict(params, cursor=cursor) if cursor else params,
            ).json()
            if not body.get("has_more") or not body.get("next_cursor"):
                break
            cursor = body["next_cursor"]
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    simulator = SimulatorProcess()
    try:
        fresh_env(simulator, rpm=100_000, name="sync")
        import dagster as dg

        from resources.hot_store import HotStoreResource
        from tests.support.platform_helpers import metadata_of
        from vitals.config import load_settings
        from vitals_assets.bindings import build_resources
        from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
        from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

        site = httpx.get(f"{simulator.url}/sites", headers={"Authorization": "Bearer b"}).json()[
            "items"
        ][0]["name"]
        today = datetime.now(UTC).date()
        key = str(site_day_key(site, today))
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [site])
        resources = build_resources(load_settings())
        dg.materialize([ace_points], partition_key=key, resources=resources, instance=instance)
        hot = HotStoreResource(url=load_settings().hot_store)

        walls, platform, api, rows, requests, bare = [], [], [], [], [], []
        for _ in range(args.cycles):
            now_ms = int(time.time() * 1000)
            hot.set_watermark(site, now_ms - 5 * 60_000)
            busy_before = simulator.stats()["busy_seconds"]
            began = time.monotonic()
            result = dg.materialize(
                [ace_raw_samples, hot_samples],
                partition_key=key,
                resources=resources,
                instance=instance,
            )
            wall = time.monotonic() - began
            busy = simulator.stats()["busy_seconds"] - busy_before
            raw = metadata_of(result, ace_raw_samples)
            walls.append(wall)
            api.append(busy)
            platform.append(wall - busy)
            rows.append(metadata_of(result, hot_samples)["rows"])
            requests.append(raw["requests"])
            bare.append(
                bare_pull_seconds(
                    simulator.url,
                    site,
                    int(raw["window_start"] * 1000),
                    int(raw["window_end"] * 1000),
                )
            )
        med = statistics.median
        print(
            "== one 5-minute sync cycle, default site (median of "
            f"{args.cycles}; window = 5 min + 15 min overlap) =="
        )
        print(f"samples upserted        {med(rows):,.0f} in {med(requests):.0f} request(s)")
        print(f"run wall seconds        {med(walls):.2f}  (dagster.materialize, 2 assets)")
        print(f"simulated API busy      {med(api):.2f} s")
        print(f"platform seconds        {med(platform):.2f}  (wall minus API)")
        print(f"bare httpx pull         {med(bare):.2f} s  (baseline, same window)")
        print(f"ratio run / bare pull   {med(walls) / max(med(bare), 1e-9):.1f}x")
        print(f"peak RSS                {peak_rss_mb():,.0f} MB")
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
