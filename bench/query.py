"""Query benchmark: the engine beside bare DuckDB SQL on the same files, one full-size site.

Builds (once, cached under --cache-dir; --rebuild to redo) one site of --points points
(default 4,600, names 40-90 characters) with one sample every --step-seconds (default
300 s: the production rate; 60 s is the full-load case but takes ~5x longer to build):
--cold-days day files written with the real cold writer (vitals.cold.file), a rollup
file per cold day (vitals.rollups.day), and --hot-days days after them in a real SQLite hot
store. Then measures (medians of --repeat runs, first run shown apart):

- hot 10 points x 20 days raw, engine vs the hot store's own read_samples;
- cold 10 points x all cold days raw, engine (Arrow rows, and the full QueryResult with
  Python lists) vs DuckDB read_parquet over the same files;
- the same at 1 h through rollups, engine vs DuckDB over the rollup files and vs
  DuckDB aggregating the raw files;
- 10 points x 30 days spanning both tiers, engine vs DuckDB on the cold part plus the
  hot read;
- (unless --skip-semantics, docs/query.md) a year of 10 points at local 1d from stored
  rollups (America/Chicago from 1 h month files, Asia/Kolkata from 15 min day rollups)
  beside UTC 1d and DuckDB over the month files; M4 of the year to 1,000 points per
  series beside the same M4 in DuckDB over the raw files; point_quality for one
  full-load site-day (--quality-points points, one sample a minute).

Run: .venv/bin/python bench/query.py [--rebuild] [--cold-days 365] [--points 4600]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.client import AcePoint
from vitals.arrow_memory import configure_arrow_memory
from vitals.cold.catalogue import store_catalogue
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.keys import cold_day_key, rollup_day_key, rollup_year_key
from vitals.cold.point_reads import FOOTERS
from vitals.quality.build import build_quality_day
from vitals.query.engine import QueryEngine, ReadStats
from vitals.query.local_time import local_edges
from vitals.query.m4 import m4_grid
from vitals.query.plan import QueryLimits
from vitals.rollups.day import (
    COLD_CHECKSUM_KEY,
    ROLLUP_SLICES,
    build_rollup_table,
    rollup_file_bytes,
)
from vitals.rollups.month import compact_rollup_month
from vitals.rollups.year import compact_rollup_year
from vitals.samples import MS_PER_DAY, SAMPLE_SCHEMA, day_bounds_ms

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()


SITE = "bench-site"
FIRST_DAY = date(2025, 1, 1)
# bump when vitals.rollups.day or .month changes its file layout (7: M4 columns, 8: 15 min
# in month files)
ROLLUP_LAYOUT = 8
UNLIMITED = QueryLimits(
    max_points=10_000, max_raw_range_days=10_000, max_agg_range_days=10_000, max_samples=10**10
)


def point_names(count: int) -> list[str]:
    """Realistic BMS-style names, 40-90 characters."""
    rng = random.Random(7)
    kinds = [
        "Zone Air Temperature Sensor",
        "Discharge Air Temperature Setpoint",
        "Supply Fan Status Command",
        "Damper Position Feedback",
        "Chilled Water Valve Cmd",
        "Electric Meter Real Power kW",
        "Zone CO2 Concentration",
    ]
    names = set()
    while len(names) < count:
        floor, unit = rng.randint(1, 12), rng.randint(1, 400)
        kind = rng.choice(kinds)
        prefix = rng.choice(
            [
                "drivers/bacnet/Main Campus Bldg 4",
                "Bldg4-NAE02/N2-Trunk1",
                "site/ahu" + str(rng.randint(1, 9)),
            ]
        )
        names.add(f"{prefix}/Floor{floor:02d}/VAV-{floor}-{unit:03d}/{kind}")
    return sorted(names)


def day_template(names: list[str], step_ms: int) -> pa.Table:
    """One day's samples at offset 0 (ts relative to midnight), sorted (point, ts)."""
    per_point = MS_PER_DAY // step_ms
    col_names, col_ts, col_values = [], [], []
    for index, name in enumerate(names):
        offset = (index * 7919) % step_ms  # not aligned to minute marks
        base = 55.0 + (index % 40)
        col_names.append(pa.repeat(pa.scalar(name), per_point))
        col_ts.append(pa.array(range(offset, MS_PER_DAY, step_ms)[:per_point], pa.int64()))
        col_values.append(
            pa.array(
                [round(base + ((k * 13 + index) % 29) * 0.25, 2) for k in range(per_point)],
                pa.float64(),
            )
        )
    return pa.table(
        {
            "point_name": pa.chunked_array(col_names),
            "ts": pa.chunked_array(col_ts),
            "value": pa.chunked_array(col_values),
        },
        schema=SAMPLE_SCHEMA,
    )


def shifted_rollup(rollup: pa.Table, start_ms: int, offset: float) -> pa.Table:
    """The template day's rollup moved to ``start_ms`` with ``offset`` added to every value."""
    ts_type = rollup.schema.field("bucket_ts").type
    out = rollup
    for name in ("bucket_ts", "last_ts", "first_ts", "min_ts", "max_ts"):
        shifted = pc.add(rollup.column(name).cast(pa.int64()), start_ms).cast(ts_type)
        out = out.set_column(out.schema.get_field_index(name), name, shifted)
    for name in ("min", "max", "last", "first"):
        out = out.set_column(
            out.schema.get_field_index(name), name, pc.add(rollup.column(name), offset)
        )
    total = pc.add(
        rollup.column("sum"), pc.multiply(rollup.column("count").cast(pa.float64()), offset)
    )
    return out.set_column(out.schema.get_field_index("sum"), "sum", total)


def put_shifted_rollup(
    cold: ColdStoreResource, site: str, day: date, cold_bytes: bytes, rollup: pa.Table
) -> None:
    """Store ``rollup`` as the day's rollup file, tied to the stored cold file it describes."""
    checksum = (pq.ParquetFile(io.BytesIO(cold_bytes)).schema_arrow.metadata or {}).get(
        COLD_CHECKSUM_KEY.encode()
    )
    cold.put_bytes(
        rollup_day_key(site, day),
        rollup_file_bytes(
            rollup,
            site,
            day,
            source_checksum=checksum.decode() if checksum else None,
            source_identity=cold.identity(cold_day_key(site, day)),
        ),
    )


def build(cache: Path, points: int, cold_days: int, hot_days: int, step_s: int) -> list[str]:
    marker = cache / f"built-{points}-{cold_days}-{hot_days}-{step_s}"
    names = point_names(points)
    layout = cache / f"rollup-layout-{ROLLUP_LAYOUT}"
    if cache.exists() and not layout.exists():  # rollups of an older layout: rebuild them only
        shutil.rmtree(cache / "cold" / "rollups", ignore_errors=True)
        marker.unlink(missing_ok=True)
    years = sorted({(FIRST_DAY + timedelta(days=d)).year for d in range(cold_days)})
    if marker.exists():
        for year in years:  # data built before year files: add them (rollup_months does)
            if not (cache / "cold" / rollup_year_key(SITE, year)).exists():
                outcome = compact_rollup_year(
                    ColdStoreResource(url=str(cache / "cold")), SITE, year
                )
                print(f"  year file {outcome.key}: {outcome.days} days, {outcome.seconds:.1f} s")
        return names
    params = cache / "params"
    wanted = f"{points}-{step_s}"
    if params.exists() and params.read_text() != wanted:
        shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    params.write_text(wanted)
    cold = ColdStoreResource(url=str(cache / "cold"))
    hot = HotStoreResource(url=str(cache / "hot.sqlite"))
    hot.upsert_points(SITE, [AcePoint(n) for n in names])
    template = day_template(names, step_s * 1000)
    # Every day has the template's shape: its rollup is the template's, shifted in time and
    # value (checked equal to a fresh build in tests/rollups/test_rollups.py's sense: same rows).
    template_rollup = build_rollup_table(template)
    hot_done = (cache / "hot-done").exists()
    started = time.perf_counter()
    for d in range(cold_days + hot_days):
        day = FIRST_DAY + timedelta(days=d)
        start = day_bounds_ms(day)[0]
        offset = float(d % 17)
        table = template.set_column(1, "ts", pc.add(template.column("ts"), start))
        table = table.set_column(2, "value", pc.add(template.column("value"), offset))
        if d < cold_days:
            if cold.exists(rollup_day_key(SITE, day)):
                continue  # resumed build
            if cold.exists(cold_day_key(SITE, day)):
                data = cold.get_bytes(cold_day_key(SITE, day))
            else:
                data = cold_file_bytes(
                    build_cold_table(SITE, day, [table]), site=SITE, day=day, sources=["bench"]
                )
                cold.put_bytes(cold_day_key(SITE, day), data)
            put_shifted_rollup(
                cold, SITE, day, data, shifted_rollup(template_rollup, start, offset)
            )
        elif not hot_done:
            hot.upsert_samples(SITE, table)
        if d % 10 == 0:
            print(
                f"  built day {d + 1}/{cold_days + hot_days} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    (cache / "hot-done").write_text("ok")
    months = sorted(
        {
            ((FIRST_DAY + timedelta(days=d)).year, (FIRST_DAY + timedelta(days=d)).month)
            for d in range(cold_days)
        }
    )
    for year, month in months:  # as rollup_months does once a month's days have settled
        outcome = compact_rollup_month(cold, SITE, year, month)
        print(
            f"  month file {outcome.key}: {outcome.days} days, {outcome.rows:,} rows, "
            f"{outcome.bytes / 1e6:.1f} MB, {outcome.seconds:.1f} s",
            flush=True,
        )
    for year in years:  # then each year's file from its month files, as rollup_months does
        outcome = compact_rollup_year(cold, SITE, year)
        print(
            f"  year file {outcome.key}: {outcome.days} days, {outcome.rows:,} rows, "
            f"{outcome.bytes / 1e6:.1f} MB, {outcome.seconds:.1f} s",
            flush=True,
        )
    marker.write_text("ok")
    layout.write_text("ok")
    return names


LOAD_AT_START: tuple[float, float, float] = (0.0, 0.0, 0.0)
SEMANTIC_RATIOS: list[tuple[str, str, float, float, str]] = []


def semantic_cases(args, engine, chosen, cold_start, cold_end, month_files, cold_files, measure):
    """Local days from rollups, M4 of the year, and one full-load point_quality site-day."""
    con = duckdb.connect()
    marks = ", ".join("?" for _ in chosen)
    zone = "America/Chicago"
    edges = local_edges(cold_start, cold_end, "1d", zone)
    edge_table = pa.table({"b": pa.array(edges[:-1], pa.int64())})
    con.register("edges", edge_table)

    def local_days(tz: str | None) -> int:
        return engine.query(
            SITE, chosen, cold_start, cold_end, interval="1d", aggs=["avg", "min", "max"], tz=tz
        ).samples

    def duck_local_days() -> int:
        sql = (
            "WITH r AS (SELECT point_name, epoch_ms(bucket_ts) AS ts, count, sum, min, max "
            f"FROM read_parquet(?) WHERE point_name IN ({marks}) AND interval_ms = 3600000) "
            "SELECT point_name, e.b, sum(sum) / sum(count), min(min), max(max) "
            "FROM r ASOF JOIN edges e ON r.ts >= e.b GROUP BY ALL ORDER BY ALL"
        )
        return con.sql(sql, params=[month_files, *chosen]).to_arrow_table().num_rows

    case = f"10 pts x {args.cold_days} d at local 1d"
    duck = measure(case, f"bare DuckDB month files ({zone})", duck_local_days)
    measure(case, "engine UTC 1d (1 d rollups)", lambda: local_days(None))
    local = measure(case, f"engine {zone} (1 h rollups)", lambda: local_days(zone))
    measure(case, "engine Asia/Kolkata (15 min rollups)", lambda: local_days("Asia/Kolkata"))
    SEMANTIC_RATIOS.append((case, "ratio engine local / DuckDB", 0, local / duck, ""))

    raw_engine = QueryEngine(engine.hot, engine.cold, limits=UNLIMITED, use_rollups=False)

    def m4(eng: QueryEngine = engine) -> int:
        return eng.query(SITE, chosen, cold_start, cold_end, max_points=1000).samples

    # the engine's column grid (vitals.query.m4.m4_grid: 36 h columns on 1 h rollups)
    grid = m4_grid(cold_start, cold_end, 1000)

    def duck_m4() -> int:
        sql = (
            "WITH r AS (SELECT point_name AS p, epoch_ms(ts) AS ts, value AS v FROM read_parquet(?) "
            f"WHERE point_name IN ({marks})), "
            "c AS (SELECT p, ts, v, (ts - ?) // ? AS col FROM r), "
            "k AS (SELECT p, min(ts) a, max(ts) z, arg_min(ts, v) lo, arg_max(ts, v) hi "
            "FROM c GROUP BY p, col), "
            "u AS (SELECT p, a AS ts FROM k UNION SELECT p, z FROM k UNION SELECT p, lo FROM k "
            "UNION SELECT p, hi FROM k) "
            "SELECT r.p, r.ts, r.v FROM r SEMI JOIN u USING (p, ts) ORDER BY r.p, r.ts"
        )
        params = [cold_files, *chosen, grid.origin, grid.width]
        return con.sql(sql, params=params).to_arrow_table().num_rows

    case = f"M4 10 pts x {args.cold_days} d -> 1000/series"
    duck = measure(case, "bare DuckDB M4 on raw files", duck_m4)
    eng = measure(case, "engine max_points=1000", m4)
    measure(case, "engine max_points=1000, rollups off (raw)", lambda: m4(raw_engine))
    fast = engine.query(SITE, chosen, cold_start, cold_end, max_points=1000)
    slow = raw_engine.query(SITE, chosen, cold_start, cold_end, max_points=1000)
    same = [(s.t, s.values) for s in fast.series] == [(s.t, s.values) for s in slow.series]
    print(f"M4 from rollups equals M4 from raw on the same grid: {same}; grid {grid.describe()}")
    SEMANTIC_RATIOS.append((case, "ratio engine / DuckDB", 0, eng / duck, ""))
    SEMANTIC_RATIOS.append(
        (
            case,
            "ratio CPU engine / DuckDB",
            0,
            CPU[(case, "engine max_points=1000")] / CPU[(case, "bare DuckDB M4 on raw files")],
            "",
        )
    )

    quality_case(args, measure)


def quality_case(args, measure) -> None:
    """point_quality for one full-load site-day (one sample a minute per point)."""
    root = args.cache_dir / f"quality-{args.quality_points}"
    cold = ColdStoreResource(url=str(root / "cold"))
    hot = HotStoreResource(url=str(root / "hot.sqlite"))
    day = FIRST_DAY
    names = point_names(args.quality_points)
    if not cold.exists(cold_day_key(SITE, day)):
        template = day_template(names, 60_000)
        start = day_bounds_ms(day)[0]
        table = template.set_column(1, "ts", pc.add(template.column("ts"), start))
        cold.put_bytes(
            cold_day_key(SITE, day),
            cold_file_bytes(
                build_cold_table(SITE, day, [table]), site=SITE, day=day, sources=["bench"]
            ),
        )
        store_catalogue(cold.store, SITE, [AcePoint(n, collect_interval=60) for n in names])
    hot.upsert_points(SITE, [AcePoint(n) for n in names])
    samples = pq.read_metadata(cold.local_copy(cold_day_key(SITE, day))).num_rows
    case = f"point_quality {args.quality_points} pts x 1 d"
    measure(
        case,
        f"read + report + write ({samples:,} samples)",
        lambda: build_quality_day(cold.store, hot, SITE, day).samples,
    )


CPU: dict[tuple[str, str], float] = {}  # (case, measure) -> median process CPU seconds


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float, object, float]:
    """(first run seconds, median of the following runs, last result, median CPU seconds).

    CPU is ``time.process_time`` of this process (all its threads, DuckDB's included):
    on a shared machine wall time moves with the load, CPU much less.
    """
    times, cpus, result = [], [], None
    for _ in range(repeat + 1):
        started, cpu = time.perf_counter(), time.process_time()
        result = run()
        times.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return times[0], statistics.median(times[1:]), result, statistics.median(cpus[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/vitals-bench-query"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--points", type=int, default=4600)
    parser.add_argument("--cold-days", type=int, default=365)
    parser.add_argument("--hot-days", type=int, default=20)
    parser.add_argument("--step-seconds", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--skip-semantics",
        action="store_true",
        help="leave out local-day, M4 and point_quality cases (docs/query.md)",
    )
    parser.add_argument(
        "--quality-points", type=int, default=4600, help="points of the full-load quality day"
    )
    args = parser.parse_args()
    global LOAD_AT_START
    LOAD_AT_START = os.getloadavg()
    if args.rebuild:
        shutil.rmtree(args.cache_dir, ignore_errors=True)
    print(
        f"site: {args.points} points, one sample per {args.step_seconds} s, "
        f"{args.cold_days} cold days + {args.hot_days} hot days (cache {args.cache_dir})"
    )
    names = build(args.cache_dir, args.points, args.cold_days, args.hot_days, args.step_seconds)
    chosen = random.Random(11).sample(names, 10)
    cold = ColdStoreResource(url=str(args.cache_dir / "cold"))
    hot = HotStoreResource(url=str(args.cache_dir / "hot.sqlite"))
    engine = QueryEngine(hot, cold, limits=UNLIMITED)
    raw_engine = QueryEngine(hot, cold, limits=UNLIMITED, use_rollups=False)
    cold_start = day_bounds_ms(FIRST_DAY)[0]
    cold_end = cold_start + args.cold_days * MS_PER_DAY
    hot_end = cold_end + args.hot_days * MS_PER_DAY
    cold_files = [
        str(cold.local_copy(cold_day_key(SITE, FIRST_DAY + timedelta(days=d))))
        for d in range(args.cold_days)
    ]
    rollup_files = [
        str(cold.local_copy(rollup_day_key(SITE, FIRST_DAY + timedelta(days=d))))
        for d in range(args.cold_days)
    ]
    months = sorted(
        {(FIRST_DAY + timedelta(days=d)).strftime("%Y/%m") for d in range(args.cold_days)}
    )
    month_files = [str(cold.local_copy(f"rollup_months/{SITE}/{m}.parquet")) for m in months]
    con = duckdb.connect()
    # the same DuckDB with its Parquet footer cache on, as the engine's cursors have it
    cached_con = duckdb.connect()
    cached_con.execute("SET parquet_metadata_cache = true")
    marks = ", ".join("?" for _ in chosen)

    def duck_raw(files: list[str], start: int, end: int) -> pa.Table:
        sql = (
            f"SELECT point_name, epoch_ms(ts) AS ts, value FROM read_parquet(?) "
            f"WHERE point_name IN ({marks}) AND ts >= make_timestamp(? * 1000) "
            f"AND ts < make_timestamp(? * 1000) ORDER BY point_name, ts"
        )
        return con.sql(sql, params=[files, *chosen, start, end]).to_arrow_table()

    def duck_raw_1h(connection: duckdb.DuckDBPyConnection = con) -> pa.Table:
        sql = (
            f"SELECT point_name, epoch_ms(time_bucket(INTERVAL 1 hour, ts)) AS b, avg(value), "
            f"min(value), max(value), arg_max(value, ts) FROM read_parquet(?) "
            f"WHERE point_name IN ({marks}) GROUP BY ALL ORDER BY ALL"
        )
        return connection.sql(sql, params=[cold_files, *chosen]).to_arrow_table()

    def duck_rollup_1h() -> pa.Table:
        sql = (
            f"SELECT point_name, bucket_ts, sum / count, min, max, last FROM read_parquet(?) "
            f"WHERE point_name IN ({marks}) AND interval_ms = 3600000 ORDER BY ALL"
        )
        return con.sql(sql, params=[rollup_files, *chosen]).to_arrow_table()

    def duck_month_1h() -> pa.Table:
        sql = (
            f"SELECT point_name, bucket_ts, sum / count, min, max, last FROM read_parquet(?) "
            f"WHERE point_name IN ({marks}) AND interval_ms = 3600000 ORDER BY ALL"
        )
        return con.sql(sql, params=[month_files, *chosen]).to_arrow_table()

    def engine_rows(eng: QueryEngine, start: int, end: int) -> int:
        plan = eng.plan(SITE, chosen, start, end)
        return sum(len(r) for r in eng.read_raw(plan, ReadStats()).values())

    def engine_query(eng: QueryEngine, start: int, end: int, interval: str = "raw") -> int:
        return eng.query(
            SITE, chosen, start, end, interval=interval, aggs=["avg", "min", "max", "last"]
        ).samples

    rows: list[tuple[str, str, float, float, str]] = []

    def measure(case: str, what: str, run: Callable[[], object]) -> float:
        if what.startswith("engine"):
            FOOTERS.clear()  # the first run pays for footers and decoding, as after a restart
            ROLLUP_SLICES.clear()
        first, median, result, cpu = timed(run, args.repeat)
        CPU[(case, what)] = cpu
        size = result if isinstance(result, int) else getattr(result, "num_rows", "")
        rows.append((case, what, first, median, str(size)))
        return median

    hot_start = cold_end
    case = f"hot 10 pts x {args.hot_days} d raw"
    floor = measure(
        case,
        "hot_store.read_samples",
        lambda: hot.read_samples(SITE, hot_start, hot_end, chosen).num_rows,
    )
    eng = measure(case, "engine QueryResult", lambda: engine_query(engine, hot_start, hot_end))
    rows.append((case, "ratio engine / floor", 0, eng / floor, ""))

    case = f"cold 10 pts x {args.cold_days} d raw"
    duck = measure(
        case, "bare DuckDB read_parquet", lambda: duck_raw(cold_files, cold_start, cold_end)
    )
    arrow = measure(
        case, "engine merged Arrow rows", lambda: engine_rows(engine, cold_start, cold_end)
    )
    full = measure(
        case, "engine QueryResult (lists)", lambda: engine_query(engine, cold_start, cold_end)
    )
    rows.append((case, "ratio engine Arrow / DuckDB", 0, arrow / duck, ""))
    rows.append((case, "ratio engine QueryResult / DuckDB", 0, full / duck, ""))

    case = f"cold 10 pts x {args.cold_days} d at 1h"
    duck = measure(case, "bare DuckDB on raw files", duck_raw_1h)
    duck_cached = measure(
        case, "bare DuckDB on raw files, footer cache on", lambda: duck_raw_1h(cached_con)
    )
    measure(case, "bare DuckDB on day rollup files", duck_rollup_1h)
    duck_r = measure(case, "bare DuckDB on month rollup files", duck_month_1h)
    eng = measure(
        case, "engine via rollups", lambda: engine_query(engine, cold_start, cold_end, "1h")
    )
    eng_raw = measure(
        case,
        "engine from raw (rollups off)",
        lambda: engine_query(raw_engine, cold_start, cold_end, "1h"),
    )
    rows.append((case, "ratio engine / DuckDB month files", 0, eng / duck_r, ""))
    rows.append((case, "ratio engine raw / DuckDB raw", 0, eng_raw / duck, ""))
    rows.append((case, "ratio engine raw / DuckDB raw, footer cache", 0, eng_raw / duck_cached, ""))

    span_start = cold_end - 10 * MS_PER_DAY
    case = "10 pts x 30 d raw across tiers"
    tail_files = cold_files[-10:]
    duck = measure(
        case,
        "bare DuckDB cold part + hot read",
        lambda: (
            duck_raw(tail_files, span_start, cold_end).num_rows
            + hot.read_samples(SITE, cold_end, hot_end, chosen).num_rows
        ),
    )
    eng = measure(case, "engine QueryResult", lambda: engine_query(engine, span_start, hot_end))
    rows.append((case, "ratio engine / bare", 0, eng / duck, ""))

    if not args.skip_semantics:
        semantic_cases(args, engine, chosen, cold_start, cold_end, month_files, cold_files, measure)
        rows.extend(SEMANTIC_RATIOS)

    print(
        "\nfirst = first run after clearing the footer and rollup-slice caches (OS page cache"
        f" warm); median of the next {args.repeat} runs"
    )
    print(f"load average at the end: {os.getloadavg()} (at the start: {LOAD_AT_START})")
    print(
        f"\n{'case':<34} {'measure':<40} {'first s':>8} {'median s':>9} {'CPU s':>7} {'rows':>10}"
    )
    for case, what, first, median, size in rows:
        if what.startswith("ratio"):
            print(f"{case:<34} {what:<40} {'':>8} {median:>8.2f}x")
        else:
            cpu = CPU.get((case, what), float("nan"))
            print(f"{case:<34} {what:<40} {first:>8.3f} {median:>9.3f} {cpu:>7.3f} {size:>10}")


if __name__ == "__main__":
    main()
