"""Benchmark: upsert and read back one full-load site-day in the hot store.

One site-day at full load is ~4,600 points x 1,440 samples = 6.6 M rows with point names
of 40-90 characters, arriving time-major (all points for minute 1, then minute 2, ...)
as ACE sends them. For each backend it prints rows/s for the first upsert and for an
idempotent re-run, the read-back time as Arrow, count and delete times, and peak RSS.

    .venv/bin/python bench/hot_ingest.py                      # both backends, full day
    .venv/bin/python bench/hot_ingest.py --points 500 --rows 200000 --backend sqlite
    .venv/bin/python bench/hot_ingest.py --pg-url postgresql://postgres@127.0.0.1/mydb

Without ``--pg-url`` it creates a temporary database on the local server and drops it
afterwards. Floors to beat (docs/benchmarks.md): SQLite insert 377k rows/s point-major,
ADBC read of a site-day 3.0 s.
"""

from __future__ import annotations

import argparse
import gc
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vitals.arrow_memory import configure_arrow_memory
from vitals.hot.store import open_backend
from vitals.samples import SAMPLE_SCHEMA

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()


SITE = "bench-site"
DAY_START_MS = 1_780_012_800_000  # 2026-05-29T00:00:00Z
EQUIPMENT = ["AHU", "VAV", "FCU", "CHLR", "BLR", "CWP", "HWP", "CT", "MTR", "RTU"]
SIGNALS = [
    "SupplyAirTemperatureSensor",
    "ZoneTemperatureSetpointEffective",
    "DischargeAirDamperPosition",
    "ChilledWaterValveCommand",
    "ElectricMeterDemandKilowatts",
    "OccupancyStatus",
    "ReturnAirHumiditySensor",
    "FanSpeedCommandPercent",
]


def point_names(count: int) -> list[str]:
    """Deterministic BMS-style names of 40-90 characters."""
    names = []
    for i in range(count):
        equipment = f"{EQUIPMENT[i % len(EQUIPMENT)]}-{i // len(EQUIPMENT) + 1:04d}"
        signal_name = SIGNALS[i % len(SIGNALS)]
        base = f"Campus/Building-{i % 7 + 1}/Floor-{i % 23 + 1:02d}/{equipment}/{signal_name}"
        pad = 40 + (i * 37) % 51  # target length 40..90
        names.append((base + "/" + "x" * 90)[:pad] if len(base) < pad else base[:pad])
    assert len(set(names)) == count, "bench point names must be unique"
    return names


def site_day(points: int, per_point: int, *, minutes_per_chunk: int = 60) -> pa.Table:
    """A sample table in arrival order: minute by minute, every point per minute.

    Built an hour at a time so the generator's temporaries stay small next to the day.
    """
    names = pa.array(point_names(points), pa.string())
    chunks = []
    for first_minute in range(0, per_point, minutes_per_chunk):
        minutes = min(minutes_per_chunk, per_point - first_minute)
        row = pa.array(range(first_minute * points, (first_minute + minutes) * points), pa.int64())
        minute = pc.divide(row, points)
        point = pc.subtract(row, pc.multiply(minute, points))
        jitter = pc.multiply(pc.add(point, 1), 7919)
        jitter = pc.subtract(jitter, pc.multiply(pc.divide(jitter, 60_000), 60_000))  # mod 60 s
        ts = pc.add(pc.add(pc.multiply(minute, 60_000), jitter), DAY_START_MS)
        wave = pc.sin(pc.divide(pc.cast(row, pa.float64()), 5_000.0))
        value = pc.round(
            pc.add(pc.multiply(wave, 8.0), pc.cast(pc.add(point, 60), pa.float64())), 1
        )
        chunks.append(
            pa.Table.from_arrays([pc.take(names, point), ts, value], schema=SAMPLE_SCHEMA)
        )
    return pa.concat_tables(chunks)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def temporary_pg_database(admin_url: str) -> Iterator[str]:
    name = f"vitals_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class FakePoint:
    """Catalogue entry with the fields of ``vitals.ace.client.AcePoint``."""

    def __init__(self, name: str) -> None:
        self.name, self.point_id, self.point_type = name, None, "analog"
        self.collect_enabled, self.collect_interval = True, 60
        self.created = self.updated = None


def run(label: str, url: str, make_table: Callable[[], pa.Table], names: list[str]) -> None:
    clock = [0.0, 0.0]

    def start() -> None:
        clock[:] = [time.perf_counter(), cpu_seconds()]

    def line(what: str, rows: int | None = None) -> None:
        seconds, cpu = time.perf_counter() - clock[0], cpu_seconds() - clock[1]
        rate = f"{rows / seconds:>11,.0f} rows/s" if rows else " " * 18
        print(
            f"{label:<9} {what:<40} {seconds:7.2f} s {rate}  (client CPU {cpu:6.2f} s)  "
            f"peak RSS {peak_rss_mb():6.0f} MB",
            flush=True,
        )

    store = open_backend(url)
    store.upsert_points(SITE, [FakePoint(n) for n in names])
    end = DAY_START_MS + 86_400_000
    table = make_table()
    total = table.num_rows
    for what in ("upsert (new day, arrival order)", "upsert again (idempotent re-run)"):
        start()
        result = store.upsert_samples(SITE, table)
        line(what, result.rows)
        assert result.rows == table.num_rows and result.unknown_points == 0, result
    del table  # the read-back below should not share the process with the input day
    gc.collect()
    pa.default_memory_pool().release_unused()  # hand the freed day back to the OS
    start()
    read = store.read_samples(SITE, DAY_START_MS, end, None)
    line("read_samples (site-day -> Arrow)", read.num_rows)
    assert read.num_rows == total
    del read
    gc.collect()
    start()
    few = store.read_samples(SITE, DAY_START_MS, end, names[:: max(1, len(names) // 10)][:10])
    line(f"read_samples ({len(set(few.column(0).to_pylist()))} points)", few.num_rows)
    start()
    days = [store.next_sample_ms(SITE, -(2**62), end)]
    line("next_sample_ms probe (days_with_samples)")
    assert days[0] is not None
    start()
    counted = store.count_samples(SITE, DAY_START_MS, end)
    line("count_samples", counted)
    start()
    deleted = store.delete_samples(SITE, DAY_START_MS, end)
    line("delete_samples (the day)", deleted)
    assert counted == deleted == total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--rows", type=int, default=None, help="total rows (default points x 1440)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url", default=None, help="existing database (default: a temporary one)"
    )
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--sqlite-dir", default=None, help="folder for the SQLite file (default: temp)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the temp database
    if args.backend == "both":  # one process per backend, so peak RSS is per backend
        forwarded = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--backend=both"]
        for backend in ("sqlite", "postgres"):
            subprocess.run([sys.executable, __file__, *forwarded, "--backend", backend], check=True)
        return

    per_point = max(1, (args.rows or args.points * 1440) // args.points)
    names = point_names(args.points)
    lengths = [len(n) for n in names]

    def make_table() -> pa.Table:
        table = site_day(args.points, per_point)
        print(
            f"site-day: {table.num_rows:,} rows, {args.points:,} points x {per_point} samples, "
            f"names {min(lengths)}-{max(lengths)} chars, table {table.nbytes / 2**20:,.0f} MB, "
            f"peak RSS {peak_rss_mb():.0f} MB",
            flush=True,
        )
        return table

    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory(dir=args.sqlite_dir) as folder:
            run("sqlite", str(Path(folder) / "hot.sqlite"), make_table, names)
    if args.backend == "postgres":
        if args.pg_url:
            run("postgres", args.pg_url, make_table, names)
        else:
            with temporary_pg_database(args.pg_admin_url) as url:
                run("postgres", url, make_table, names)


if __name__ == "__main__":
    main()
