"""Measure cold-file layouts: size and write time per encoding, and the cost of reading 5 points.

Used by bench/archive_day.py; each figure is one run on a shared CPU (noisy).
Bytes read are counted from /proc/self/io ``rchar`` (every read()/pread() the process
makes, page cache included), so pyarrow and DuckDB are measured the same way.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.arrow_memory import configure_arrow_memory
from vitals.cold.file import ColdLayout, cold_file_bytes

# Measured as a Vitals process runs: Arrow on the allocator the code location sets.
configure_arrow_memory()


BASE = ColdLayout()


def encoding_variants() -> list[tuple[str, ColdLayout]]:
    """The layouts compared in docs/cold_layout.md, from plain to the chosen default."""
    zstd3 = replace(BASE, compression_level=3)
    return [
        ("zstd 3, dict names, ts+value PLAIN", replace(zstd3, ts_encoding="PLAIN")),
        ("zstd 3, dict everywhere", replace(zstd3, ts_encoding=None, value_encoding=None)),
        ("zstd 3, ts DELTA", zstd3),
        (
            "zstd 3, ts DELTA, value BYTE_STREAM_SPLIT",
            replace(zstd3, value_encoding="BYTE_STREAM_SPLIT"),
        ),
        ("zstd 1, ts DELTA", replace(BASE, compression_level=1)),
        ("zstd 6, ts DELTA, row groups >= 24k rows (default)", BASE),
        ("zstd 9, ts DELTA", replace(BASE, compression_level=9)),
        ("zstd 6, 64 KiB pages", replace(BASE, data_page_size=64 << 10)),
        ("zstd 6, 8 MiB pages", replace(BASE, data_page_size=8 << 20)),
        ("zstd 6, no page index", replace(BASE, write_page_index=False)),
        ("zstd 6, row groups >= 8k rows", replace(BASE, row_group_rows=8_192)),
        ("zstd 6, row groups >= 16k rows", replace(BASE, row_group_rows=16_384)),
        ("zstd 6, row groups >= 32k rows", replace(BASE, row_group_rows=32_768)),
        ("zstd 6, row groups >= 64k rows", replace(BASE, row_group_rows=65_536)),
        ("zstd 6, one row group per 1M rows", replace(BASE, row_group_rows=1 << 20)),
    ]


def footer_bytes(data: bytes) -> int:
    return pq.ParquetFile(pa.BufferReader(data)).metadata.serialized_size


def sweep_encodings(cold: pa.Table, *, site: str, day: date) -> list[dict]:
    """Write the table once per layout; bytes/sample, footer size, write seconds."""
    results = []
    for label, layout in encoding_variants():
        began = time.perf_counter()
        data = cold_file_bytes(cold, site=site, day=day, sources=["bench"], layout=layout)
        seconds = time.perf_counter() - began
        metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
        results.append(
            {
                "layout": label,
                "bytes": len(data),
                "bytes_per_sample": len(data) / max(cold.num_rows, 1),
                "row_groups": metadata.num_row_groups,
                "footer_bytes": metadata.serialized_size,
                "write_s": seconds,
            }
        )
    return results


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _measure(read) -> tuple[float, int, int]:
    before = _rchar()
    began = time.perf_counter()
    rows = read()
    return time.perf_counter() - began, _rchar() - before, rows


def read_cost(path: Path, points: list[str]) -> dict:
    """Seconds and bytes to read ``points`` from one day file with pyarrow and DuckDB."""

    def with_pyarrow() -> int:
        return pq.read_table(path, filters=[("point_name", "in", points)]).num_rows

    def with_duckdb() -> int:
        con = duckdb.connect()
        rows = con.execute(
            "select point_name, ts, value from read_parquet(?) where point_name in ?",
            [str(path), points],
        ).fetchall()
        con.close()
        return len(rows)

    with_pyarrow()  # warm imports and the page cache so both readers start equal
    pa_s, pa_bytes, pa_rows = _measure(with_pyarrow)
    duck_s, duck_bytes, duck_rows = _measure(with_duckdb)
    return {
        "pyarrow_s": pa_s,
        "pyarrow_bytes": pa_bytes,
        "duckdb_s": duck_s,
        "duckdb_bytes": duck_bytes,
        "rows": pa_rows,
        "duckdb_rows": duck_rows,
    }


def sweep_read_cost(cold: pa.Table, *, site: str, day: date, folder: Path) -> list[dict]:
    """Read 5 spread-out points from files cut at different row-group targets."""
    names = sorted(pc.unique(cold.column("point_name")).to_pylist())
    points = random.Random(11).sample(names, 5)
    results = []
    for target in (8_192, 16_384, 24_576, 32_768, 65_536):
        layout = replace(BASE, row_group_rows=target)
        data = cold_file_bytes(cold, site=site, day=day, sources=["bench"], layout=layout)
        path = folder / f"rg{target}.parquet"
        path.write_bytes(data)
        cost = read_cost(path, points)
        groups = pq.ParquetFile(path).metadata.num_row_groups
        results.append(
            {
                "row_group_rows": target,
                "row_groups": groups,
                "file_bytes": len(data),
                "bytes_per_sample": len(data) / cold.num_rows,
                **cost,
            }
        )
    return results
