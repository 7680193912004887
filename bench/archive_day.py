"""Benchmark: archive one full-load site-day from the hot store to a verified cold file.

    .venv/bin/python bench/archive_day.py [--points 4600] [--per-point 1440] [--jitter-ms 0]
        [--hot sqlite|memory] [--no-sweep] [--keep DIR]

Steps timed (the hot-row deletion is the orchestrator's job and is not run here):
read the day from the hot store -> build_cold_table -> cold_file_bytes -> put into a
local ColdStoreResource -> get the bytes back -> verify_cold_bytes. The hot store is a
real SQLite ``HotStoreResource`` filled in a child process (so this process's peak RSS is
the archival's own); ``--hot memory`` starts from an in-memory table instead. Then, in the
same run: pyarrow's defaults on the same table (the floor), the encoding sweep and the
5-point read cost per row-group size (bench/cold_layout_sweep.py).
Targets: hot -> verified file <= 6 s, <= 1.5 GB RSS, bytes/sample as low as the data allows.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.bms_day import full_load_day  # noqa: E402
from vitals.arrow_memory import configure_arrow_memory  # noqa: E402
from vitals.cold.file import build_cold_table, cold_file_bytes  # noqa: E402
from vitals.cold.key_order import key_checksum  # noqa: E402
from vitals.cold.keys import cold_day_key  # noqa: E402
from vitals.cold.verify import verify_cold_bytes  # noqa: E402
from vitals.samples import day_bounds_ms  # noqa: E402

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()

SITE = "ses_falls_city"
DAY = date(2026, 10, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_hot_store(db_path: Path, points: int, per_point: int, jitter_ms: int) -> None:
    """Fill a SQLite hot store with one generated day (runs in a child process)."""
    from resources.hot_store import HotStoreResource
    from vitals.ace.client import AcePoint

    table = full_load_day(
        SITE, day_bounds_ms(DAY)[0], points=points, per_point=per_point, jitter_ms=jitter_ms
    )
    names = sorted(set(table.column("point_name").to_pylist()))
    hot = HotStoreResource(url=str(db_path))
    hot.upsert_points(
        SITE,
        [AcePoint(name, i + 1, "analog", True, 60, None, None) for i, name in enumerate(names)],
    )
    began = time.perf_counter()
    for batch in table.to_batches(max_chunksize=200_000):
        result = hot.upsert_samples(SITE, pa.Table.from_batches([batch]))
        assert result.unknown_points == 0, result
    print(
        f"  (prepared hot store: {table.num_rows:,} rows in {time.perf_counter() - began:.1f} s, "
        f"{db_path.stat().st_size / table.num_rows:.1f} B/sample on disk)"
    )


def run_archival(read_hot, folder: Path) -> tuple[pa.Table, dict[str, float], bytes]:
    """The archival path, step by step; returns the cold table, step seconds, file bytes."""
    from resources.cold_store import ColdStoreResource

    store = ColdStoreResource(url=str(folder / "cold"))
    key = cold_day_key(SITE, DAY)
    steps: dict[str, float] = {}
    began = time.perf_counter()
    hot_rows = read_hot()
    steps["read hot store"] = time.perf_counter() - began
    mark = time.perf_counter()
    checksum = key_checksum(hot_rows)
    steps["key checksum of hot rows"] = time.perf_counter() - mark
    mark = time.perf_counter()
    cold = build_cold_table(SITE, DAY, [hot_rows])
    steps["build cold table"] = time.perf_counter() - mark
    mark = time.perf_counter()
    data = cold_file_bytes(cold, site=SITE, day=DAY, sources=["hot"], checksum=checksum)
    steps["write Parquet bytes"] = time.perf_counter() - mark
    mark = time.perf_counter()
    store.put_bytes(key, data)
    steps["put (tmp + fsync + rename)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    readback = store.get_bytes(key)
    verify_cold_bytes(
        readback, site=SITE, day=DAY, expected_rows=hot_rows.num_rows, expected_checksum=checksum
    )
    steps["get + verify read-back"] = time.perf_counter() - mark
    steps["TOTAL hot -> verified file"] = time.perf_counter() - began
    return cold, steps, data


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    print("| " + " | ".join(title for title, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for _, key in columns:
            value = row[key]
            if isinstance(value, float):
                cells.append(f"{value:,.3f}")
            else:
                cells.append(f"{value:,}" if isinstance(value, int) else str(value))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--points", type=int, default=4_600)
    parser.add_argument("--per-point", type=int, default=1_440)
    parser.add_argument("--jitter-ms", type=int, default=0)
    parser.add_argument("--hot", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the files in this folder")
    parser.add_argument("--prepare-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_only:
        prepare_hot_store(args.prepare_only, args.points, args.per_point, args.jitter_ms)
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="vitals-archive-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    start_ms, end_ms = day_bounds_ms(DAY)
    print(
        f"# archive one site-day: {args.points:,} points x {args.per_point:,} samples, "
        f"jitter {args.jitter_ms} ms, hot = {args.hot}"
    )
    if args.hot == "sqlite":
        from resources.hot_store import HotStoreResource

        db = folder / "hot.sqlite"
        db.unlink(missing_ok=True)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--prepare-only",
                str(db),
                "--points",
                str(args.points),
                "--per-point",
                str(args.per_point),
                "--jitter-ms",
                str(args.jitter_ms),
            ],
            check=True,
        )
        hot = HotStoreResource(url=str(db))
        hot.schema_version()  # open the database before the clock starts

        def read_hot() -> pa.Table:
            return hot.read_samples(SITE, start_ms, end_ms)
    else:
        generated = full_load_day(
            SITE, start_ms, points=args.points, per_point=args.per_point, jitter_ms=args.jitter_ms
        )

        def read_hot() -> pa.Table:
            return generated

    rss_before = peak_rss_mb()
    cold, steps, data = run_archival(read_hot, folder)
    rss_after = peak_rss_mb()
    for step, seconds in steps.items():
        print(f"  {step:<30} {seconds:7.2f} s")
    rows = cold.num_rows
    print(
        f"  peak RSS {rss_after:,.0f} MB (before archival {rss_before:,.0f} MB); "
        f"table {cold.nbytes / 1e6:,.0f} MB in memory"
    )
    print(f"  file {len(data):,} bytes = {len(data) / rows:.3f} bytes/sample for {rows:,} samples")

    sink = pa.BufferOutputStream()
    began = time.perf_counter()
    pq.write_table(cold, sink)
    floor_s = time.perf_counter() - began
    floor_bytes = sink.getvalue().size
    print(
        f"  pyarrow defaults on the same table (floor): {floor_bytes:,} bytes = "
        f"{floor_bytes / rows:.3f} B/sample in {floor_s:.2f} s; ours is "
        f"{len(data) / floor_bytes:.2f}x the size, "
        f"write {steps['write Parquet bytes'] / floor_s:.2f}x the time"
    )
    if args.no_sweep:
        return
    from bench.cold_layout_sweep import sweep_encodings, sweep_read_cost

    print("\n## encodings (one write each)")
    print_table(
        sweep_encodings(cold, site=SITE, day=DAY),
        [
            ("layout", "layout"),
            ("bytes/sample", "bytes_per_sample"),
            ("row groups", "row_groups"),
            ("footer bytes", "footer_bytes"),
            ("write s", "write_s"),
        ],
    )
    print("\n## read 5 points from one file")
    print_table(
        sweep_read_cost(cold, site=SITE, day=DAY, folder=folder),
        [
            ("row-group target", "row_group_rows"),
            ("groups", "row_groups"),
            ("B/sample", "bytes_per_sample"),
            ("rows", "rows"),
            ("pyarrow s", "pyarrow_s"),
            ("pyarrow bytes read", "pyarrow_bytes"),
            ("DuckDB s", "duckdb_s"),
            ("DuckDB bytes read", "duckdb_bytes"),
        ],
    )
    if not args.keep:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()


if __name__ == "__main__":
    main()
