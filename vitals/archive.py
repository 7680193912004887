"""Archive one site-day: build its cold file, verify it, then maybe delete its hot rows.

The one step that crosses the tiers, so it lives above both (``docs/design.md``
invariant 1: hot rows go only after the file holding them is verified).

Steps, in order, each safe to interrupt (a re-run converges to the same file):
1. read sources: raw pulls (filtered to the point catalogue), the existing cold file,
   hot rows (last, so hot wins);
2. build the day table; if an existing file already holds exactly this content
   (same key checksum) it is kept byte-for-byte, otherwise the new file is written
   atomically;
3. read the stored file back and verify schema, row count and key checksum;
4. record the verification in the hot store;
5. if asked (day past the hot window), delete the day's hot rows, but only if they
   are still exactly the rows that went into the verified file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.cold.catalogue import PointLister, configured_point_names
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.key_order import key_checksum, merge_disjoint_sorted
from vitals.cold.keys import cold_day_key
from vitals.cold.raw_pulls import list_raw_pulls, read_parsed_pieces
from vitals.cold.read import ColdVerificationError, read_cold_bytes
from vitals.cold.store import ColdStore
from vitals.cold.verify import verify_cold_bytes
from vitals.hot.base import UpsertResult
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms, plain_names

StepHook = Callable[[str], None]


class ArchiveHotStore(PointLister, Protocol):
    """What archival needs from the hot store (``resources.hot_store`` provides it)."""

    def read_samples(self, site: str, start_ms: int, end_ms: int) -> pa.Table:
        """The site's samples in [start_ms, end_ms), sorted by (point_name, ts)."""
        ...

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Write samples idempotently (restoring a cold day)."""
        ...

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Delete the site's samples in [start_ms, end_ms); returns rows deleted."""
        ...

    def record_archive(self, site: str, day: date, *, rows: int, checksum: str, key: str) -> None:
        """Record that a site-day's cold file was written and verified."""
        ...


class ArchiveError(RuntimeError):
    """Archival of a site-day could not complete safely; nothing was deleted."""


@dataclass(frozen=True)
class DaySources:
    """Every source holding a site-day, as sample tables."""

    raw: pa.Table
    cold: pa.Table
    hot: pa.Table
    raw_pulls: int
    raw_dropped: int
    raw_unknown_points: int
    cold_unreadable: bool
    catalogue_points: int

    @property
    def raw_samples(self) -> int:
        """Parsed raw samples of the day, configured points or not."""
        return self.raw.num_rows + self.raw_unknown_points


def catalogue_shortfall(sources: DaySources, site: str, day: date) -> str | None:
    """Why the catalogue filter would lose the day's raw samples, or ``None``.

    Archival keeps raw samples of configured points only. With no catalogue at all
    (never fetched on this instance), or one that matches none of the day's samples,
    that filter would turn a full day into an empty "verified" file; both are refused
    with what to run (``docs/design.md`` invariant 1).
    """
    if not sources.raw_samples or sources.raw.num_rows:
        return None
    if not sources.catalogue_points:
        return (
            f"site-day {site} {day}: its raw pulls hold {sources.raw_samples} samples but "
            f"site {site!r} has no point catalogue, so none would be kept; materialize "
            f"ace_points for {site!r} (ace_raw_samples also fetches a missing catalogue), "
            "then materialize cold_timeseries for the day again"
        )
    return (
        f"site-day {site} {day}: none of its {sources.raw_samples} raw samples belong to "
        f"the {sources.catalogue_points} points of site {site!r}'s catalogue; the catalogue "
        f"may be stale: materialize ace_points for {site!r}, then cold_timeseries again"
    )


@dataclass(frozen=True)
class ArchiveOutcome:
    """What archiving one site-day did, for run metadata and tests."""

    site: str
    day: date
    key: str
    rows: int
    checksum: str
    bytes: int
    rewritten: bool
    verified: bool
    hot_rows: int
    raw_rows: int
    cold_rows_before: int
    hot_rows_deleted: int
    raw_dropped: int
    seconds: float


def _filter_to_catalogue(samples: pa.Table, names: pa.StringArray) -> tuple[pa.Table, int]:
    """Rows whose point is in the catalogue, and how many were not.

    Dictionary-encoded names are matched on their few distinct values (a day's 6.5 M
    rows name ~4,600 points), and a chunk whose points are all known is kept as is.
    """
    if samples.num_rows == 0:
        return samples, 0
    column = samples.column("point_name")
    masks: list[pa.BooleanArray | None] = []
    for chunk in column.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            known = pc.is_in(chunk.dictionary, value_set=names)
            if pc.all(known).as_py():
                masks.append(None)
            else:
                per_row: pa.BooleanArray = pc.take(known, chunk.indices)
                # an array in, an array out (the stubs return a union of every shape)
                masks.append(cast("pa.BooleanArray", pc.fill_null(per_row, pa.scalar(False))))
        else:
            masks.append(pc.is_in(chunk, value_set=names))
    if all(mask is None for mask in masks):
        return samples, 0
    full = [
        mask if mask is not None else pc.is_valid(names_chunk)  # names are never null: all kept
        for mask, names_chunk in zip(masks, column.chunks, strict=True)
    ]
    kept = samples.filter(pa.chunked_array(full, pa.bool_()))
    return kept, samples.num_rows - kept.num_rows


def _merge_raw_pulls(pieces: list[pa.Table], catalogue: set[str]) -> tuple[pa.Table, int]:
    """A day's raw pulls as one table of catalogue points, and the rows of other points.

    Sorted pulls of disjoint windows (the usual case) merge in key order without a sort,
    leaving unknown points out as whole runs; anything else is filtered and concatenated
    for :func:`build_cold_table` to sort.
    """
    total = sum(piece.num_rows for piece in pieces)
    merged = merge_disjoint_sorted(pieces, keep_names=catalogue)
    if merged is not None:
        return merged, total - merged.num_rows
    names = pa.array(sorted(catalogue), pa.string())
    kept, unknown = [], 0
    for piece in pieces:
        rows, dropped = _filter_to_catalogue(piece, names)
        kept.append(plain_names(rows))
        unknown += dropped
    return (pa.concat_tables(kept) if kept else SAMPLE_SCHEMA.empty_table()), unknown


def read_day_sources(
    hot_store: ArchiveHotStore,
    cold_store: ColdStore,
    site: str,
    day: date,
    *,
    include_existing: bool = True,
) -> DaySources:
    """Gather a site-day from raw pulls, the existing cold file and the hot store.

    ``include_existing=False`` ignores the current cold file (a rebuild from raw + hot).
    """
    start_ms, end_ms = day_bounds_ms(day)
    catalogue = configured_point_names(hot_store, cold_store, site)
    pulls = list_raw_pulls(cold_store, site, day)
    parsed = read_parsed_pieces(cold_store, pulls, dictionary_names=True)
    raw, unknown = _merge_raw_pulls(parsed.pieces, catalogue)
    key = cold_day_key(site, day)
    cold = SAMPLE_SCHEMA.empty_table()
    cold_unreadable = False
    if include_existing and cold_store.exists(key):
        try:
            cold = read_cold_bytes(cold_store.get_bytes(key))
        except ColdVerificationError:
            cold_unreadable = True
    hot = hot_store.read_samples(site, start_ms, end_ms)
    return DaySources(
        raw, cold, hot, len(pulls), parsed.dropped, unknown, cold_unreadable, len(catalogue)
    )


def archive_site_day(
    hot_store: ArchiveHotStore,
    cold_store: ColdStore,
    site: str,
    day: date,
    *,
    delete_hot: bool,
    include_existing: bool = True,
    on_step: StepHook | None = None,
) -> ArchiveOutcome:
    """Build, write, verify and record a site-day's cold file; then maybe delete hot rows."""
    began = time.monotonic()
    step = on_step or (lambda _name: None)
    key = cold_day_key(site, day)
    if delete_hot and not include_existing:
        raise ArchiveError("a rebuild that ignores the existing file must not delete hot rows")
    sources = read_day_sources(hot_store, cold_store, site, day, include_existing=include_existing)
    shortfall = catalogue_shortfall(sources, site, day)
    if shortfall:
        raise ArchiveError(f"{shortfall}; nothing written")
    table = build_cold_table(site, day, [sources.raw, sources.cold, sources.hot])
    checksum = key_checksum(table)
    step("built")

    existing_checksum = key_checksum(sources.cold) if sources.cold.num_rows else None
    rewritten = (
        sources.cold_unreadable or existing_checksum != checksum or not cold_store.exists(key)
    )
    if rewritten:
        names = ["raw"] * bool(sources.raw.num_rows) + ["hot"] * bool(sources.hot.num_rows)
        if sources.cold.num_rows:
            names.insert(1 if sources.raw.num_rows else 0, "cold")
        data = cold_file_bytes(table, site=site, day=day, sources=names, checksum=checksum)
        cold_store.put_bytes(key, data)
    step("written")

    stored = cold_store.get_bytes(key)
    try:
        verify_cold_bytes(
            stored, site=site, day=day, expected_rows=table.num_rows, expected_checksum=checksum
        )
    except ColdVerificationError as exc:
        raise ArchiveError(
            f"cold file {key} failed verification after writing; hot rows kept: {exc}"
        ) from exc
    step("verified")

    hot_store.record_archive(site, day, rows=table.num_rows, checksum=checksum, key=key)
    step("recorded")

    deleted = 0
    if delete_hot and sources.hot.num_rows:
        start_ms, end_ms = day_bounds_ms(day)
        current = hot_store.read_samples(site, start_ms, end_ms)
        if key_checksum(current) != key_checksum(sources.hot):
            raise ArchiveError(
                f"hot rows of {site} {day} changed while archiving ({sources.hot.num_rows} -> "
                f"{current.num_rows} rows); nothing deleted, re-run to merge them"
            )
        step("deleting")
        deleted = hot_store.delete_samples(site, start_ms, end_ms)
        step("deleted")

    return ArchiveOutcome(
        site=site,
        day=day,
        key=key,
        rows=table.num_rows,
        checksum=checksum,
        bytes=len(stored),
        rewritten=rewritten,
        verified=True,
        hot_rows=sources.hot.num_rows,
        raw_rows=sources.raw.num_rows,
        cold_rows_before=sources.cold.num_rows,
        hot_rows_deleted=deleted,
        raw_dropped=sources.raw_dropped,
        seconds=time.monotonic() - began,
    )


def restore_site_day(
    hot_store: ArchiveHotStore, cold_store: ColdStore, site: str, day: date
) -> int:
    """Copy a cold day back into the hot store (idempotent upsert); returns rows restored."""
    key = cold_day_key(site, day)
    samples = read_cold_bytes(cold_store.get_bytes(key))
    return hot_store.upsert_samples(site, samples).rows
