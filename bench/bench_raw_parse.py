"""Benchmark: raw pull -> sample table at full load (4,600 points x 1,440 = 6.6 M rows).

Prints the seconds for the vectorised ``raw_to_samples`` and, on a slice, the scalar
``parse_wire_samples`` rate for comparison; also JSON page decode -> raw table.
Run: .venv/bin/python bench/bench_raw_parse.py [points] [samples_per_point]
"""

from __future__ import annotations

import json
import random
import sys
import time

import pyarrow as pa

from vitals.ace.pages import decode_page_body
from vitals.ace.parse import RAW_SCHEMA, raw_to_samples
from vitals.arrow_memory import configure_arrow_memory
from vitals.samples import parse_wire_samples

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()


def build_raw_day(points: int, per_point: int) -> pa.Table:
    """A synthetic full-load raw day in arrival (time-major) order, ACE's wire shapes."""
    rng = random.Random(7)
    names = [
        f"ses/ses_falls_city/192.168.96.{p % 250}/n4/AHU{p // 40}/VAV{p}.ZoneTemp"
        for p in range(points)
    ]
    base = [f"{rng.uniform(50, 90):.4f}" for _ in range(points)]
    col_name, col_time, col_value = [], [], []
    for minute in range(per_point):
        hh, mm = divmod(minute, 60)
        for p in range(points):
            col_name.append(names[p])
            micros = p * 7919 % 1_000_000
            col_time.append(f"2025-10-12T{hh % 24:02d}:{mm:02d}:{p % 60:02d}.{micros:06d}")
            col_value.append(base[p] if p % 4600 else "NaN")
    return pa.Table.from_arrays(
        [pa.array(col_name), pa.array(col_time), pa.array(col_value)], schema=RAW_SCHEMA
    )


def main() -> None:
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 4600
    per_point = int(sys.argv[2]) if len(sys.argv) > 2 else 1440
    table = build_raw_day(points, per_point)
    print(f"raw rows: {table.num_rows:,}  ({table.nbytes / 1e6:.0f} MB in Arrow)")
    started = time.perf_counter()
    parsed = raw_to_samples(table)
    took = time.perf_counter() - started
    print(
        f"raw_to_samples: {took:.2f} s ({table.num_rows / took / 1e6:.2f} M rows/s), "
        f"kept {parsed.table.num_rows:,}, dropped {parsed.dropped:,}"
    )
    piece = table.slice(0, 200_000)
    records = piece.to_pylist()
    started = time.perf_counter()
    parse_wire_samples(records)
    took = time.perf_counter() - started
    print(
        f"parse_wire_samples (scalar) on 200k: {took:.2f} s "
        f"-> {took * table.num_rows / 200_000:.1f} s extrapolated to the day"
    )
    body = json.dumps(
        {"point_samples": piece.slice(0, 100_000).to_pylist(), "has_more": True, "next_cursor": "x"}
    ).encode()
    started = time.perf_counter()
    for _ in range(3):
        decode_page_body(body)
    took = (time.perf_counter() - started) / 3
    print(f"decode 100k-sample page ({len(body) / 1e6:.1f} MB JSON) -> raw table: {took:.3f} s")


if __name__ == "__main__":
    main()
