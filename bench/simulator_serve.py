"""Bench: serve one full-load site-day (--interval 60, ~6.6 M samples) through the simulator.

Starts ``python -m ace_simulator --interval 60`` in its own process, pages one UTC day
through ``/sites/{site}/timeseries/paginated`` with httpx at ``--page-size`` (default
100000), reading the bytes and taking only the cursor from each page's tail, and
prints seconds, pages, MB and samples/s. Run: ``.venv/bin/python bench/simulator_serve.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

import httpx


def _tail_cursor(body: bytes) -> tuple[str | None, bool]:
    """next_cursor and has_more from the end of a page, without parsing the samples."""
    tail = json.loads(b"{" + body[body.rindex(b'"next_cursor"') :])
    return tail["next_cursor"], tail["has_more"]


def page_build_times(points: int, page_size: int, repeats: int = 5) -> tuple[float, float, float]:
    """Median ms to generate and to serialise one full-load page in-process (no HTTP), and
    the median CPU ms of both (steadier than wall time on a shared machine)."""
    from ace_simulator.building import Building, BuildingConfig
    from ace_simulator.render import sample_elements, samples_body

    export = Building(BuildingConfig(points=points, interval=60)).export("acme_hq")
    start = 1_760_313_600_000_000  # 2025-10-13T00:00:00Z in microseconds
    generate, serialise, cpu = [], [], []
    cursor = None
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        page = export.page(start, start + 86_400_000_000, page_size, raw=True, cursor=cursor)
        t1 = time.perf_counter()
        samples_body(sample_elements(export.signals, page.chunk), {"next_cursor": page.next_cursor})
        t2 = time.perf_counter()
        cpu.append(time.process_time() - c0)
        generate.append(t1 - t0)
        serialise.append(t2 - t1)
        cursor = page.next_cursor

    def median(xs: list[float]) -> float:
        return sorted(xs)[repeats // 2] * 1000

    return median(generate), median(serialise), median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--page-size", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--day", default="2025-10-13")
    args = parser.parse_args()

    for size in (args.page_size, 500_000):
        gen_ms, ser_ms, cpu_ms = page_build_times(args.points, size)
        print(
            f"one {size:,}-sample page in-process: generate {gen_ms:.0f} ms, "
            f"serialise {ser_ms:.0f} ms wall; {cpu_ms:.0f} ms CPU (medians of 5)"
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ace_simulator",
            "--port",
            "0",
            "--interval",
            "60",
            "--points",
            str(args.points),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"(http://\S+/api)", proc.stdout.readline()).group(1)
        params = {
            "start_time": f"{args.day}T00:00:00Z",
            "end_time": f"{args.day}T23:59:59.999999Z",
            "page_size": args.page_size,
            "raw_data": "true",
        }
        pages = total_bytes = 0
        slowest = 0.0
        started = time.perf_counter()
        with httpx.Client(headers={"Authorization": "Bearer bench"}, timeout=60) as client:
            cursor: str | None = None
            while True:
                page_started = time.perf_counter()
                response = client.get(
                    url + "/sites/acme_hq/timeseries/paginated",
                    params={**params, **({"cursor": cursor} if cursor else {})},
                )
                response.raise_for_status()
                body = response.content
                slowest = max(slowest, time.perf_counter() - page_started)
                pages += 1
                total_bytes += len(body)
                cursor, has_more = _tail_cursor(body)
                if not has_more or not cursor:
                    break
        seconds = time.perf_counter() - started
        stats = httpx.get(url.removesuffix("/api") + "/_sim/stats", timeout=10).json()
        samples = stats["samples_served"]
        print(
            f"full-load day {args.day}: {samples:,} samples, {pages} pages of {args.page_size:,}, "
            f"{total_bytes / 1e6:,.0f} MB"
        )
        print(
            f"  {seconds:.1f} s total, {samples / seconds:,.0f} samples/s, "
            f"{seconds / pages * 1000:.0f} ms/page mean, {slowest * 1000:.0f} ms slowest"
        )
        print(
            f"  server busy building pages: {stats['busy_seconds']:.1f} s "
            f"({stats['busy_seconds'] / pages * 1000:.0f} ms/page); the rest is transfer and client reads"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
