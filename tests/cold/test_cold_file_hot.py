"""The key checksum agrees between real hot-store rows and the cold file read back.

Runs against both hot-store backends (SQLite, PostgreSQL): their rows come back with
their own chunking and schema flags, and PostgreSQL sorts text by locale unless told
otherwise, so this proves the checksum and the canonical order do not depend on them.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.support.cold_samples import DAY, SITE, table
from tests.support.hot_store_helpers import hot_url, points
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.key_order import key_checksum
from vitals.cold.read import read_cold_bytes
from vitals.cold.verify import verify_cold_bytes
from vitals.samples import day_bounds_ms

__all__ = ["hot_url"]

START, END = day_bounds_ms(DAY)
# names whose byte order differs from a locale's (case, underscore, accents, digits)
NAMES = ["ahu_1/SAT", "AHU-1/SAT", "Zone Temp", "zone_temp", "Straße/Süd", "vav 10", "vav 9", "É"]


def test_checksum_of_hot_rows_equals_checksum_of_the_file_read_back(hot_url, tmp_path):
    hot_store = pytest.importorskip("resources.hot_store")
    hot = hot_store.HotStoreResource(url=hot_url)
    hot.upsert_points(SITE, points(NAMES))
    rows = [
        (name, START + 30_000 * k + i, round(0.1 * k - 2.0, 1))
        for i, name in enumerate(NAMES)
        for k in range(40)
    ]
    hot.upsert_samples(SITE, table(*map(list, zip(*reversed(rows), strict=True))))
    later = [(NAMES[0], START + 30_000 * 3, 99.5), (NAMES[3], END - 1, 7.25)]
    hot.upsert_samples(SITE, table(*map(list, zip(*later, strict=True))))  # later write wins
    hot_rows = hot.read_samples(SITE, START, END)
    checksum = key_checksum(hot_rows)

    data = cold_file_bytes(
        build_cold_table(SITE, DAY, [hot_rows]), site=SITE, day=DAY, sources=["hot"]
    )
    verify_cold_bytes(
        data, site=SITE, day=DAY, expected_rows=hot_rows.num_rows, expected_checksum=checksum
    )
    back = read_cold_bytes(data)
    assert key_checksum(back) == checksum
    assert back.num_rows == len(rows) + 1
    assert back.column("point_name").to_pylist() == sorted(
        back.column("point_name").to_pylist(), key=str.encode
    )
    by_key = dict(
        zip(
            zip(back.column("point_name").to_pylist(), back.column("ts").to_pylist(), strict=True),
            back.column("value").to_pylist(),
            strict=True,
        )
    )
    assert by_key[(NAMES[0], START + 30_000 * 3)] == 99.5

    path = tmp_path / "day.parquet"
    path.write_bytes(data)
    duck = (
        duckdb.connect()
        .execute(
            "select point_name, epoch_ms(ts), value from read_parquet(?) order by all", [str(path)]
        )
        .fetchall()
    )
    mine = sorted(
        zip(
            back.column("point_name").to_pylist(),
            pc.cast(back.column("ts"), pa.int64()).to_pylist(),
            back.column("value").to_pylist(),
            strict=True,
        )
    )
    assert sorted(duck) == mine
