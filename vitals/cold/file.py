"""Cold Parquet day files: build the day table and write it (``docs/design.md``, cold file contract).

One file per site per UTC day holds every sample of the site's points, sorted by
(point_name, ts) with one row per key. The layout (measured in bench/archive_day.py,
figures in docs/cold_layout.md) is chosen so the file is small and a reader that wants
a few points touches a small fraction of it: row groups cut at point boundaries by a
row-count target, full-length min/max statistics on ``point_name`` only, a page index,
dictionary-encoded names, delta-encoded timestamps, zstd. Key-value metadata carries the
site, the day, the row count and the key checksum, so any Parquet reader can check a
file without Vitals code. Reading back lives in :mod:`vitals.cold.read`, proving a file
in :mod:`vitals.cold.verify`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.cold.key_order import key_checksum, key_runs, merge_disjoint_sorted, merge_last_wins
from vitals.cold.read import COLD_SCHEMA, COLD_SCHEMA_VERSION, META_PREFIX
from vitals.names import validate_site_name
from vitals.samples import (
    DICTIONARY_NAMES,
    DICTIONARY_SAMPLE_SCHEMA,
    SAMPLE_SCHEMA,
    check_sample_table,
    day_bounds_ms,
    plain_names,
)

_SITE_CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class ColdLayout:
    """Parquet writer choices for cold files; the defaults are the measured best.

    ``row_group_rows`` is a target: a row group closes at the first point boundary at or
    past it, so no point is split and sparse days get few row groups (small footers).
    """

    compression: Literal["zstd", "lz4", "snappy", "gzip", "brotli", "none"] = "zstd"
    compression_level: int | None = 6
    row_group_rows: int = 24_576
    data_page_size: int = 1 << 20
    ts_encoding: str | None = "DELTA_BINARY_PACKED"
    value_encoding: str | None = "PLAIN"
    write_page_index: bool = True


DEFAULT_LAYOUT = ColdLayout()


def _site_column(site: str, rows: int) -> pa.ChunkedArray[Any]:
    """A constant site column that reuses one small chunk instead of ``rows`` strings."""
    block = pa.array([site] * min(rows, _SITE_CHUNK_ROWS), pa.string())
    full, rest = divmod(rows, _SITE_CHUNK_ROWS) if rows else (0, 0)
    chunks = [block] * full + ([block.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, pa.string())


def build_cold_table(site: str, day: date, sources: Sequence[pa.Table]) -> pa.Table:
    """Merge sample tables into one day's cold table (COLD_SCHEMA, canonical key order).

    ``sources`` come in priority order and the LAST wins on a duplicate (point, ts), so
    callers pass hot-store rows last (invariant 4). Rows outside the UTC day
    [start, end) are left out. A single source already sorted and inside the day is
    used without copying; sorted sources with disjoint time ranges (a day's raw pulls)
    are merged without sorting. Names may come dictionary-encoded (read that way from
    Parquet: ~5x cheaper than materialising them); the result holds plain strings.
    """
    validate_site_name(site)
    start_ms, end_ms = day_bounds_ms(day)
    in_day: list[pa.Table] = []
    for index, source in enumerate(sources):
        check_sample_table(
            source, label=f"source {index} for site {site!r} day {day}", dictionary_names=True
        )
        if source.num_rows == 0:
            continue
        # one exact schema (nullability, no metadata) so sources concatenate; zero-copy
        dictionary = source.schema.field("point_name").type == DICTIONARY_NAMES
        schema = DICTIONARY_SAMPLE_SCHEMA if dictionary else SAMPLE_SCHEMA
        source = pa.Table.from_arrays(source.columns, schema=schema)
        bounds = pc.min_max(source.column("ts"))
        if bounds["min"].as_py() < start_ms or bounds["max"].as_py() >= end_ms:
            ts = source.column("ts")
            inside = pc.and_(
                pc.greater_equal(ts, pa.scalar(start_ms)), pc.less(ts, pa.scalar(end_ms))
            )
            source = source.filter(inside)
        in_day.append(source)
    merged = merge_disjoint_sorted(in_day) if len(in_day) > 1 else None
    if merged is None:
        plain = [plain_names(table) for table in in_day]
        merged = merge_last_wins(plain) if plain else SAMPLE_SCHEMA.empty_table()
    ts_column = pc.cast(merged.column("ts"), pa.timestamp("ms", tz="UTC"))
    return pa.Table.from_arrays(
        [
            _site_column(site, merged.num_rows),
            merged.column("point_name"),
            ts_column,
            merged.column("value"),
        ],
        schema=COLD_SCHEMA,
    )


def row_group_bounds(counts: Sequence[int], target_rows: int) -> list[tuple[int, int]]:
    """(offset, length) of each row group: whole point runs, closed once >= target_rows."""
    if target_rows <= 0:
        raise ValueError(f"row group target must be positive, got {target_rows}")
    bounds: list[tuple[int, int]] = []
    offset = length = 0
    for count in counts:
        length += count
        if length >= target_rows:
            bounds.append((offset, length))
            offset, length = offset + length, 0
    if length:
        bounds.append((offset, length))
    return bounds


def _check_cold_table(table: pa.Table, site: str) -> None:
    if table.schema.names != COLD_SCHEMA.names or table.schema.types != COLD_SCHEMA.types:
        raise ValueError(f"cold table must have schema {COLD_SCHEMA}, got {table.schema}")
    if table.num_rows and not pc.all(pc.equal(table.column("site_name"), pa.scalar(site))).as_py():
        raise ValueError(f"cold table holds rows of a site other than {site!r}")


def cold_file_bytes(
    table: pa.Table,
    *,
    site: str,
    day: date,
    sources: Sequence[str],
    layout: ColdLayout = DEFAULT_LAYOUT,
    checksum: str | None = None,
) -> bytes:
    """Serialise a cold table (from :func:`build_cold_table`) as the day's Parquet file.

    ``sources`` names where the rows came from (e.g. ``["hot"]`` or raw pull keys) and is
    recorded in the metadata. ``checksum`` may pass the table's :func:`key_checksum` when
    the caller already has it (archival does, to verify against); it is not trusted, as
    :func:`verify_cold_bytes` recomputes it from the rows read back. Refuses tables that
    are not in canonical key order.
    """
    validate_site_name(site)
    _check_cold_table(table, site)
    runs = key_runs(table)
    if not runs.canonical:
        raise ValueError(
            f"cold table for site {site!r} day {day} is not in (point_name, ts) order "
            f"without duplicates: {runs.duplicate_keys} duplicate keys, "
            f"{runs.unsorted_pairs} rows out of order"
        )
    metadata = {
        f"{META_PREFIX}schema_version": str(COLD_SCHEMA_VERSION),
        f"{META_PREFIX}site": site,
        f"{META_PREFIX}date": day.isoformat(),
        f"{META_PREFIX}rows": str(table.num_rows),
        f"{META_PREFIX}points": str(len(runs.names)),
        f"{META_PREFIX}sources": json.dumps(list(sources)),
        f"{META_PREFIX}key_checksum": checksum or key_checksum(table, runs=runs),
    }
    schema = COLD_SCHEMA.with_metadata(metadata)
    encodings = {
        column: encoding
        for column, encoding in (("ts", layout.ts_encoding), ("value", layout.value_encoding))
        if encoding
    }
    dictionary_columns = ["site_name", "point_name"] + [
        column for column in ("ts", "value") if column not in encodings
    ]
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(
        sink,
        schema,
        compression=layout.compression,
        compression_level=layout.compression_level,
        use_dictionary=dictionary_columns,  # type: ignore[arg-type]  # stubs: bool only; pyarrow takes column names too
        column_encoding=encodings or None,
        write_statistics=["point_name"],
        write_page_index=layout.write_page_index,
        data_page_size=layout.data_page_size,
        sorting_columns=[pq.SortingColumn(1), pq.SortingColumn(2)],
    ) as writer:
        for offset, length in row_group_bounds(runs.counts, layout.row_group_rows):
            writer.write_table(table.slice(offset, length), row_group_size=length)
    return sink.getvalue().to_pybytes()
