"""Kept run layouts of rollup row groups (vitals.rollups.group_runs) on real month files.

A read whose groups' layouts are kept decodes no names and must return exactly what a
decode would; a rewritten file (other points, so other layouts) is learned anew.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.backends import write_atomically
from vitals.cold.point_reads import FileRead, file_index
from vitals.rollups.day import _TS_COLUMNS, build_rollup_table
from vitals.rollups.group_runs import GROUP_RUNS, group_runs
from vitals.rollups.month import month_file_bytes
from vitals.rollups.sorted_slices import read_point_slices
from vitals.samples import day_bounds_ms

NAMES = point_names(40)
HOUR = 3_600_000


def _write(path: Path, names: list[str], seed: int) -> None:
    rollup = build_rollup_table(samples(names, per_point=300, seed=seed))
    write_atomically(path, month_file_bytes(SITE, DAY.year, DAY.month, {DAY: ("id", rollup)}))


def _plain(path: Path, point: str) -> list[tuple[int, int, float]]:
    table = pq.read_table(path)
    keep = pc.and_(
        pc.equal(table.column("point_name"), point), pc.equal(table.column("interval_ms"), HOUR)
    )
    rows = table.filter(keep)
    return list(
        zip(
            rows.column("bucket_ts").cast(pa.int64()).to_pylist(),
            rows.column("count").to_pylist(),
            rows.column("sum").to_pylist(),
            strict=True,
        )
    )


def _slices(path: Path, points: list[str]) -> dict[str, list[tuple[int, int, float]]]:
    found = read_point_slices(
        FileRead(path, *day_bounds_ms(DAY)), points, HOUR, ("count", "sum"), _TS_COLUMNS
    )
    assert found is not None
    for point, table in found.items():
        assert table.column("point_name").to_pylist() == [point] * table.num_rows
    return {
        point: list(
            zip(
                table.column("bucket").to_pylist(),
                table.column("count").to_pylist(),
                table.column("sum").to_pylist(),
                strict=True,
            )
        )
        for point, table in found.items()
    }


def test_kept_layouts_answer_like_a_decode_and_a_rewrite_is_learned_anew(tmp_path: Path) -> None:
    path = tmp_path / "month.parquet"
    _write(path, NAMES[:30], seed=5)
    GROUP_RUNS.clear()
    asked = [NAMES[2], NAMES[17], NAMES[29], "not stored"]
    first = _slices(path, asked)  # decodes the names, learns the groups
    assert (GROUP_RUNS.hits, GROUP_RUNS.misses) == (0, 1)
    second = _slices(path, asked)  # from the kept layouts
    assert GROUP_RUNS.hits == 1
    assert first == second
    for point in asked:
        assert second[point] == _plain(path, point)
    assert second["not stored"] == []
    # other points: the groups hold other runs; the new version is decoded and learned
    _write(path, NAMES[10:40], seed=7)
    third = _slices(path, asked)
    assert GROUP_RUNS.misses == 2
    for point in asked:
        assert third[point] == _plain(path, point)
    assert third[NAMES[2]] == [] and third[NAMES[29]] != first[NAMES[29]]
    assert _slices(path, asked) == third and GROUP_RUNS.hits == 2


def test_a_layout_lists_every_run_in_row_order(tmp_path: Path) -> None:
    path = tmp_path / "month.parquet"
    _write(path, NAMES[:12], seed=5)
    index = file_index(path)
    parquet = pq.ParquetFile(path, read_dictionary=["point_name"])
    for group in range(index.metadata.num_row_groups):
        chunk = parquet.read_row_group(group, columns=["point_name"]).column(0).chunks[0]
        layout = group_runs(chunk)
        assert layout is not None
        names, ends = layout
        plain = chunk.cast(pa.string()).to_pylist()
        expanded: list[str] = []
        start = 0
        for name, end in zip(names, ends, strict=True):
            expanded += [name] * (end - start)
            start = end
        assert expanded == plain
    assert group_runs(pa.array(["a", "b"])) is None  # plain strings: no layout
    nulls = pa.DictionaryArray.from_arrays(pa.array([0, None], pa.int32()), pa.array(["a"]))
    assert group_runs(nulls) is None
