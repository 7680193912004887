"""Cold Parquet day files: build, write, read back and verify (DESIGN.md "Cold file contract").

One file per site per UTC day holds every sample of the site's points, sorted by
(point_name, ts) with one row per key. The layout (measured in bench/archive_day.py,
figures in docs/cold_layout.md) is chosen so the file is small and a reader that wants
a few points touches a small fraction of it: row groups cut at point boundaries by a
row-count target, full-length min/max statistics on ``point_name`` only, a page index,
dictionary-encoded names, delta-encoded timestamps, zstd. Key-value metadata carries the
site, the day, the row count and the key checksum, so any Parquet reader can check a
file without Vitals code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.key_order import key_checksum, key_runs, merge_last_wins
from vitals.names import validate_site_name
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

COLD_SCHEMA_VERSION = 1
COLD_SCHEMA = pa.schema(
    [
        pa.field("site_name", pa.string(), nullable=False),
        pa.field("point_name", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
META_PREFIX = "vitals."
_SITE_CHUNK_ROWS = 65_536

__all__ = [
    "COLD_SCHEMA",
    "COLD_SCHEMA_VERSION",
    "ColdFileInfo",
    "ColdLayout",
    "ColdVerificationError",
    "DEFAULT_LAYOUT",
    "build_cold_table",
    "cold_file_bytes",
    "inspect_cold_bytes",
    "key_checksum",
    "read_cold_bytes",
    "row_group_bounds",
    "verify_cold_bytes",
]


class ColdVerificationError(ValueError):
    """A cold file that does not hold exactly what it should (or is not Parquet at all)."""


@dataclass(frozen=True)
class ColdLayout:
    """Parquet writer choices for cold files; the defaults are the measured best.

    ``row_group_rows`` is a target: a row group closes at the first point boundary at or
    past it, so no point is split and sparse days get few row groups (small footers).
    """

    compression: str = "zstd"
    compression_level: int | None = 6
    row_group_rows: int = 24_576
    data_page_size: int = 1 << 20
    ts_encoding: str | None = "DELTA_BINARY_PACKED"
    value_encoding: str | None = "PLAIN"
    write_page_index: bool = True


DEFAULT_LAYOUT = ColdLayout()


def _site_column(site: str, rows: int) -> pa.ChunkedArray:
    """A constant site column that reuses one small chunk instead of ``rows`` strings."""
    block = pa.array([site] * min(rows, _SITE_CHUNK_ROWS), pa.string())
    full, rest = divmod(rows, _SITE_CHUNK_ROWS) if rows else (0, 0)
    chunks = [block] * full + ([block.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, pa.string())


def _check_sample_table(table: pa.Table, label: str) -> None:
    if table.schema.names != SAMPLE_SCHEMA.names or table.schema.types != SAMPLE_SCHEMA.types:
        raise ValueError(f"{label} must have the sample schema {SAMPLE_SCHEMA}, got {table.schema}")
    for name in SAMPLE_SCHEMA.names:
        if table.column(name).null_count:
            raise ValueError(f"{label} has nulls in column {name!r}")
    if table.num_rows and not pc.all(pc.is_finite(table.column("value"))).as_py():
        raise ValueError(f"{label} has NaN or infinite values, which are never stored")


def build_cold_table(site: str, day: date, sources: Sequence[pa.Table]) -> pa.Table:
    """Merge sample tables into one day's cold table (COLD_SCHEMA, canonical key order).

    ``sources`` come in priority order and the LAST wins on a duplicate (point, ts), so
    callers pass hot-store rows last (invariant 4). Rows outside the UTC day
    [start, end) are left out. A single source already sorted and inside the day is
    used without copying.
    """
    validate_site_name(site)
    start_ms, end_ms = day_bounds_ms(day)
    in_day: list[pa.Table] = []
    for index, source in enumerate(sources):
        _check_sample_table(source, f"source {index} for site {site!r} day {day}")
        if source.num_rows == 0:
            continue
        # one exact schema (nullability, no metadata) so sources concatenate; zero-copy
        source = pa.Table.from_arrays(source.columns, schema=SAMPLE_SCHEMA)
        bounds = pc.min_max(source.column("ts")).as_py()
        if bounds["min"] < start_ms or bounds["max"] >= end_ms:
            ts = source.column("ts")
            source = source.filter(pc.and_(pc.greater_equal(ts, start_ms), pc.less(ts, end_ms)))
        in_day.append(source)
    merged = merge_last_wins(in_day) if in_day else SAMPLE_SCHEMA.empty_table()
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
    if table.num_rows and not pc.all(pc.equal(table.column("site_name"), site)).as_py():
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
        use_dictionary=dictionary_columns,
        column_encoding=encodings or None,
        write_statistics=["point_name"],
        write_page_index=layout.write_page_index,
        data_page_size=layout.data_page_size,
        sorting_columns=[pq.SortingColumn(1), pq.SortingColumn(2)],
    ) as writer:
        for offset, length in row_group_bounds(runs.counts, layout.row_group_rows):
            writer.write_table(table.slice(offset, length), row_group_size=length)
    return sink.getvalue().to_pybytes()


def _undecodable(data: bytes, exc: Exception) -> ColdVerificationError:
    return ColdVerificationError(f"cold file of {len(data)} bytes cannot be decoded: {exc}")


def _open(data: bytes, read_dictionary: Sequence[str] | None = None) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(pa.BufferReader(data), read_dictionary=read_dictionary)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ColdVerificationError(
            f"cold file of {len(data)} bytes is not a readable Parquet file: {exc}"
        ) from exc


def _read_valid(
    data: bytes, columns: Sequence[str] | None = None, read_dictionary: Sequence[str] | None = None
) -> pa.Table:
    """Decode the file and fully validate the arrays (Parquet readers do not check UTF-8).

    Any decoding problem of damaged bytes becomes a :class:`ColdVerificationError`.
    """
    try:
        table = _open(data, read_dictionary).read(columns=list(columns) if columns else None)
        for column in table.columns:
            for chunk in column.chunks:
                chunk.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _undecodable(data, exc) from exc
    return table


def read_cold_table(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """Read cold file bytes as a table with the file's columns (all of COLD_SCHEMA by default)."""
    return _read_valid(data, columns)


def read_cold_bytes(data: bytes) -> pa.Table:
    """Read a cold file's samples as a sample table (SAMPLE_SCHEMA)."""
    table = read_cold_table(data, ["point_name", "ts", "value"])
    return _to_samples(table)


def _to_samples(table: pa.Table) -> pa.Table:
    return pa.Table.from_arrays(
        [
            table.column("point_name"),
            pc.cast(table.column("ts"), pa.int64()),
            table.column("value"),
        ],
        schema=SAMPLE_SCHEMA,
    )


def cold_metadata(parquet: pq.ParquetFile) -> dict[str, str]:
    """The file's ``vitals.*`` key-value metadata, without the prefix."""
    raw = parquet.schema_arrow.metadata or {}
    texts = {
        key.decode(errors="replace"): value.decode(errors="replace") for key, value in raw.items()
    }
    return {
        key[len(META_PREFIX) :]: value for key, value in texts.items() if key.startswith(META_PREFIX)
    }


def verify_cold_bytes(
    data: bytes, *, site: str, day: date, expected_rows: int, expected_checksum: str
) -> None:
    """Read a cold file back and prove it holds exactly the expected day of samples.

    Checks the exact schema, the metadata (schema version, site, date, rows, checksum),
    the row count, that every row belongs to the site and the day, canonical key order
    with no duplicates, and the key checksum recomputed from the decoded rows. Raises
    :class:`ColdVerificationError` naming what differs; hot rows may be deleted only after
    this passes (invariant 1).
    """
    label = f"cold file for site {site!r} day {day}"
    parquet = _open(data)
    file_schema = parquet.schema_arrow.remove_metadata()
    if file_schema.names != COLD_SCHEMA.names or file_schema.types != COLD_SCHEMA.types:
        raise ColdVerificationError(f"{label} has schema {file_schema}, expected {COLD_SCHEMA}")
    meta = cold_metadata(parquet)
    expected_meta = {
        "schema_version": str(COLD_SCHEMA_VERSION),
        "site": site,
        "date": day.isoformat(),
        "rows": str(expected_rows),
        "key_checksum": expected_checksum,
    }
    for key, expected in expected_meta.items():
        if meta.get(key) != expected:
            raise ColdVerificationError(
                f"{label}: metadata {META_PREFIX}{key} is {meta.get(key)!r}, expected {expected!r}"
            )
    if parquet.metadata.num_rows != expected_rows:
        raise ColdVerificationError(
            f"{label} has {parquet.metadata.num_rows} rows, expected {expected_rows}"
        )
    table = _read_valid(data, read_dictionary=["site_name", "point_name"])
    if table.num_rows != expected_rows:
        raise ColdVerificationError(
            f"{label} decoded {table.num_rows} rows, expected {expected_rows}"
        )
    _verify_rows(table, label, site, day)
    runs = key_runs(table)  # on dictionary indices: no 6.6 M strings materialised
    if not runs.canonical:
        raise ColdVerificationError(
            f"{label} is not in (point_name, ts) order without duplicates: "
            f"{runs.duplicate_keys} duplicate keys, {runs.unsorted_pairs} rows out of order"
        )
    actual = key_checksum(table, runs=runs)
    if actual != expected_checksum:
        raise ColdVerificationError(
            f"{label}: key checksum of the rows read back is {actual}, expected {expected_checksum}"
        )


def _verify_rows(table: pa.Table, label: str, site: str, day: date) -> None:
    if table.num_rows == 0:
        return
    sites: set[str] = set()
    for chunk in table.column("site_name").chunks:
        distinct = chunk.dictionary if isinstance(chunk, pa.DictionaryArray) else pc.unique(chunk)
        sites.update(distinct.to_pylist())
    if sites != {site}:
        raise ColdVerificationError(
            f"{label} holds rows of sites {sorted(sites)[:5]}, expected only {site!r}"
        )
    start_ms, end_ms = day_bounds_ms(day)
    bounds = pc.min_max(pc.cast(table.column("ts"), pa.int64())).as_py()
    if bounds["min"] < start_ms or bounds["max"] >= end_ms:
        raise ColdVerificationError(
            f"{label} holds timestamps outside the day: {bounds['min']}..{bounds['max']} ms, "
            f"day is [{start_ms}, {end_ms})"
        )
    if not pc.all(pc.is_finite(table.column("value"))).as_py():
        raise ColdVerificationError(f"{label} holds NaN or infinite values")


@dataclass(frozen=True)
class ColdFileInfo:
    """What an asset check wants to know about a cold file, without raising."""

    bytes: int
    rows: int
    row_groups: int
    points: int
    schema_ok: bool
    duplicate_keys: int
    unsorted_rows: int
    metadata: dict[str, str]

    @property
    def canonical(self) -> bool:
        return self.schema_ok and self.duplicate_keys == 0 and self.unsorted_rows == 0


def inspect_cold_bytes(data: bytes) -> ColdFileInfo:
    """Schema, key order and size figures of a cold file (raises only if it is not Parquet)."""
    parquet = _open(data)
    file_schema = parquet.schema_arrow.remove_metadata()
    schema_ok = file_schema.names == COLD_SCHEMA.names and file_schema.types == COLD_SCHEMA.types
    duplicates = unsorted = points = 0
    if schema_ok:
        keys = _read_valid(data, ["point_name", "ts"], read_dictionary=["point_name"])
        runs = key_runs(keys)
        duplicates, unsorted = runs.duplicate_keys, runs.unsorted_pairs
        points = len(set(runs.names))
    return ColdFileInfo(
        bytes=len(data),
        rows=parquet.metadata.num_rows,
        row_groups=parquet.metadata.num_row_groups,
        points=points,
        schema_ok=schema_ok,
        duplicate_keys=duplicates,
        unsorted_rows=unsorted,
        metadata=cold_metadata(parquet),
    )
