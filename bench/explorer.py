"""Explorer bench: a year of 10 points at ``auto`` in headless Chromium, navigation to drawn.

The year is production-shaped: 365 cold day files at one sample per 5 minutes, a day
rollup per file and the month rollup files, built by ``bench/query.py``'s builder (cached
under --cache-dir; the same layout as that bench, with --points points). A shared link
(``#site=...&p=...x10&start=...&end=...&interval=auto``) is opened in a new browser
context with the key already in its session, and the page's own clock
(``window.__vitalsChart.timing``) gives: navigation -> drawn, the data request ->
drawn, the ``/v1/timeseries`` fetch and the drawing.

Three cases, each --repeat times (medians printed, and the first run apart):
- first: a fresh process-wide state (no Parquet footer cache, OS cache as it is);
- response cache cold: a fresh app per run (its answer cache empty; footers cached);
- response cache hit: the same app again (a cache figure; the uncached ones are above).

Run: .venv/bin/python bench/explorer.py [--repeat 5] [--tz America/Chicago]
[--cache-dir /tmp/vitals-bench-explorer]  (--tz: the site's zone in its catalogue snapshot,
so ``tz=site`` answers local days; without it, UTC)
Needs Debian's chromium (/usr/bin/chromium: ``bash scripts/system-packages``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import query as query_bench  # noqa: E402  (bench/query.py: the production-shaped builder)
from playwright.sync_api import sync_playwright  # noqa: E402

from resources.cold_store import ColdStoreResource  # noqa: E402
from resources.hot_store import HotStoreResource  # noqa: E402
from vitals.ace.client import AcePoint  # noqa: E402
from vitals.api.app import create_app  # noqa: E402
from vitals.api.serve import serve_in_thread  # noqa: E402
from vitals.cold.catalogue import store_catalogue  # noqa: E402
from vitals.config import load_settings  # noqa: E402
from vitals.query.engine import QueryEngine  # noqa: E402
from vitals.samples import day_bounds_ms  # noqa: E402

KEY = "bench-explorer-key-0123456789"
CHROMIUM = "/usr/bin/chromium"


def drawn(page, timeout_s: float = 30.0) -> dict:
    """``window.__vitalsChart`` once the chart is drawn (polled: the page's CSP forbids eval)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        chart = page.evaluate(
            "() => (window.__vitalsChart && document.body.dataset.drawn === "
            "String(window.__vitalsChart.seq)) ? window.__vitalsChart : null"
        )
        if chart:
            return chart
        status = page.text_content("#status") or ""
        if "error" in (page.get_attribute("#status", "class") or ""):
            raise RuntimeError(f"the page reports: {status}")
        time.sleep(0.02)
    raise TimeoutError("the chart was not drawn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/vitals-bench-explorer"))
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--tz", default=None, help="site time zone (e.g. America/Chicago): local 1 d buckets"
    )
    args = parser.parse_args()
    began = time.perf_counter()
    names = query_bench.build(args.cache_dir, args.points, args.days, 0, 300)
    print(
        f"site: {args.points} points x {args.days} cold days at 5 min, day + month rollups "
        f"(cache {args.cache_dir}; ready in {time.perf_counter() - began:.1f} s)"
    )
    chosen = names[:10]
    # The catalogue snapshot carries the site's zone as ACE's site record would (none: UTC).
    store_catalogue(
        ColdStoreResource(url=str(args.cache_dir / "cold")),
        query_bench.SITE,
        [AcePoint(name) for name in names],
        timezone=args.tz,
    )
    start, _ = day_bounds_ms(query_bench.FIRST_DAY)
    end, _ = day_bounds_ms(query_bench.FIRST_DAY + timedelta(days=args.days))
    iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms / 1000))  # noqa: E731
    fragment = "&".join(
        [
            f"site={query_bench.SITE}",
            *(f"p={name}" for name in chosen),
            f"start={iso(start)}",
            f"end={iso(end)}",
            "interval=auto",
            "agg=avg",
        ]
    )
    settings = load_settings(
        {
            "VITALS_DATA_DIR": str(args.cache_dir),
            "VITALS_HOT_STORE": str(args.cache_dir / "hot.sqlite"),
            "VITALS_COLD_STORE": str(args.cache_dir / "cold"),
            "VITALS_API_KEYS": KEY,
        }
    )
    hot = HotStoreResource(url=str(args.cache_dir / "hot.sqlite"))
    cold = ColdStoreResource(url=str(args.cache_dir / "cold"))

    def new_app():
        return create_app(settings, QueryEngine(hot, cold), hot_store=hot, cold_store=cold)

    results: dict[str, list[dict]] = {"first": [], "response cache cold": [], "hit": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)

        def open_link(base_url: str) -> dict:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(f"sessionStorage.setItem('vitals.apiKey', {json.dumps(KEY)})")
            page = context.new_page()
            page.goto(f"{base_url}/#{fragment}")
            chart = drawn(page)
            context.close()
            assert chart["interval"] == "1d" and len(chart["table"]["columns"]) == len(chosen)
            assert chart["tz"] == (args.tz or "UTC"), chart["tz"]
            values = sum(v is not None for c in chart["table"]["columns"] for v in c["values"])
            return {**chart["timing"], "values": values}

        for run in range(args.repeat):
            with serve_in_thread(new_app()) as base_url:
                kind = "first" if run == 0 else "response cache cold"
                results[kind].append(open_link(base_url))
                results["hit"].append(open_link(base_url))
        browser.close()

    zone = f"local days of {args.tz}" if args.tz else "UTC days"
    print(
        f"a year of {len(chosen)} points at auto (1 d buckets, {zone}), Chromium, page clock, ms:"
    )
    print(
        f"{'case':<22} {'runs':>4} {'nav->drawn':>11} {'request->drawn':>15} {'fetch':>7} {'draw':>6}"
    )
    for kind, runs in results.items():
        if not runs:
            continue

        def med(field: str, runs: list[dict] = runs) -> float:
            return statistics.median(r[field] for r in runs)

        print(
            f"{kind:<22} {len(runs):>4} {med('since_navigation_ms'):>11.0f} "
            f"{med('request_to_drawn_ms'):>15.0f} {med('fetch_ms'):>7.0f} {med('draw_ms'):>6.0f}"
        )
    print(f"values drawn per chart: {results['first'][0]['values']}")


if __name__ == "__main__":
    main()
