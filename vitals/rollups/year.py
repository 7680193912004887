"""Year rollup files: a site-year's 1 h rollups in one Parquet file, built from its month files.

Why: a year-long chart at 1 h read 12 month files, and each read cost ~1.1 ms of CPU for
3 points however few rows it kept (opening the groups, decoding ~12 points per 1 h group,
cutting slices): 13.6 ms of a ~32 ms answer. One file whose 1 h groups hold about two
point-years each answers the same rows in 2.3 ms (docs/benchmarks.md, issue 11, year
files). Only 1 h: 15 min charts span a month or two (month files serve them in one or two
reads) and 1 d rows are few.

Key: ``rollup_years/{site}/{YYYY}.parquet`` (:func:`vitals.cold.keys.rollup_year_key`).
Columns and sort are those of the rollups (``ROLLUP_SCHEMA``, sorted by point, then
bucket). Key-value metadata ``vitals.rollup.year_days`` maps each included day to the
cold file identity its rows were built from, exactly as a month file's ``month_days``
does: a day missing from it, or whose cold file has changed since, is answered from its
month file, day rollup or raw data instead. A stale year file is slow, never wrong.

A day goes into the year file only if its month file holds it for the current cold file
version; ``rollup_months`` rebuilds the year file after each month compaction.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from vitals.cold.keys import (
    ROLLUP_YEAR_PREFIX,
    cold_day_key,
    cold_month_prefix,
    rollup_month_key,
    rollup_year_key,
)
from vitals.cold.point_reads import (
    FileIndex,
    FileRead,
    file_index,
    parse_file_index,
    read_points,
)
from vitals.cold.store import ColdStore
from vitals.names import validate_site_name
from vitals.rollups.day import (
    META_SITE,
    META_VERSION,
    ROLLUP_SCHEMA,
    ROLLUP_SCHEMA_VERSION,
    rollup_writer,
    write_rollup_groups,
)
from vitals.rollups.month import (
    Compaction,
    index_month_days,
    index_month_intervals,
    month_day_identities,
    parse_day_identities,
)
from vitals.samples import day_bounds_ms

YEAR_INTERVAL_MS = 3_600_000
# ~2 point-years (8,760 rows each) a group: a point's read decodes about twice its rows,
# against ~12x from a month file's 1 h groups; ~2,300 groups for 4,600 points (a ~2 MB
# footer, parsed once a process).
YEAR_ROWS_PER_GROUP = {YEAR_INTERVAL_MS: 16_384}
# rows of one batch of points (all their months) held while writing
YEAR_BATCH_ROWS = 400_000
META_YEAR = b"vitals.rollup.year"
META_YEAR_DAYS = b"vitals.rollup.year_days"
META_YEAR_INTERVALS = b"vitals.rollup.year_intervals"


@dataclass(frozen=True)
class MonthSource:
    """A month file (a private copy) and the days of it that go into the year file."""

    index: FileIndex
    days: tuple[date, ...]


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """(first, last) of each run of consecutive days in a sorted list."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def year_file_bytes(
    site: str, year: int, sources: list[MonthSource], identities: dict[date, str]
) -> bytes:
    """Parquet bytes of one year file: the 1 h rows of each source's included days.

    Written in batches of sorted point names, so one batch of the year is in memory.
    """
    validate_site_name(site)
    for day in identities:
        if day.year != year:
            raise ValueError(f"day {day} is not in year {year}")
    schema = ROLLUP_SCHEMA.with_metadata(
        {
            META_VERSION: ROLLUP_SCHEMA_VERSION.encode(),
            META_SITE: site.encode(),
            META_YEAR: f"{year:04d}".encode(),
            META_YEAR_DAYS: json.dumps(
                {day.isoformat(): identity for day, identity in identities.items()},
                sort_keys=True,
            ).encode(),
            META_YEAR_INTERVALS: str(YEAR_INTERVAL_MS).encode(),
        }
    )
    names = sorted(set().union(*(_hour_names(source.index) for source in sources)))
    step = max(1, YEAR_BATCH_ROWS // (366 * 24))
    sink = io.BytesIO()
    with rollup_writer(sink, schema) as writer:
        wrote = False
        for first in range(0, len(names), step):
            batch = names[first : first + step]
            parts = [part for source in sources for part in _hour_rows(source, batch)]
            table = (
                pa.concat_tables(parts).sort_by(
                    [("point_name", "ascending"), ("bucket_ts", "ascending")]
                )
                if parts
                else None
            )
            if table is not None and table.num_rows:
                write_rollup_groups(writer, table, YEAR_ROWS_PER_GROUP)
                wrote = True
        if not wrote:
            writer.write_table(ROLLUP_SCHEMA.empty_table().replace_schema_metadata(schema.metadata))
    return sink.getvalue()


def _hour_names(index: FileIndex) -> set[str]:
    """Point names of a month file's 1 h groups (a superset is fine: batches filter)."""
    groups = [
        group
        for group, span in enumerate(index.group_intervals)
        if span is None or span[0] <= YEAR_INTERVAL_MS <= span[1]
    ]
    if not groups:
        return set()
    parquet = pq.ParquetFile(index.path, metadata=index.metadata, read_dictionary=["point_name"])
    names: set[str] = set()
    for chunk in parquet.read_row_groups(groups, columns=["point_name"]).column(0).chunks:
        dictionary = cast("pa.DictionaryArray[Any, Any]", chunk).dictionary
        names.update(str(name) for name in dictionary.to_pylist())
    return names


def _hour_rows(source: MonthSource, batch: list[str]) -> list[pa.Table]:
    """The 1 h rows of ``batch`` in each run of the source's included days."""
    out = []
    for first, last in day_runs(list(source.days)):
        table = read_points(
            FileRead(Path(source.index.path), day_bounds_ms(first)[0], day_bounds_ms(last)[1]),
            batch,
            columns=ROLLUP_SCHEMA.names,
            ts_column="bucket_ts",
            interval_ms=YEAR_INTERVAL_MS,
            index=source.index,
        )
        out.append(
            pa.table(
                [table.column(f.name).cast(f.type) for f in ROLLUP_SCHEMA], schema=ROLLUP_SCHEMA
            )
        )
    return out


def compact_rollup_year(cold_store: ColdStore, site: str, year: int) -> Compaction:
    """(Re)build one site-year's year file from its month files.

    A day is included only if its month file holds it for the cold file version that is
    current now; other days a month file holds are counted as skipped (the engine reads
    them from day rollups or raw data). The month files are read from private copies, so
    one rewritten meanwhile cannot mix two versions into this file.
    """
    began = time.monotonic()
    key = rollup_year_key(site, year)
    sources: list[MonthSource] = []
    identities: dict[date, str] = {}
    skipped = 0
    with tempfile.TemporaryDirectory(prefix="vitals-year-") as folder:
        for month in range(1, 13):
            month_key = rollup_month_key(site, year, month)
            if not cold_store.exists(month_key):
                continue
            path = Path(folder) / f"{month:02d}.parquet"
            path.write_bytes(cold_store.get_bytes(month_key))
            try:  # parsed here, uncached (a private copy's footer would crowd the cache)
                index = parse_file_index(path)
            except (pa.ArrowInvalid, OSError):
                continue  # unreadable: its days are answered from day rollups or raw data
            if YEAR_INTERVAL_MS not in index_month_intervals(index):
                continue
            recorded = index_month_days(index)
            current = cold_store.identities(cold_month_prefix(site, year, month))
            days = []
            for iso, identity in sorted(recorded.items()):
                day = date.fromisoformat(iso)
                if current.get(cold_day_key(site, day)) == identity:
                    days.append(day)
                    identities[day] = identity
                else:
                    skipped += 1
            if days:
                sources.append(MonthSource(index, tuple(days)))
        data = year_file_bytes(site, year, sources, identities)
    if sources or cold_store.exists(key):
        cold_store.put_bytes(key, data)
    return Compaction(
        key=key,
        days=len(identities),
        skipped_days=skipped,
        rows=pq.read_metadata(io.BytesIO(data)).num_rows,
        bytes=len(data),
        seconds=round(time.monotonic() - began, 3),
    )


def year_day_identities(path: Path) -> dict[str, str]:
    """ISO day -> cold file identity for every day a year file holds (cached footer).

    An unreadable file, or one without the 1 h section, holds no day.
    """
    try:
        index = file_index(path)
    except (pa.ArrowInvalid, OSError):
        return {}
    raw = index.key_values.get(META_YEAR_DAYS.decode())
    intervals = index.key_values.get(META_YEAR_INTERVALS.decode(), "")
    if not raw or str(YEAR_INTERVAL_MS) not in intervals.split(","):
        return {}
    return dict(parse_day_identities(raw))


@dataclass(frozen=True)
class YearCoverage:
    """Days of a site-month its month file holds for current cold files, and its year file."""

    key: str
    in_month_file: tuple[date, ...]
    in_year_file: tuple[date, ...]

    @property
    def missing(self) -> tuple[date, ...]:
        """Days the month file serves at 1 h that the year file lacks (or holds stale)."""
        held = set(self.in_year_file)
        return tuple(day for day in self.in_month_file if day not in held)


def year_coverage(cold_store: ColdStore, site: str, year: int, month: int) -> YearCoverage:
    """Compare one month's days in its month file with the same days in the year file.

    A gap is slower charts (those days come from the month file), never wrong answers.
    """
    current = cold_store.identities(cold_month_prefix(site, year, month))

    def held(recorded: dict[str, str]) -> tuple[date, ...]:
        days = (date.fromisoformat(iso) for iso, identity in sorted(recorded.items()))
        return tuple(
            day
            for day in days
            if (day.year, day.month) == (year, month)
            and current.get(cold_day_key(site, day)) == recorded[day.isoformat()]
        )

    month_key, key = rollup_month_key(site, year, month), rollup_year_key(site, year)
    in_month = {}
    if cold_store.exists(month_key):
        in_month = month_day_identities(cold_store.local_copy(month_key))
    in_year = {}
    if cold_store.exists(key):
        in_year = year_day_identities(cold_store.local_copy(key))
    return YearCoverage(key=key, in_month_file=held(in_month), in_year_file=held(in_year))


def warm_year_files(cold_store: ColdStore, *, years_per_site: int = 3) -> int:
    """Parse the footers of each site's newest year files into the process cache.

    Run at API start-up beside :func:`vitals.rollups.month.warm_month_files`: a year
    file's footer is ~2 MB (~20 ms to parse). Returns files warmed.
    """
    by_site: dict[str, list[str]] = {}
    for key in cold_store.list_keys(ROLLUP_YEAR_PREFIX):
        by_site.setdefault(key.split("/")[1], []).append(key)
    warmed = 0
    for keys in by_site.values():
        for key in sorted(keys)[-years_per_site:]:
            year_day_identities(cold_store.local_copy(key))
            warmed += 1
    return warmed
