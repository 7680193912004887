"""Cold day files as Parquet: readable without Vitals code, laid out as designed, verified."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.cold_samples import DAY, SITE, point_names, samples, table
from vitals.cold.file import ColdLayout, build_cold_table, cold_file_bytes, row_group_bounds
from vitals.cold.key_order import key_checksum
from vitals.cold.keys import cold_day_key
from vitals.cold.read import COLD_SCHEMA, ColdVerificationError, read_cold_bytes
from vitals.cold.verify import inspect_cold_bytes, verify_cold_bytes
from vitals.samples import day_bounds_ms

START, _END = day_bounds_ms(DAY)
NAMES = point_names(40)
HOT = samples(NAMES, per_point=120)
CHECKSUM = key_checksum(HOT)
LAYOUT = ColdLayout(row_group_rows=1_000)  # ~8 points per group, as at full load


@pytest.fixture(scope="module")
def day_file() -> bytes:
    cold = build_cold_table(SITE, DAY, [HOT])
    return cold_file_bytes(cold, site=SITE, day=DAY, sources=["hot"], layout=LAYOUT)


@pytest.fixture
def day_path(tmp_path, day_file):
    path = tmp_path / cold_day_key(SITE, DAY)
    path.parent.mkdir(parents=True)
    path.write_bytes(day_file)
    return path


def test_pyarrow_reads_the_file_without_vitals_code(day_path):
    got = pq.read_table(day_path)
    assert got.schema.remove_metadata() == COLD_SCHEMA
    assert got.column("site_name").to_pylist() == [SITE] * HOT.num_rows
    assert got.column("point_name").to_pylist() == HOT.column("point_name").to_pylist()
    assert pc.cast(got.column("ts"), pa.int64()).to_pylist() == HOT.column("ts").to_pylist()
    assert got.column("value").to_pylist() == HOT.column("value").to_pylist()


def test_duckdb_reads_the_same_rows_and_types(day_path):
    con = duckdb.connect()
    rel = con.sql(
        "select site_name, point_name, epoch_ms(ts) as ts_ms, value from read_parquet(?) "
        "order by point_name, ts",
        params=[str(day_path)],
    )
    duck = rel.fetchall()
    hot_rows = zip(*(HOT.column(c).to_pylist() for c in HOT.column_names), strict=True)
    assert duck == [(SITE, *r) for r in hot_rows]
    types = dict(
        con.sql(
            "select column_name, column_type from (describe select * from read_parquet(?))",
            params=[str(day_path)],
        ).fetchall()
    )
    assert types == {
        "site_name": "VARCHAR",
        "point_name": "VARCHAR",
        "ts": "TIMESTAMP WITH TIME ZONE",
        "value": "DOUBLE",
    }
    point = NAMES[7]
    assert con.execute(
        "select count(*) from read_parquet(?) where point_name = ?", [str(day_path), point]
    ).fetchall() == [(120,)]


def test_read_cold_bytes_round_trips_to_the_sample_table(day_file):
    assert read_cold_bytes(day_file).equals(HOT)


def test_key_value_metadata_describes_the_file(day_file):
    raw = pq.ParquetFile(pa.BufferReader(day_file)).schema_arrow.metadata
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    assert meta["vitals.schema_version"] == "1"
    assert meta["vitals.site"] == SITE
    assert meta["vitals.date"] == "2026-10-01"
    assert meta["vitals.rows"] == str(HOT.num_rows)
    assert meta["vitals.points"] == "40"
    assert json.loads(meta["vitals.sources"]) == ["hot"]
    assert meta["vitals.key_checksum"] == CHECKSUM


def test_layout_row_groups_at_point_boundaries_with_full_length_name_statistics(day_file):
    metadata = pq.ParquetFile(pa.BufferReader(day_file)).metadata
    assert metadata.num_row_groups == 5  # 40 points x 120 rows, >= 1,000 rows per group
    previous_max = ""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        assert group.num_rows % 120 == 0, "no point is split across row groups"
        site, name, ts, value = (group.column(i) for i in range(4))
        stats = name.statistics
        assert stats.has_min_max and stats.min in NAMES and stats.max in NAMES  # full length
        assert stats.min > previous_max
        previous_max = stats.max
        assert ts.statistics is None and value.statistics is None  # smaller footer
        assert name.compression == "ZSTD"
        assert "RLE_DICTIONARY" in name.encodings and "RLE_DICTIONARY" in site.encodings
        assert "DELTA_BINARY_PACKED" in ts.encodings and "RLE_DICTIONARY" not in ts.encodings
        assert value.encodings == ("PLAIN",) or "RLE_DICTIONARY" not in value.encodings
        assert name.has_column_index and name.has_offset_index  # page index on
    assert [c.column_index for c in metadata.row_group(0).sorting_columns] == [1, 2]


def test_reading_a_few_points_prunes_row_groups(day_path):
    wanted = [NAMES[3], NAMES[30]]
    dataset_read = pq.read_table(day_path, filters=[("point_name", "in", wanted)])
    assert set(dataset_read.column("point_name").to_pylist()) == set(wanted)
    parquet = pq.ParquetFile(day_path)
    kept = [
        i
        for i in range(parquet.metadata.num_row_groups)
        if any(
            parquet.metadata.row_group(i).column(1).statistics.min
            <= w
            <= parquet.metadata.row_group(i).column(1).statistics.max
            for w in wanted
        )
    ]
    assert len(kept) == 2  # a reader using the statistics decodes 2 of 5 groups


def test_row_group_bounds_cut_at_point_boundaries():
    assert row_group_bounds([5, 5, 5, 5, 5], 10) == [(0, 10), (10, 10), (20, 5)]
    assert row_group_bounds([30, 1, 1], 10) == [(0, 30), (30, 2)]
    assert row_group_bounds([], 10) == []
    with pytest.raises(ValueError, match="positive"):
        row_group_bounds([1], 0)


def test_sparse_day_gets_few_row_groups():
    sparse = samples(point_names(300), per_point=12, step_ms=7_200_000)
    cold = build_cold_table(SITE, DAY, [sparse])
    data = cold_file_bytes(cold, site=SITE, day=DAY, sources=["raw"])
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.num_row_groups == 1


def test_cold_file_bytes_refuses_unsorted_or_foreign_tables():
    cold = build_cold_table(SITE, DAY, [HOT])
    with pytest.raises(ValueError, match="not in \\(point_name, ts\\) order"):
        cold_file_bytes(cold.take(pa.array([1, 0])), site=SITE, day=DAY, sources=["hot"])
    with pytest.raises(ValueError, match="site other than 'other_site'"):
        cold_file_bytes(cold, site="other_site", day=DAY, sources=["hot"])
    with pytest.raises(ValueError, match="must have schema"):
        cold_file_bytes(HOT, site=SITE, day=DAY, sources=["hot"])


def test_empty_day_file_round_trips():
    data = cold_file_bytes(build_cold_table(SITE, DAY, []), site=SITE, day=DAY, sources=[])
    empty_checksum = key_checksum(table([], [], []))
    verify_cold_bytes(data, site=SITE, day=DAY, expected_rows=0, expected_checksum=empty_checksum)
    assert read_cold_bytes(data).num_rows == 0


# --- verification --------------------------------------------------------------------


def verify(data: bytes, **overrides) -> None:
    args = {"site": SITE, "day": DAY, "expected_rows": HOT.num_rows, "expected_checksum": CHECKSUM}
    verify_cold_bytes(data, **{**args, **overrides})


def test_verify_passes_on_the_written_file(day_file):
    verify(day_file)
    info = inspect_cold_bytes(day_file)
    assert info.canonical and info.rows == HOT.num_rows and info.points == 40
    assert info.row_groups == 5 and info.bytes == len(day_file)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expected_rows": HOT.num_rows - 1}, "vitals.rows is '4800', expected '4799'"),
        ({"expected_checksum": "0" * 64}, "vitals.key_checksum"),
        ({"site": "other_site"}, "vitals.site is 'ses_falls_city', expected 'other_site'"),
        ({"day": DAY + timedelta(days=1)}, "vitals.date is '2026-10-01', expected '2026-10-02'"),
    ],
)
def test_verify_names_what_differs(day_file, overrides, message):
    with pytest.raises(ColdVerificationError, match=message):
        verify(day_file, **overrides)


@pytest.mark.parametrize("cut", [0, 3, 100, 0.5, -1, -9])
def test_truncated_files_fail_verification(day_file, cut):
    end = int(len(day_file) * cut) if isinstance(cut, float) else cut
    with pytest.raises(ColdVerificationError, match="cold file"):
        verify(day_file[:end])


@pytest.mark.parametrize("where", [0.2, 0.5, 0.8])
def test_corrupted_bytes_fail_verification(day_file, where):
    at = int(len(day_file) * where)
    flipped = bytes(b ^ 0x5A for b in day_file[at : at + 64])
    corrupted = day_file[:at] + flipped + day_file[at + 64 :]
    with pytest.raises(ColdVerificationError):
        verify(corrupted)
    with pytest.raises(ColdVerificationError):
        verify(b"PAR1 this is not a parquet file PAR1")


def _forged(tbl: pa.Table, meta_rows: int, checksum: str) -> bytes:
    metadata = {
        "vitals.schema_version": "1",
        "vitals.site": SITE,
        "vitals.date": DAY.isoformat(),
        "vitals.rows": str(meta_rows),
        "vitals.key_checksum": checksum,
    }
    sink = pa.BufferOutputStream()
    pq.write_table(tbl.replace_schema_metadata(metadata), sink)
    return sink.getvalue().to_pybytes()


def test_a_file_with_duplicate_keys_fails_even_if_its_metadata_agrees():
    cold = build_cold_table(SITE, DAY, [HOT])
    doubled = pa.concat_tables([cold.slice(0, 1), cold])
    checksum = key_checksum(doubled)
    data = _forged(doubled, doubled.num_rows, checksum)
    with pytest.raises(ColdVerificationError, match="1 duplicate keys"):
        verify(data, expected_rows=doubled.num_rows, expected_checksum=checksum)
    assert inspect_cold_bytes(data).duplicate_keys == 1


def test_a_file_with_rows_changed_but_metadata_kept_fails_the_checksum():
    cold = build_cold_table(SITE, DAY, [HOT])
    values = cold.column("value").to_pylist()
    values[17] += 0.5
    changed = cold.set_column(3, COLD_SCHEMA.field("value"), pa.array(values, pa.float64()))
    with pytest.raises(ColdVerificationError, match="key checksum of the rows read back"):
        verify(_forged(changed, cold.num_rows, CHECKSUM))


def test_a_file_with_a_different_schema_fails():
    cold = build_cold_table(SITE, DAY, [HOT])
    plain_ts = cold.set_column(2, "ts", pc.cast(cold.column("ts"), pa.int64()))
    with pytest.raises(ColdVerificationError, match="has schema"):
        verify(_forged(plain_ts, cold.num_rows, CHECKSUM))
    assert not inspect_cold_bytes(_forged(plain_ts, cold.num_rows, CHECKSUM)).schema_ok


def test_rows_of_another_day_or_site_fail():
    next_day = DAY + timedelta(days=1)
    other_day = build_cold_table(SITE, next_day, [samples(NAMES[:2], per_point=3, day=next_day)])
    checksum = key_checksum(other_day)
    forged = _forged(other_day, other_day.num_rows, checksum)
    with pytest.raises(ColdVerificationError, match="timestamps outside the day"):
        verify(forged, expected_rows=6, expected_checksum=checksum)
    cold = build_cold_table("acme_hq", DAY, [HOT])
    with pytest.raises(ColdVerificationError, match="holds rows of sites \\['acme_hq'\\]"):
        verify(_forged(cold, cold.num_rows, CHECKSUM))


def test_files_are_deterministic_for_the_same_rows(day_file):
    cold = build_cold_table(SITE, DAY, [HOT])
    again = cold_file_bytes(cold, site=SITE, day=DAY, sources=["hot"], layout=LAYOUT)
    assert again == day_file
    assert date.fromisoformat(inspect_cold_bytes(again).metadata["date"]) == DAY


def test_a_wrong_checksum_passed_to_the_writer_is_caught_by_verification():
    cold = build_cold_table(SITE, DAY, [HOT])
    data = cold_file_bytes(cold, site=SITE, day=DAY, sources=["hot"], checksum="f" * 64)
    with pytest.raises(ColdVerificationError, match=r"vitals.key_checksum is 'f+', expected"):
        verify(data)
    with pytest.raises(ColdVerificationError, match="key checksum of the rows read back"):
        verify(data, expected_checksum="f" * 64)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_damaged_files_raise_only_cold_verification_errors(day_file, data):
    """Any cut or flipped byte either still verifies (rows intact) or raises our error."""
    cut = data.draw(st.integers(0, len(day_file) - 1))
    with pytest.raises(ColdVerificationError):
        verify(day_file[:cut])
    at = data.draw(st.integers(0, len(day_file) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = day_file[:at] + bytes([day_file[at] ^ flip]) + day_file[at + 1 :]
    try:
        verify(damaged)
    except ColdVerificationError:
        return
    assert read_cold_bytes(damaged).equals(HOT)  # it verified, so the rows must be intact
