"""Row-group pruning by bisection: the same groups as a scan of every group, on real files."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.file import ColdLayout, build_cold_table, cold_file_bytes
from vitals.cold.point_reads import FileRead, file_index, read_points
from vitals.rollups.day import build_rollup_table, rollup_file_bytes
from vitals.rollups.month import month_file_bytes
from vitals.samples import day_bounds_ms

NAMES = point_names(60)
HOT = samples(NAMES, per_point=200)


def _probe(path: Path, intervals: list[int | None]) -> int:
    """Compare bisection with the scan for many point sets; returns sections bisected."""
    index = file_index(path)
    rng = random.Random(5)
    # names of the file, names between them and outside them, and case twins
    candidates = [*NAMES, "", "~", "a", NAMES[3] + "x", NAMES[7][:-1], NAMES[9].upper()]
    for interval in intervals:
        for size in (1, 2, 5, 30):
            for _ in range(20):
                points = rng.sample(candidates, size)
                assert index.groups_for(points, interval) == index._scan_groups(points, interval)
    return len(index.sorted_sections)


def test_cold_file_groups_by_bisection_equal_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    cold = build_cold_table(SITE, DAY, [HOT])
    path.write_bytes(
        cold_file_bytes(
            cold, site=SITE, day=DAY, sources=["hot"], layout=ColdLayout(row_group_rows=500)
        )
    )
    assert file_index(path).metadata.num_row_groups > 10
    assert _probe(path, [None]) == 1  # the cold file is one sorted section


def test_rollup_file_groups_by_bisection_equal_the_scan(tmp_path: Path) -> None:
    rollup = build_rollup_table(HOT)
    day_path = tmp_path / "day-rollup.parquet"
    day_path.write_bytes(rollup_file_bytes(rollup, SITE, DAY))
    month_path = tmp_path / "month.parquet"
    month_path.write_bytes(month_file_bytes(SITE, DAY.year, DAY.month, {DAY: ("id-1", rollup)}))
    assert _probe(day_path, [900_000, 3_600_000, 86_400_000, 60_000, None]) == 3
    assert _probe(month_path, [900_000, 3_600_000, 86_400_000, 300_000, None]) == 3
    # groups are cut at point boundaries: one point is in exactly one group of a section
    index = file_index(month_path)
    assert all(len(index.groups_for([name], 3_600_000)) == 1 for name in NAMES)


def test_unsorted_groups_are_scanned_and_read_exactly(tmp_path: Path) -> None:
    """A file written by another tool, groups out of point order: no bisection, same rows."""
    table = HOT.sort_by([("point_name", "descending"), ("ts", "ascending")])
    path = tmp_path / "unsorted.parquet"
    pq.write_table(table, path, row_group_size=700)
    index = file_index(path)
    assert index.sorted_sections == {}
    start, end = day_bounds_ms(DAY)
    wanted = [NAMES[1], NAMES[40]]
    got = read_points(FileRead(path, start, end), wanted, columns=["point_name", "ts", "value"])
    expected = HOT.filter(pc.is_in(HOT.column("point_name"), pa.array(wanted)))
    key = [("point_name", "ascending"), ("ts", "ascending")]
    assert (
        got.sort_by(key).to_pylist()
        == expected.select(["point_name", "ts", "value"]).sort_by(key).to_pylist()
    )
    _probe(path, [None])


def test_rollup_reads_equal_a_plain_filter_of_the_file(tmp_path: Path) -> None:
    """Groups of one interval are read without their interval column: same rows and types."""
    rollup = build_rollup_table(HOT)
    path = tmp_path / "day-rollup.parquet"
    path.write_bytes(rollup_file_bytes(rollup, SITE, DAY))
    whole = pq.read_table(path)
    start, end = day_bounds_ms(DAY)
    columns = ["point_name", "interval_ms", "bucket_ts", "count", "max"]
    compared = 0
    for interval in (900_000, 3_600_000, 86_400_000):
        for window in ((start, end), (start + 3 * 3_600_000, start + 7 * 3_600_000)):
            wanted = [NAMES[2], NAMES[30], NAMES[-1]]
            got = read_points(
                FileRead(path, *window),
                wanted,
                columns=columns,
                ts_column="bucket_ts",
                interval_ms=interval,
            )
            stamps = pc.cast(whole.column("bucket_ts"), pa.int64())
            keep = pc.and_(
                pc.and_(
                    pc.is_in(whole.column("point_name"), pa.array(wanted)),
                    pc.equal(whole.column("interval_ms"), interval),
                ),
                pc.and_(pc.greater_equal(stamps, window[0]), pc.less(stamps, window[1])),
            )
            expected = whole.filter(keep).select(columns)
            assert got.column_names == columns
            assert got.column("interval_ms").type == pa.int64()
            assert got.num_rows == expected.num_rows
            compared += got.num_rows
            assert got.column("point_name").to_pylist() == expected.column("point_name").to_pylist()
            assert (
                got.column("bucket_ts").to_pylist()
                == pc.cast(expected.column("bucket_ts"), pa.int64()).to_pylist()
            )
            for name in ("interval_ms", "count", "max"):
                assert got.column(name).to_pylist() == expected.column(name).to_pylist()
    assert compared > 30
