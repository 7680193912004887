"""point_quality for one full-load site-day: wall and CPU, in total and per phase.

Builds (once, cached under --cache-dir) one site-day of --points points (default 4,600,
names 40-90 characters, the names of bench/query.py) at one sample a minute, written
with the real cold writer (vitals.cold.file) beside a catalogue and an empty-for-the-day
real SQLite hot store. Then times --repeat runs of ``build_quality_day`` (read the day
file, build the report, write it), and once each phase apart: the day's samples over
both tiers, the report, the Parquet bytes. CPU is ``time.process_time`` (all threads
of this process); the load average is printed because the machine may be shared.

Run: .venv/bin/python bench/quality_day.py [--points 4600] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import day_template, point_names  # bench/query.py: the same names and values

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.client import AcePoint
from vitals.arrow_memory import configure_arrow_memory
from vitals.cold.catalogue import store_catalogue
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.keys import cold_day_key
from vitals.config import SiteOverrides
from vitals.quality.build import build_quality_day, day_samples, expectations
from vitals.quality.point_day import point_quality_table, quality_file_bytes
from vitals.samples import day_bounds_ms

configure_arrow_memory()

SITE = "bench-site"
DAY = date(2025, 1, 1)


def build_day(root: Path, points: int) -> tuple[ColdStoreResource, HotStoreResource]:
    """The full-load day file, its catalogue and a hot store (cached)."""
    cold = ColdStoreResource(url=str(root / "cold"))
    hot = HotStoreResource(url=str(root / "hot.sqlite"))
    names = point_names(points)
    if not cold.exists(cold_day_key(SITE, DAY)):
        template = day_template(names, 60_000)
        start = day_bounds_ms(DAY)[0]
        table = template.set_column(1, "ts", pc.add(template.column("ts"), start))
        data = cold_file_bytes(
            build_cold_table(SITE, DAY, [table]), site=SITE, day=DAY, sources=["bench"]
        )
        cold.put_bytes(cold_day_key(SITE, DAY), data)
        store_catalogue(cold.store, SITE, [AcePoint(n, collect_interval=60) for n in names])
        hot.upsert_points(SITE, [AcePoint(n) for n in names])
    return cold, hot


def clocked(run: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/vitals-bench-quality"))
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cold, hot = build_day(args.cache_dir / f"quality-{args.points}", args.points)
    rows = pq.read_metadata(cold.local_copy(cold_day_key(SITE, DAY))).num_rows
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"site-day: {args.points} points, {rows:,} samples")
    walls, cpus = [], []
    for i in range(args.repeat + 1):
        wall, cpu, _ = clocked(lambda: build_quality_day(cold.store, hot, SITE, DAY))
        print(f"  run {i}: wall {wall:.3f} s, CPU {cpu:.3f} s")
        if i:
            walls.append(wall)
            cpus.append(cpu)
    print(
        f"read + report + write: median wall {statistics.median(walls):.3f} s, "
        f"CPU {statistics.median(cpus):.3f} s (first run apart)"
    )
    wall, cpu, got = clocked(lambda: day_samples(cold.store, hot, SITE, DAY))
    samples = got[0]  # type: ignore[index]
    print(f"  phase read (both tiers): wall {wall:.3f} s, CPU {cpu:.3f} s")
    wall, cpu, points = clocked(lambda: expectations(cold.store, SITE, SiteOverrides()))
    print(f"  phase expectations: wall {wall:.3f} s, CPU {cpu:.3f} s")
    wall, cpu, table = clocked(lambda: point_quality_table(samples, points, DAY))  # type: ignore[arg-type]
    print(f"  phase report: wall {wall:.3f} s, CPU {cpu:.3f} s")
    wall, cpu, _ = clocked(lambda: quality_file_bytes(table, SITE, DAY))  # type: ignore[arg-type]
    print(f"  phase write bytes: wall {wall:.3f} s, CPU {cpu:.3f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
