"""Month compaction during a month's rollups backfill: per day (before) vs once (after).

Before ``rollup_months`` existed, every ``cold_rollups`` run rebuilt its day's rollup file
and then re-compacted the whole month file, and the rollups sensor launches one run per
changed cold file: a month's backfill compacted the month once per day, the k-th time
over the k days done so far. Now ``cold_rollups`` only writes day files and the sensor
requests one ``rollup_months`` compaction once the month's changes have settled.

Builds --days day files and day rollups of one site (--points points, one sample every
--step-seconds; the shapes of ``bench/query.py``) in --dir, then measures the CPU
(``time.process_time``, all threads of this process) of:

- before: after each day k, ``compact_rollup_month`` of the month (k days in it);
- after: one ``compact_rollup_month`` after all days;

and checks that the month files are byte-for-byte equal apart from nothing (same input).

Run: .venv/bin/python bench/rollup_months.py [--points 4600] [--days 30]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import day_template, point_names, put_shifted_rollup, shifted_rollup  # bench/query.py

from resources.cold_store import ColdStoreResource
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.keys import cold_day_key, rollup_day_key, rollup_month_key
from vitals.rollups.day import build_rollup_table
from vitals.rollups.month import compact_rollup_month
from vitals.samples import day_bounds_ms

SITE = "bench-site"
FIRST_DAY = date(2025, 3, 1)


def build_days(cold: ColdStoreResource, points: int, days: int, step_s: int) -> None:
    """Cold files and their day rollups (tied to the cold files' identities)."""
    template = day_template(point_names(points), step_s * 1000)
    template_rollup = build_rollup_table(template)
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        start = day_bounds_ms(day)[0]
        offset = float(d % 17)
        table = template.set_column(1, "ts", pc.add(template.column("ts"), start))
        table = table.set_column(2, "value", pc.add(template.column("value"), offset))
        data = cold_file_bytes(
            build_cold_table(SITE, day, [table]), site=SITE, day=day, sources=["bench"]
        )
        cold.put_bytes(cold_day_key(SITE, day), data)
        put_shifted_rollup(cold, SITE, day, data, shifted_rollup(template_rollup, start, offset))


def hide_days_after(cold: ColdStoreResource, folder: Path, keep: int, days: int) -> None:
    """Move day rollups after the first ``keep`` days aside (a backfill in progress)."""
    for d in range(days):
        key = rollup_day_key(SITE, FIRST_DAY + timedelta(days=d))
        aside = folder / key.replace("/", "_")
        if d >= keep and cold.exists(key):
            aside.write_bytes(cold.get_bytes(key))
            cold.delete(key)
        elif d < keep and not cold.exists(key) and aside.exists():
            cold.put_bytes(key, aside.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step-seconds", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="vitals-bench-months-"))
    shutil.rmtree(work / "cold", ignore_errors=True)
    (work / "aside").mkdir(parents=True, exist_ok=True)
    cold = ColdStoreResource(url=str(work / "cold"))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    began = time.perf_counter()
    build_days(cold, args.points, args.days, args.step_seconds)
    print(f"built {args.days} days x {args.points} points in {time.perf_counter() - began:.0f} s")
    key = rollup_month_key(SITE, FIRST_DAY.year, FIRST_DAY.month)

    before_cpu = 0.0
    for k in range(1, args.days + 1):  # the k-th cold_rollups run compacted k days
        hide_days_after(cold, work / "aside", k, args.days)
        cpu = time.process_time()
        outcome = compact_rollup_month(cold.store, SITE, FIRST_DAY.year, FIRST_DAY.month)
        before_cpu += time.process_time() - cpu
        assert outcome.days == k, (outcome.days, k)
        if k in (1, args.days // 2, args.days):
            print(f"  before: compaction {k}: {outcome.rows:,} rows, cpu {before_cpu:.1f} s total")
    per_day_file = cold.get_bytes(key)
    cold.delete(key)

    cpu = time.process_time()
    outcome = compact_rollup_month(cold.store, SITE, FIRST_DAY.year, FIRST_DAY.month)
    after_cpu = time.process_time() - cpu
    once_file = cold.get_bytes(key)
    same = pq.read_table(io.BytesIO(per_day_file)).equals(pq.read_table(io.BytesIO(once_file)))
    print(
        f"month {key}: {outcome.days} days, {outcome.rows:,} rows, {outcome.bytes / 1e6:.1f} MB\n"
        f"before (compaction per day, {args.days} compactions): {before_cpu:.1f} s CPU\n"
        f"after  (one compaction): {after_cpu:.1f} s CPU\n"
        f"ratio before / after: {before_cpu / after_cpu:.1f}x; same month rows: {same}\n"
        f"load average at end: {os.getloadavg()}"
    )
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
