"""Proving a cold day file holds exactly the expected samples (before hot rows are deleted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.cold.key_order import key_checksum, key_runs
from vitals.cold.read import (
    COLD_SCHEMA,
    COLD_SCHEMA_VERSION,
    META_PREFIX,
    ColdVerificationError,
    cold_metadata,
    open_cold_parquet,
    read_valid,
)
from vitals.samples import day_bounds_ms


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
    parquet = open_cold_parquet(data)
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
    table = read_valid(data, read_dictionary=["site_name", "point_name"])
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
        sites.update(cast("list[str]", distinct.to_pylist()))  # the schema forbids nulls
    if sites != {site}:
        raise ColdVerificationError(
            f"{label} holds rows of sites {sorted(sites)[:5]}, expected only {site!r}"
        )
    start_ms, end_ms = day_bounds_ms(day)
    bounds = pc.min_max(pc.cast(table.column("ts"), pa.int64()))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low < start_ms or high >= end_ms:
        raise ColdVerificationError(
            f"{label} holds timestamps outside the day: {low}..{high} ms, "
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
        """Whether the file has the cold schema and (point_name, ts) order, no duplicates."""
        return self.schema_ok and self.duplicate_keys == 0 and self.unsorted_rows == 0


def inspect_cold_bytes(data: bytes) -> ColdFileInfo:
    """Schema, key order and size figures of a cold file (raises only if it is not Parquet)."""
    parquet = open_cold_parquet(data)
    file_schema = parquet.schema_arrow.remove_metadata()
    schema_ok = file_schema.names == COLD_SCHEMA.names and file_schema.types == COLD_SCHEMA.types
    duplicates = unsorted = points = 0
    if schema_ok:
        keys = read_valid(data, ["point_name", "ts"], read_dictionary=["point_name"])
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
