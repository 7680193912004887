"""Benchmark: pull a full-load window from the ACE simulator over loopback HTTP.

Starts a simulator of one site at full load (``--points`` x one sample a minute), pulls a
window with ``AceApiResource`` at each page size and prints pages, seconds and samples/s
(client decode + Arrow build + server time; the shared 2-core machine makes it noisy),
then extrapolates to a full-load site-day (6.6 M samples).
Run: .venv/bin/python bench/bench_ace_pull.py [--points 4600] [--hours 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from ace_simulator.server import start_simulator
from resources.ace import AceApiResource
from vitals.ace.parse import raw_to_samples
from vitals.arrow_memory import configure_arrow_memory
from vitals.samples import parse_ts_ms

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    start = parse_ts_ms("2025-10-12T00:00:00Z")
    end = start + int(args.hours * 3_600_000)
    began = time.perf_counter()
    with start_simulator(points=args.points, interval=60, warm=True) as sim:
        print(f"simulator up ({args.points} points, 60 s) in {time.perf_counter() - began:.1f} s")
        site = sim.site_names[0]
        for page_size in (50000, 100000):
            with tempfile.TemporaryDirectory() as state:
                ace = AceApiResource(
                    base_url=sim.url,
                    api_key=sim.api_key,
                    state_dir=state,
                    requests_per_minute=6000,
                    page_size=page_size,
                )
                pull = ace.fetch_site_window(site, start, end)
                s = pull.stats
                rate = s.samples_received / s.seconds
                print(
                    f"page_size {page_size:>6}: {s.samples_received:,} samples, {s.pages} pages, "
                    f"{s.seconds:.2f} s, {rate / 1e3:.0f}k samples/s -> full-load day "
                    f"~{6.6e6 / rate:.0f} s of client+server time, "
                    f"{-(-6_600_000 // page_size)} pages"
                )
                t0 = time.perf_counter()
                parsed = raw_to_samples(pull.table)
                took = time.perf_counter() - t0
                print(
                    f"  raw_to_samples: {took:.2f} s for {parsed.table.num_rows:,} rows "
                    f"(dropped {parsed.dropped})"
                )


if __name__ == "__main__":
    main()
