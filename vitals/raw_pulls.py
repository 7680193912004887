"""Raw ACE pulls kept in the cold store's ``raw/`` area, so a day can be rebuilt
without calling ACE again.

Each pull of a site window ``[start, end)`` is one Parquet file at
``raw/{site}/{YYYY}/{MM}/{DD}/{start_ms}_{end_ms}.parquet`` holding the samples exactly
as ACE sent them (strings; nothing dropped). A window never crosses a UTC day, so a
day's raw data is the union of the files in its folder.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from vitals.paths import raw_day_prefix, raw_pull_key
from vitals.samples import day_bounds_ms, day_of_ms


class RawPullError(ValueError):
    """A raw pull that cannot be stored or read back."""


@dataclass(frozen=True)
class RawPullFile:
    """One stored raw pull: its key and the window it covers."""

    key: str
    start_ms: int
    end_ms: int


def raw_pull_bytes(table: pa.Table) -> bytes:
    """Serialise a raw pull (zstd Parquet; names dictionary-encoded)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", compression_level=3, use_dictionary=["name"])
    return sink.getvalue()


def store_raw_pull(cold_store, site: str, start_ms: int, end_ms: int, table: pa.Table) -> str:
    """Write one pull (within a single UTC day) and return its key."""
    if end_ms <= start_ms:
        raise RawPullError(f"raw pull window for site {site!r} is empty: [{start_ms}, {end_ms})")
    day = day_of_ms(start_ms)
    _, day_end = day_bounds_ms(day)
    if end_ms > day_end:
        raise RawPullError(
            f"raw pull window [{start_ms}, {end_ms}) for site {site!r} crosses the end of {day}"
        )
    key = raw_pull_key(site, day, start_ms, end_ms)
    cold_store.put_bytes(key, raw_pull_bytes(table))
    return key


def list_raw_pulls(cold_store, site: str, day: date) -> list[RawPullFile]:
    """Every stored pull of a site-day, oldest window first."""
    pulls: list[RawPullFile] = []
    for key in cold_store.list_keys(raw_day_prefix(site, day)):
        stem = key.rsplit("/", 1)[-1].removesuffix(".parquet")
        try:
            start_text, end_text = stem.split("_", 1)
            pulls.append(RawPullFile(key, int(start_text), int(end_text)))
        except ValueError:
            continue  # not a pull file; the cold checks report stray keys
    return sorted(pulls, key=lambda pull: (pull.start_ms, pull.end_ms, pull.key))


def read_raw_pulls(cold_store, pulls: Sequence[RawPullFile]) -> pa.Table:
    """Concatenate stored pulls (in the given order) into one raw table."""
    tables = []
    for pull in pulls:
        try:
            tables.append(pq.read_table(io.BytesIO(cold_store.get_bytes(pull.key))))
        except (pa.ArrowInvalid, OSError) as exc:
            raise RawPullError(f"raw pull {pull.key} is unreadable: {exc}") from exc
    if not tables:
        from vitals.raw import RAW_SCHEMA

        return RAW_SCHEMA.empty_table()
    return pa.concat_tables(tables, promote_options="permissive")


def covered_ms(pulls: Sequence[RawPullFile]) -> int:
    """Milliseconds of the day covered by the union of pull windows."""
    total = 0
    reach = None
    for pull in sorted(pulls, key=lambda p: p.start_ms):
        start = pull.start_ms if reach is None else max(pull.start_ms, reach)
        if pull.end_ms > start:
            total += pull.end_ms - start
        reach = pull.end_ms if reach is None else max(reach, pull.end_ms)
    return total
