"""Kept Parquet readers (vitals.cold.point_reads.READERS) on real files.

A kept reader must never answer for another version of its file, must not be used by two
threads at once, and a read that failed must not leave a reader behind.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.backends import write_atomically
from vitals.cold.file import ColdLayout, build_cold_table, cold_file_bytes
from vitals.cold.point_reads import READERS, FileRead, file_index, read_points
from vitals.samples import day_bounds_ms

NAMES = point_names(40)


def _cold_bytes(scale: float) -> bytes:
    table = samples(NAMES, per_point=120)
    table = table.set_column(
        table.schema.get_field_index("value"),
        "value",
        pc.multiply(table.column("value"), pa.scalar(scale)),
    )
    cold = build_cold_table(SITE, DAY, [table])
    return cold_file_bytes(
        cold, site=SITE, day=DAY, sources=["hot"], layout=ColdLayout(row_group_rows=400)
    )


def _expected(path: Path, points: list[str]) -> pa.Table:
    table = pq.read_table(path, columns=["point_name", "ts", "value"])
    keep = pc.is_in(table.column("point_name").cast(pa.string()), pa.array(points))
    return table.filter(keep)


def _read(path: Path, points: list[str]) -> pa.Table:
    return read_points(
        FileRead(path, *day_bounds_ms(DAY)), points, columns=["point_name", "ts", "value"]
    )


def _same_rows(found: pa.Table, expected: pa.Table) -> bool:
    return sorted(zip(*found.to_pydict().values(), strict=True)) == sorted(
        zip(
            expected.column("point_name").cast(pa.string()).to_pylist(),
            expected.column("ts").cast(pa.int64()).to_pylist(),
            expected.column("value").to_pylist(),
            strict=True,
        )
    )


def test_a_replaced_file_is_read_through_a_new_reader(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    write_atomically(path, _cold_bytes(1.0))
    points = NAMES[3:6]
    first = _read(path, points)
    assert first.num_rows == 3 * 120 and _same_rows(first, _expected(path, points))
    assert _same_rows(_read(path, points), _expected(path, points))  # a kept reader
    write_atomically(path, _cold_bytes(3.0))  # same rows, other values: a new version
    second = _read(path, points)
    assert _same_rows(second, _expected(path, points))
    assert second.column("value").to_pylist() != first.column("value").to_pylist()


def test_concurrent_reads_of_one_file_each_get_their_own_reader(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    write_atomically(path, _cold_bytes(2.0))
    point_sets = [NAMES[i : i + 4] for i in range(0, 36, 3)]
    expected = {tuple(p): _expected(path, p) for p in point_sets}
    failures: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(30):
            points = point_sets[(offset + round_) % len(point_sets)]
            if not _same_rows(_read(path, points), expected[tuple(points)]):
                failures.append(f"thread {offset} round {round_}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_failed_read_leaves_no_reader_behind(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    write_atomically(path, _cold_bytes(1.0))
    index = file_index(path)
    READERS.clear()
    with pytest.raises(RuntimeError, match="the read failed"):
        with READERS.reader(index) as reader:
            assert reader.metadata.num_rows == index.num_rows
            raise RuntimeError("the read failed")
    with READERS.reader(index) as again:
        kept = again
    assert kept is not reader  # the failed one was dropped, a new one opened
    with READERS.reader(index) as third:
        assert third is kept  # a clean read gives its reader back
