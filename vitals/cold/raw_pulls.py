"""Raw ACE pulls kept in the cold store's ``raw/`` area, to rebuild a day without ACE.

Each pull of a site window ``[start, end)`` is one Parquet file at
``raw/{site}/{YYYY}/{MM}/{DD}/{start_ms}_{end_ms}.parquet`` holding the samples exactly
as ACE sent them (strings; nothing dropped). A window never crosses a UTC day, so a
day's raw data is the union of the files in its folder.

Beside each pull, ``{start_ms}_{end_ms}.samples.parquet`` caches its parsed sample
table (with the drop counts in its metadata). It is written while the pull still waits
on the rate limit, so building a day later does not parse millions of strings again;
it is only a cache: a missing or stale one (other parser version) is rebuilt from the raw file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from vitals.ace.parse import RAW_SCHEMA, raw_to_samples
from vitals.cold.key_order import sort_keys
from vitals.cold.keys import parsed_key, raw_day_prefix, raw_pull_key
from vitals.cold.store import ColdStore
from vitals.samples import (
    DICTIONARY_SAMPLE_SCHEMA,
    SAMPLE_SCHEMA,
    ParsedSamples,
    day_bounds_ms,
    day_of_ms,
)


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
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=["name"],  # type: ignore[arg-type]  # stubs: bool only; pyarrow takes column names too
    )
    return sink.getvalue()


PARSER_VERSION = b"2"
_META_PARSER = b"vitals.parser_version"
_META_DROPS = (b"vitals.dropped_bad_value", b"vitals.dropped_bad_time", b"vitals.dropped_bad_name")


def _parsed_bytes(parsed: ParsedSamples) -> bytes:
    meta = {_META_PARSER: PARSER_VERSION}
    counts = (parsed.dropped_bad_value, parsed.dropped_bad_time, parsed.dropped_bad_name)
    meta.update({key: str(count).encode() for key, count in zip(_META_DROPS, counts, strict=True)})
    sink = io.BytesIO()
    # Stored in key order (stable: equal keys keep arrival order, so the last still
    # wins): merging a day's sorted pulls is ~3x cheaper than sorting them together.
    pq.write_table(
        sort_keys(parsed.table).replace_schema_metadata(meta),
        sink,
        compression="zstd",
        compression_level=1,
        use_dictionary=["point_name"],  # type: ignore[arg-type]  # stubs: bool only; pyarrow takes column names too
    )
    return sink.getvalue()


def _read_parsed(data: bytes, *, dictionary_names: bool = False) -> ParsedSamples | None:
    try:
        table = pq.read_table(
            io.BytesIO(data), read_dictionary=["point_name"] if dictionary_names else None
        )
    except (pa.ArrowInvalid, OSError):
        return None
    meta = table.schema.metadata or {}
    if meta.get(_META_PARSER) != PARSER_VERSION or table.schema.names != SAMPLE_SCHEMA.names:
        return None
    counts = [int(meta.get(key, b"0")) for key in _META_DROPS]
    schema = DICTIONARY_SAMPLE_SCHEMA if dictionary_names else SAMPLE_SCHEMA
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return ParsedSamples(table.replace_schema_metadata(None), *counts)


def store_raw_pull(
    cold_store: ColdStore,
    site: str,
    start_ms: int,
    end_ms: int,
    table: pa.Table,
    *,
    parsed: ParsedSamples | None = None,
) -> str:
    """Write one pull (within a single UTC day) and its parsed cache; return its key.

    ``parsed``: the pull's samples when the caller already has them (``RawPull.to_samples``,
    built from the times parsed while filtering the window), so they are not parsed again.

    The cache is written first: a pull file never exists without everything needed
    to use it, and a cache without its pull is ignored.
    """
    if end_ms <= start_ms:
        raise RawPullError(f"raw pull window for site {site!r} is empty: [{start_ms}, {end_ms})")
    day = day_of_ms(start_ms)
    _, day_end = day_bounds_ms(day)
    if end_ms > day_end:
        raise RawPullError(
            f"raw pull window [{start_ms}, {end_ms}) for site {site!r} crosses the end of {day}"
        )
    key = raw_pull_key(site, day, start_ms, end_ms)
    samples = parsed if parsed is not None else raw_to_samples(table)
    cold_store.put_bytes(parsed_key(key), _parsed_bytes(samples))
    cold_store.put_bytes(key, raw_pull_bytes(table))
    return key


def list_raw_pulls(cold_store: ColdStore, site: str, day: date) -> list[RawPullFile]:
    """Every stored pull of a site-day, oldest window first."""
    pulls: list[RawPullFile] = []
    for key in cold_store.list_keys(raw_day_prefix(site, day)):
        stem = key.rsplit("/", 1)[-1].removesuffix(".parquet")
        try:
            if stem.endswith(".samples"):
                continue  # the parsed cache of a pull
            start_text, end_text = stem.split("_", 1)
            pulls.append(RawPullFile(key, int(start_text), int(end_text)))
        except ValueError:
            continue  # not a pull file; the cold checks report stray keys
    return sorted(pulls, key=lambda pull: (pull.start_ms, pull.end_ms, pull.key))


def read_raw_pulls(cold_store: ColdStore, pulls: Sequence[RawPullFile]) -> pa.Table:
    """Concatenate stored pulls (in the given order) into one raw table."""
    tables = []
    for pull in pulls:
        try:
            tables.append(pq.read_table(io.BytesIO(cold_store.get_bytes(pull.key))))
        except (pa.ArrowInvalid, OSError) as exc:
            raise RawPullError(f"raw pull {pull.key} is unreadable: {exc}") from exc
    if not tables:
        return RAW_SCHEMA.empty_table()
    return pa.concat_tables(tables, promote_options="permissive")


@dataclass(frozen=True)
class ParsedPulls:
    """Each pull's samples (one table per pull, in pull order) and the summed drops."""

    pieces: list[pa.Table]
    drops: tuple[int, int, int]  # bad value, bad time, bad name (as in ParsedSamples)

    @property
    def dropped(self) -> int:
        """Samples dropped for any reason, over all the pulls."""
        return sum(self.drops)


def read_parsed_pieces(
    cold_store: ColdStore, pulls: Sequence[RawPullFile], *, dictionary_names: bool = False
) -> ParsedPulls:
    """The samples of each given pull, with the summed drop counts.

    Uses each pull's parsed cache when it is current (sorted by key; names
    dictionary-encoded when ``dictionary_names``, ~5x cheaper to read), else parses the
    raw file (string names, arrival order).
    """
    pieces: list[pa.Table] = []
    counts = [0, 0, 0]
    for pull in pulls:
        parsed = None
        cache = parsed_key(pull.key)
        if cold_store.exists(cache):
            parsed = _read_parsed(cold_store.get_bytes(cache), dictionary_names=dictionary_names)
        if parsed is None:
            parsed = raw_to_samples(read_raw_pulls(cold_store, [pull]))
        pieces.append(parsed.table)
        counts[0] += parsed.dropped_bad_value
        counts[1] += parsed.dropped_bad_time
        counts[2] += parsed.dropped_bad_name
    return ParsedPulls(pieces, (counts[0], counts[1], counts[2]))


def read_parsed_pulls(cold_store: ColdStore, pulls: Sequence[RawPullFile]) -> ParsedSamples:
    """The samples of the given pulls as one table (string names), in pull order.

    Drop counts are summed over the pulls.
    """
    parsed = read_parsed_pieces(cold_store, pulls)
    table = pa.concat_tables(parsed.pieces) if parsed.pieces else SAMPLE_SCHEMA.empty_table()
    return ParsedSamples(table, *parsed.drops)


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
