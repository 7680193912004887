"""The rollup slice cache (vitals.rollups.day.ROLLUP_SLICES) on real rollup files.

Day rollups are kept, month files are not. One entry per file read holds its points'
slices (copies of their own rows): a read of more points merges into it, a rewritten
file is never served from it, and one file read for ever new point sets does not grow
into the whole cache.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.backends import write_atomically
from vitals.cold.point_reads import FileRead, ReadCounters
from vitals.rollups.day import (
    ROLLUP_SLICES,
    _SliceCache,
    build_rollup_table,
    read_rollup_rows,
    rollup_file_bytes,
)
from vitals.rollups.month import month_day_identities, month_file_bytes
from vitals.samples import day_bounds_ms

NAMES = point_names(30)
HOUR = 3_600_000


def _write_month(path: Path, seed: int) -> None:
    rollup = build_rollup_table(samples(NAMES, per_point=300, seed=seed))
    write_atomically(path, month_file_bytes(SITE, DAY.year, DAY.month, {DAY: ("id", rollup)}))


def _write_day(path: Path, seed: int) -> None:
    rollup = build_rollup_table(samples(NAMES, per_point=300, seed=seed))
    write_atomically(path, rollup_file_bytes(rollup, SITE, DAY))


def _read(item: FileRead, points: list[str]) -> tuple[pa.Table, int]:
    """The rows read_rollup_rows returns, and how many files it opened for them."""
    counters = ReadCounters()
    (rows,) = read_rollup_rows([item], points, HOUR, columns=["count", "sum"], counters=counters)
    return rows, counters.files


def _plain(path: Path, points: list[str]) -> pa.Table:
    """The reference: the whole file filtered by a plain expression, points in asked order."""
    table = pq.read_table(path)
    parts = []
    for point in points:
        keep = pc.and_(
            pc.equal(table.column("point_name"), point),
            pc.equal(table.column("interval_ms"), HOUR),
        )
        rows = table.filter(keep)
        parts.append(
            pa.table(
                {
                    "point_name": rows.column("point_name").cast(pa.string()),
                    "bucket": rows.column("bucket_ts").cast(pa.int64()),
                    "count": rows.column("count"),
                    "sum": rows.column("sum"),
                }
            )
        )
    return pa.concat_tables(parts)


def test_day_rollup_slices_are_kept_merged_and_never_served_stale(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    _write_day(path, seed=5)
    item = FileRead(path, *day_bounds_ms(DAY))
    ROLLUP_SLICES.clear()
    first, opened = _read(item, NAMES[:2])
    assert first.equals(_plain(path, NAMES[:2])) and opened == 1
    # two kept, one read: the same rows as a plain filter, in the order asked
    asked = [NAMES[4], NAMES[1], NAMES[0]]
    second, opened = _read(item, asked)
    assert second.equals(_plain(path, asked)) and opened == 1
    third, opened = _read(item, asked)
    assert third.equals(second) and opened == 0  # all three from the cache
    kept = ROLLUP_SLICES.get((str(path), *_version(path), HOUR, *_window(item), "count,sum"))
    assert set(kept) == {NAMES[0], NAMES[1], NAMES[4]}
    for table in kept.values():  # copies of their own rows, not views of a decoded group
        assert table.column("sum").chunks[0].buffers()[1].size == 8 * table.num_rows
    _write_day(path, seed=9)  # other values: a new file version
    fresh, opened = _read(item, asked)
    assert fresh.equals(_plain(path, asked)) and opened == 1
    assert not fresh.equals(second)


def test_month_file_slices_are_read_each_time(tmp_path: Path) -> None:
    path = tmp_path / "month.parquet"
    _write_month(path, seed=5)
    item = FileRead(path, *day_bounds_ms(DAY))
    ROLLUP_SLICES.clear()
    for _ in range(2):
        rows, opened = _read(item, NAMES[2:5])
        assert rows.equals(_plain(path, NAMES[2:5])) and opened == 1
    assert month_day_identities(path) == {DAY.isoformat(): "id"}


def _version(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def _window(item: FileRead) -> tuple[int, int]:
    return item.start_ms, item.end_ms


def test_one_entry_stops_merging_at_its_share_of_the_bound() -> None:
    cache = _SliceCache(max_rows=1_600)  # an entry merges up to 100 rows
    key = ("month.parquet", 1, 2, HOUR, 0, 1, "count,sum")
    rows = pa.table({"bucket": pa.array(range(40), pa.int64())})
    cache.put(key, {"a": rows})
    cache.put(key, {"b": rows})
    assert set(cache.get(key)) == {"a", "b"}
    cache.put(key, {"c": rows})  # 120 rows merged would pass 100: the newest replace them
    assert set(cache.get(key)) == {"c"}
    assert cache.get(("other",)) == {}
    huge = pa.table({"bucket": pa.array(range(2_000), pa.int64())})
    cache.put(("huge",), {"h": huge})  # larger than the whole bound: not kept
    assert cache.get(("huge",)) == {}


def test_month_days_are_copies_a_caller_cannot_change(tmp_path: Path) -> None:
    path = tmp_path / "month.parquet"
    _write_month(path, seed=5)
    found = month_day_identities(path)
    found[DAY.isoformat()] = "changed by a caller"
    found["2000-01-01"] = "added by a caller"
    assert month_day_identities(path) == {DAY.isoformat(): "id"}
