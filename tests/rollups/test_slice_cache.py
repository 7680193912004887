"""The rollup slice cache (vitals.rollups.day.ROLLUP_SLICES) on real month files.

One entry per file read holds its points' slices: a read of more points merges into it,
a rewritten file is never served from it, and one file read for ever new point sets
does not grow into the whole cache.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.backends import write_atomically
from vitals.cold.point_reads import FileRead
from vitals.rollups.day import ROLLUP_SLICES, _SliceCache, build_rollup_table, read_rollup_rows
from vitals.rollups.month import month_day_identities, month_file_bytes
from vitals.samples import day_bounds_ms

NAMES = point_names(30)
HOUR = 3_600_000


def _write_month(path: Path, seed: int) -> None:
    rollup = build_rollup_table(samples(NAMES, per_point=300, seed=seed))
    write_atomically(path, month_file_bytes(SITE, DAY.year, DAY.month, {DAY: ("id", rollup)}))


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


def test_more_points_of_one_read_merge_and_a_rewrite_is_never_served(tmp_path: Path) -> None:
    path = tmp_path / "month.parquet"
    _write_month(path, seed=5)
    item = FileRead(path, *day_bounds_ms(DAY))
    ROLLUP_SLICES.clear()
    (first,) = read_rollup_rows([item], NAMES[:2], HOUR, columns=["count", "sum"])
    assert first.equals(_plain(path, NAMES[:2]))
    # two cached, one read: the same rows as a plain filter, in the order asked
    asked = [NAMES[4], NAMES[1], NAMES[0]]
    (second,) = read_rollup_rows([item], asked, HOUR, columns=["count", "sum"])
    assert second.equals(_plain(path, asked))
    (third,) = read_rollup_rows([item], asked, HOUR, columns=["count", "sum"])
    assert third.equals(second)
    _write_month(path, seed=9)  # other values: a new file version
    (fresh,) = read_rollup_rows([item], asked, HOUR, columns=["count", "sum"])
    assert fresh.equals(_plain(path, asked))
    assert not fresh.equals(second)
    assert month_day_identities(path) == {DAY.isoformat(): "id"}


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
