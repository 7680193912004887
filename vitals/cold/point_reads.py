"""Point-pruned reads of Parquet day files (cold tier and rollups) with a footer cache.

Why not ``pyarrow.dataset`` filters: docs/design.md records that they read whole files when
``point_name`` comes back as a dictionary. Why not re-open files per query: a footer costs
3-12 ms to parse and a year is 365 files. So each file's footer is parsed once per
process and kept in an LRU keyed by (path, mtime, size); a query then reads only the row
groups whose ``point_name`` min/max statistics can hold a requested point, with the cached
metadata handed back to ``ParquetFile`` (no second footer parse), in a thread pool.
"""

from __future__ import annotations

import logging
import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cachetools import LRUCache

Item = TypeVar("Item")
Result = TypeVar("Result")
FOOTER_CACHE_SIZE = 2048
READER_FILES = 32  # paths with idle readers (open files): a year of month files and some
# Threads of the read pool. ``vitals serve --workers N`` sets this for its workers (cores
# / N): on 2 cores with 2 workers, one reader each answered 153 unique charts/s at 12.1
# ms of CPU against 140/s and 13.1 ms with two (docs/benchmarks.md).
READ_THREADS_ENV = "VITALS_READ_THREADS"


def _read_threads() -> int:
    """The pool's size: ``VITALS_READ_THREADS`` (1-64) if set, else 2-8 by cores."""
    raw = os.environ.get(READ_THREADS_ENV, "").strip()
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 64:
        return int(raw)
    if raw:
        logging.getLogger(__name__).warning(
            "%s=%r is not a whole number from 1 to 64: using the default", READ_THREADS_ENV, raw
        )
    return max(2, min(8, (os.cpu_count() or 2)))


READ_THREADS = _read_threads()


@dataclass(frozen=True)
class FileIndex:
    """What a reader needs from one Parquet footer: per row group the point range."""

    path: str
    mtime_ns: int
    size: int
    metadata: pq.FileMetaData
    num_rows: int
    group_min: tuple[str | None, ...]
    group_max: tuple[str | None, ...]
    group_rows: tuple[int, ...]
    key_values: dict[str, str]
    # (min, max) of an ``interval_ms`` column per group (rollup files), else empty
    group_intervals: tuple[tuple[int, int] | None, ...] = ()
    # interval (None: a file without that column) -> [first, end) of its groups, present
    # only when those groups all have statistics and are sorted by point without overlap
    # beyond a shared edge name: then a look-up bisects instead of scanning every group
    sorted_sections: dict[int | None, tuple[int, int]] = field(default_factory=dict)

    def groups_for(self, points: Sequence[str], interval_ms: int | None = None) -> list[int]:
        """Row groups whose statistics can contain any of ``points`` (and ``interval_ms``).

        A group without statistics is always kept (never lose data for speed).
        """
        if self.group_intervals and interval_ms is None:
            return self._scan_groups(points, None)  # every section of a rollup file
        section = self.sorted_sections.get(interval_ms if self.group_intervals else None)
        if section is None:
            return self._scan_groups(points, interval_ms)
        return self._bisect_groups(points, *section)

    def _bisect_groups(self, points: Sequence[str], first: int, end: int) -> list[int]:
        """Groups of a sorted section holding any of ``points``, by bisection.

        A month file with its 15 min section has ~1,270 groups; a scan visits every one.
        """
        found: set[int] = set()
        lows = self.group_min
        highs = cast(tuple[str, ...], self.group_max)  # a sorted section has no None
        for point in points:
            index = bisect_left(highs, point, first, end)
            while index < end and cast(str, lows[index]) <= point:
                found.add(index)
                index += 1
        return sorted(found)

    def _scan_groups(self, points: Sequence[str], interval_ms: int | None) -> list[int]:
        """Groups whose statistics can hold any of ``points``, by a scan of every group."""
        wanted = sorted(points)
        count = len(wanted)
        groups = []
        for index, (low, high) in enumerate(zip(self.group_min, self.group_max, strict=True)):
            if interval_ms is not None and self.group_intervals:
                span = self.group_intervals[index]
                if span is not None and not span[0] <= interval_ms <= span[1]:
                    continue
            if low is None or high is None:
                groups.append(index)
                continue
            # the first wanted point >= low is the only one that can decide (sorted list):
            # a bisection per group instead of a scan of every point (400 groups x 100
            # points were ~1 ms of Python per file)
            first = bisect_left(wanted, low)
            if first < count and wanted[first] <= high:
                groups.append(index)
        return groups


@dataclass
class ReadCounters:
    """Work done by reads, so tests and the bench can prove pruning (not just time it)."""

    files: int = 0
    row_groups_total: int = 0
    row_groups_read: int = 0
    rows_decoded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, files: int, total: int, read: int, rows: int) -> None:
        """Add one read's work (thread-safe: reads run in a pool)."""
        with self._lock:
            self.files += files
            self.row_groups_total += total
            self.row_groups_read += read
            self.rows_decoded += rows

    def add_file(self, index: FileIndex, groups: Sequence[int]) -> None:
        """Count one file read of ``groups`` (of all ``index``'s row groups)."""
        self.add(
            files=1,
            total=len(index.group_rows),
            read=len(groups),
            rows=sum(index.group_rows[g] for g in groups),
        )


class _FooterCache:
    """Process-wide LRU of parsed footers (not a resource field: resources are frozen).

    The LRU is ``cachetools.LRUCache`` (a hit costs ~0.2 us more than the hand-rolled
    ``OrderedDict`` it replaced; each look-up also pays a ``stat`` of ~1-2 us and saves a
    3-12 ms parse). ``hits`` and ``misses`` let tests and the bench prove a footer is
    parsed once. Parsing happens outside the lock (reads run in a pool).
    """

    def __init__(self, size: int) -> None:
        self._items: LRUCache[tuple[str, int, int], FileIndex] = LRUCache(maxsize=size)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: Path) -> FileIndex:
        """The footer index of ``path``, parsed again only when the file changed."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self.hits += 1
                return found
            self.misses += 1
        index = _parse_footer(path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            self._items[key] = index
        return index

    def clear(self) -> None:
        """Forget every footer and reset the counters."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


def _parse_footer(path: Path, mtime_ns: int, size: int) -> FileIndex:
    metadata = pq.read_metadata(path)
    name_col = metadata.schema.names.index("point_name")
    names = metadata.schema.names
    interval_col = names.index("interval_ms") if "interval_ms" in names else None
    intervals: list[tuple[int, int] | None] = []
    lows: list[str | None] = []
    highs: list[str | None] = []
    rows: list[int] = []
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        rows.append(group.num_rows)
        stats = group.column(name_col).statistics
        if stats is not None and stats.has_min_max:
            lows.append(_as_str(stats.min))
            highs.append(_as_str(stats.max))
        else:
            lows.append(None)
            highs.append(None)
        if interval_col is not None:
            istats = group.column(interval_col).statistics
            if istats is not None and istats.has_min_max:
                intervals.append((int(cast(int, istats.min)), int(cast(int, istats.max))))
            else:
                intervals.append(None)
    sections = _sorted_sections(lows, highs, intervals if interval_col is not None else None)
    raw_kv = metadata.metadata or {}
    key_values = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw_kv.items()}
    key_values.pop("ARROW:schema", None)
    return FileIndex(
        path=str(path),
        mtime_ns=mtime_ns,
        size=size,
        metadata=metadata,
        num_rows=metadata.num_rows,
        group_min=tuple(lows),
        group_max=tuple(highs),
        group_rows=tuple(rows),
        key_values=key_values,
        group_intervals=tuple(intervals),
        sorted_sections=sections,
    )


def _sorted_sections(
    lows: list[str | None],
    highs: list[str | None],
    intervals: list[tuple[int, int] | None] | None,
) -> dict[int | None, tuple[int, int]]:
    """Runs of groups of one interval (or the whole file) that are sorted by point.

    A run qualifies when every group has statistics, min <= max, and each group starts at
    or after the previous one's max; anything else is scanned group by group.
    """
    count = len(lows)
    if intervals is None:
        spans: list[tuple[int | None, int, int]] = [(None, 0, count)] if count else []
    else:
        spans = []
        start = 0
        for index in range(1, count + 1):
            if index == count or intervals[index] != intervals[start]:
                span = intervals[start]
                if span is None or span[0] != span[1]:
                    return {}  # a group without or with mixed intervals: scan
                spans.append((span[0], start, index))
                start = index
    out: dict[int | None, tuple[int, int]] = {}
    for key, first, end in spans:
        if key in out:
            return {}  # an interval in two places: not a writer's layout, scan
        ok = True
        for index in range(first, end):
            low, high = lows[index], highs[index]
            if low is None or high is None or low > high:
                ok = False
                break
            if index > first and low < cast(str, highs[index - 1]):
                ok = False
                break
        if ok:
            out[key] = (first, end)
    return out


def _as_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


FOOTERS = _FooterCache(FOOTER_CACHE_SIZE)
_POOL = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="vitals-cold")


def map_in_pool(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[function(item) for item in items]`` on the shared read pool (order kept).

    For footer-bound work such as checking many rollup files; never call it from inside
    a pool task (the pool is small and shared).
    """
    if len(items) < 2 or READ_THREADS == 1:  # one thread: a hop per item, no overlap
        return [function(item) for item in items]
    return list(_POOL.map(function, items))


def file_index(path: Path) -> FileIndex:
    """The cached footer index of one Parquet file (re-parsed if it changed on disk)."""
    return FOOTERS.get(path)


def parse_file_index(path: Path) -> FileIndex:
    """The footer index of one Parquet file, parsed now and not cached.

    For passes over short-lived files (month compaction reads 28-31 private copies of day
    rollups): kept in :data:`FOOTERS` they would crowd out the footers queries use.
    """
    stat = path.stat()
    return _parse_footer(path, stat.st_mtime_ns, stat.st_size)


class _ReaderPool:
    """Idle readers of recently read files, lent to one thread at a time.

    Building a ``ParquetFile`` (file system resolution, open, schema paths) was ~0.1 ms
    of a 0.85 ms month-file read. A reader is never shared by two threads at once (each
    read takes one out and gives it back); one version (mtime, size) per path is kept, so
    a replaced file is read through a new reader, and at most ``files`` paths hold open
    files (a deleted file's space is freed when its path falls out).
    """

    def __init__(self, files: int, per_file: int) -> None:
        self._idle: LRUCache[str, tuple[tuple[int, int], list[pq.ParquetFile]]] = LRUCache(
            maxsize=files
        )
        self._per_file = per_file
        self._lock = threading.Lock()

    @contextmanager
    def reader(self, index: FileIndex) -> Iterator[pq.ParquetFile]:
        """A reader of ``index``'s file version, returned to the pool after a clean read."""
        version = (index.mtime_ns, index.size)
        reader = None
        with self._lock:
            held = self._idle.get(index.path)
            if held is not None and held[0] != version:
                del self._idle[index.path]  # an older (or newer) version: not this file
            elif held is not None and held[1]:
                reader = held[1].pop()
        if reader is None:
            reader = open_parquet(index)
        yield reader  # an exception drops the reader (a file that failed is opened anew)
        with self._lock:
            held = self._idle.get(index.path)
            if held is None:
                self._idle[index.path] = (version, [reader])
            elif held[0] == version and len(held[1]) < self._per_file:
                held[1].append(reader)

    def clear(self) -> None:
        """Drop every idle reader (their files close)."""
        with self._lock:
            self._idle.clear()


READERS = _ReaderPool(READER_FILES, READ_THREADS + 1)


def open_parquet(index: FileIndex) -> pq.ParquetFile:
    """A reader of the file ``index`` describes, on its cached footer (no second parse).

    Names come back dictionary-encoded. Not memory-mapped: a fresh map per read paid its
    page faults on every query (~10% of a month file's read). Not pre-buffered (pyarrow's
    default since 15): pre-buffering hands every column chunk to Arrow's I/O threads and
    waits for it, which for the few small chunks a point read asks cost more CPU than the
    reads (3 points of a month file, CPU per read: 1 h 0.58 -> 0.52 ms, 15 min 0.92 ->
    0.69 ms).
    """
    return pq.ParquetFile(
        index.path,
        metadata=index.metadata,
        memory_map=False,
        read_dictionary=["point_name"],
        pre_buffer=False,
    )


@dataclass(frozen=True)
class FileRead:
    """One file to read, clipped to [start_ms, end_ms) (the file's day within the query)."""

    path: Path
    start_ms: int
    end_ms: int


def _normalise(table: pa.Table, ts_column: str) -> pa.Table:
    """Names as plain strings and timestamps as int64 epoch ms, whatever the file stored."""
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if name in (ts_column, "last_ts") and pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        if pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        columns[name] = column
    return pa.table(columns)


def read_points(
    item: FileRead,
    points: Sequence[str],
    *,
    columns: Sequence[str],
    ts_column: str = "ts",
    extra_filter: pc.Expression | None = None,
    counters: ReadCounters | None = None,
    interval_ms: int | None = None,
    index: FileIndex | None = None,
) -> pa.Table:
    """Rows of ``points`` in [start_ms, end_ms) from one file, reading only matching groups.

    ``interval_ms`` also prunes groups by their ``interval_ms`` statistics (rollup files)
    and, when that column is read, keeps only its rows; ``extra_filter`` still filters
    rows, so pruning is only ever an optimisation. ``index``: the file's footer index
    when the caller holds it (else the cached one).
    """
    index = index if index is not None else file_index(item.path)
    groups = index.groups_for(points, interval_ms)
    if counters is not None:
        counters.add_file(index, groups)
    if not groups:
        return _normalise(
            pq.ParquetFile(item.path, metadata=index.metadata)
            .schema_arrow.empty_table()
            .select(list(columns)),
            ts_column,
        )
    # groups whose statistics say they hold only ``interval_ms`` need not decode that
    # column (a fifth of a month file's 1 h read): it is filled in after the filter
    known_interval = (
        interval_ms is not None
        and "interval_ms" in columns
        and bool(index.group_intervals)
        and all(index.group_intervals[g] == (interval_ms, interval_ms) for g in groups)
    )
    read_columns = [c for c in columns if not (known_interval and c == "interval_ms")]
    # Names come back dictionary-encoded: matching the few distinct names of the dictionary
    # avoids materialising a string per row for rows that are filtered away anyway.
    with READERS.reader(index) as parquet:
        table = parquet.read_row_groups(groups, columns=read_columns, use_threads=False)
    # One mask (names, window, interval) and one filter: each separate Table.filter
    # copied every column again (~0.5 ms a file), and an Expression filter builds an
    # Acero plan per call.
    wanted = pa.array(list(points), pa.string())
    asked = frozenset(points)
    mask = pa.chunked_array(
        [_dictionary_mask(chunk, wanted, asked) for chunk in table.column("point_name").chunks],
        pa.bool_(),
    )
    ts = table.column(ts_column)
    start, end = _bound(item.start_ms, ts.type), _bound(item.end_ms, ts.type)
    keep: Any = pc.and_(mask, pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)))
    if interval_ms is not None and "interval_ms" in table.column_names:
        same = pc.equal(table.column("interval_ms"), pa.scalar(interval_ms, pa.int64()))
        keep = pc.and_(keep, same)
    table = _normalise(table.filter(keep), ts_column)
    if known_interval:
        table = table.add_column(
            list(columns).index("interval_ms"),
            "interval_ms",
            pa.repeat(pa.scalar(interval_ms, pa.int64()), table.num_rows),
        )
    if extra_filter is not None:
        table = table.filter(extra_filter)
    return table


def _bound(ms: int, ts_type: pa.DataType) -> pa.Scalar[Any]:
    """Epoch ms as a scalar comparable with a column of ``ts_type`` (int64 or timestamp)."""
    if pa.types.is_timestamp(ts_type):
        unit = cast(pa.TimestampType, ts_type)
        return pa.scalar(ms, pa.timestamp("ms", tz=unit.tz)).cast(ts_type)
    return pa.scalar(ms, pa.int64()).cast(ts_type)


def _dictionary_mask(
    chunk: pa.Array[Any], wanted: pa.Array[Any], asked: frozenset[str]
) -> pa.Array[Any]:
    """Rows of ``chunk`` whose name is in ``wanted`` (dictionary or plain strings).

    A row group's dictionary holds its few distinct names (~10): the wanted codes are
    found in Python and the mask is one ``is_in`` on the codes (four compute calls per
    chunk before, ~0.2 ms of a 3-group read).
    """
    if isinstance(chunk, pa.DictionaryArray):
        names = chunk.dictionary.to_pylist()
        codes = pa.array([code for code, name in enumerate(names) if name in asked], pa.int32())
        hits = pc.is_in(chunk.indices, value_set=codes.cast(chunk.indices.type))
        return hits.fill_null(False) if chunk.null_count else hits
    return pc.is_in(chunk.cast(pa.string()), value_set=wanted).fill_null(False)


def read_many(
    items: Sequence[FileRead],
    points: Sequence[str],
    *,
    columns: Sequence[str],
    ts_column: str = "ts",
    extra_filter: pc.Expression | None = None,
    counters: ReadCounters | None = None,
    interval_ms: int | None = None,
) -> list[pa.Table]:
    """:func:`read_points` over many files in the shared thread pool, results in input order."""
    if len(items) == 1 or READ_THREADS == 1:  # one thread: a hop per file, no overlap
        return [
            read_points(
                item,
                points,
                columns=columns,
                ts_column=ts_column,
                extra_filter=extra_filter,
                counters=counters,
                interval_ms=interval_ms,
            )
            for item in items
        ]
    futures = [
        _POOL.submit(
            read_points,
            item,
            points,
            columns=columns,
            ts_column=ts_column,
            extra_filter=extra_filter,
            counters=counters,
            interval_ms=interval_ms,
        )
        for item in items
    ]
    return [future.result() for future in futures]
