"""Building a day's cold table from sources, and the key checksum."""

from __future__ import annotations

import itertools
import struct
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.cold_samples import DAY, SITE, point_names, samples, table
from vitals.cold.file import build_cold_table
from vitals.cold.key_order import key_checksum, key_runs, merge_disjoint_sorted
from vitals.cold.read import COLD_SCHEMA
from vitals.names import InvalidNameError
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

START, END = day_bounds_ms(DAY)


def rows(cold: pa.Table) -> list[tuple[str, int, float]]:
    ts = pc.cast(cold.column("ts"), pa.int64()).to_pylist()
    names, values = cold.column("point_name").to_pylist(), cold.column("value").to_pylist()
    return list(zip(names, ts, values, strict=True))


def sample_rows(samples_table: pa.Table) -> list[tuple[str, int, float]]:
    return list(
        zip(
            *(samples_table.column(c).to_pylist() for c in ("point_name", "ts", "value")),
            strict=True,
        )
    )


def test_single_sorted_source_becomes_the_cold_table():
    hot = samples(point_names(5), per_point=20)
    cold = build_cold_table(SITE, DAY, [hot])
    assert cold.schema == COLD_SCHEMA
    assert cold.column("ts").type == pa.timestamp("ms", tz="UTC")
    assert set(cold.column("site_name").to_pylist()) == {SITE}
    assert rows(cold) == sample_rows(hot)

    # the common archival case reuses the hot rows' buffers instead of copying them
    def address(tbl: pa.Table) -> int:
        return tbl.column("value").chunk(0).buffers()[1].address

    assert address(cold) == address(hot)


def test_last_source_wins_on_duplicate_keys_and_sources_are_merged():
    name_a, name_b = "ses/x/b.points.SAT", "ses/x/a.points.RAT"
    raw = table([name_a, name_a, name_b], [START + 1000, START + 2000, START + 5], [1.0, 2.0, 3.0])
    hot = table([name_a, name_b], [START + 2000, START + 6], [20.0, 4.0])
    cold = build_cold_table(SITE, DAY, [raw, hot])
    assert rows(cold) == [
        (name_b, START + 5, 3.0),
        (name_b, START + 6, 4.0),
        (name_a, START + 1000, 1.0),
        (name_a, START + 2000, 20.0),  # hot (last) wins
    ]
    assert rows(build_cold_table(SITE, DAY, [hot, raw]))[3] == (name_a, START + 2000, 2.0)


def test_sources_differing_only_in_nullability_or_metadata_merge():
    raw = table(["p"], [START], [1.0])
    nullable = pa.table({"point_name": ["p"], "ts": [START + 1], "value": [2.0]})
    nullable = nullable.cast(nullable.schema.with_metadata({"from": "adbc"}))
    assert rows(build_cold_table(SITE, DAY, [raw, nullable])) == [
        ("p", START, 1.0),
        ("p", START + 1, 2.0),
    ]


def test_later_rows_win_within_one_unsorted_source():
    stamps = [START + 9, START + 3, START + 1, START + 9]
    source = table(["p", "p", "o", "p"], stamps, [1.0, 2.0, 3.0, 4.0])
    assert rows(build_cold_table(SITE, DAY, [source])) == [
        ("o", START + 1, 3.0),
        ("p", START + 3, 2.0),
        ("p", START + 9, 4.0),
    ]


def test_rows_outside_the_utc_day_are_left_out_half_open():
    source = table(["p"] * 4, [START - 1, START, END - 1, END], [1.0, 2.0, 3.0, 4.0])
    assert rows(build_cold_table(SITE, DAY, [source])) == [("p", START, 2.0), ("p", END - 1, 3.0)]


def test_names_sort_by_bytes_not_by_locale_or_case():
    names = ["b", "B", "a", "É", "e", "_", "Z"]
    source = table(names, [START] * len(names), [1.0] * len(names))
    got = build_cold_table(SITE, DAY, [source]).column("point_name").to_pylist()
    assert got == sorted(names, key=lambda n: n.encode())


def test_empty_sources_give_an_empty_cold_table():
    empty = table([], [], [])
    assert build_cold_table(SITE, DAY, []).num_rows == 0
    cold = build_cold_table(SITE, DAY, [empty, empty])
    assert cold.num_rows == 0 and cold.schema == COLD_SCHEMA


def test_bad_sources_are_refused_with_clear_errors():
    good = table(["p"], [START], [1.0])
    with pytest.raises(ValueError, match=r"source 1 .* sample schema"):
        build_cold_table(SITE, DAY, [good, good.rename_columns(["name", "ts", "value"])])
    with pytest.raises(ValueError, match="NaN or infinite"):
        build_cold_table(SITE, DAY, [table(["p", "q"], [START, START], [1.0, float("nan")])])
    nulls = pa.table(
        {"point_name": pa.array(["p", None]), "ts": [START, START], "value": [1.0, 2.0]}
    )
    with pytest.raises(ValueError, match="nulls in column 'point_name'"):
        build_cold_table(SITE, DAY, [nulls])
    with pytest.raises(InvalidNameError, match="site name"):
        build_cold_table("../etc", DAY, [good])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["p1", "P1", "p2", "ses/a:1/x", "é"]),
                st.integers(START - 50, START + 50) | st.integers(END - 50, END + 50),
                st.floats(-1e6, 1e6, allow_nan=False),
            ),
            max_size=25,
        ),
        max_size=4,
    )
)
def test_merge_matches_a_plain_python_last_wins_reference(sources):
    expected: dict[tuple[str, int], float] = {}
    for source in sources:
        for name, ts, value in source:
            if START <= ts < END:
                expected[(name, ts)] = value
    tables = [table([r[0] for r in s], [r[1] for r in s], [r[2] for r in s]) for s in sources]
    cold = build_cold_table(SITE, DAY, tables)
    want = sorted(
        ((n, t, v) for (n, t), v in expected.items()), key=lambda r: (r[0].encode(), r[1])
    )
    assert rows(cold) == want
    assert key_runs(cold).canonical


# --- key checksum -------------------------------------------------------------------


def test_checksum_ignores_chunking_ts_type_and_input_order():
    hot = samples(point_names(6), per_point=30)
    digest = key_checksum(hot)
    assert len(digest) == 64 and int(digest, 16) >= 0
    rechunked = pa.Table.from_batches(hot.to_batches(max_chunksize=7))
    assert rechunked.column("ts").num_chunks > 1
    assert key_checksum(rechunked) == digest
    assert key_checksum(hot.slice(0, 50).combine_chunks()) == key_checksum(hot.slice(0, 50))
    cold = build_cold_table(SITE, DAY, [hot])
    assert key_checksum(cold) == digest
    shuffled = hot.take(pa.array(list(range(hot.num_rows))[::-1]))
    assert key_checksum(shuffled) == digest
    encoded = pc.dictionary_encode(hot.column("point_name"))
    dictionary_names = hot.set_column(0, "point_name", encoded)
    assert key_checksum(dictionary_names) == digest


def _bump_last_bit(value: float) -> float:
    bits = struct.unpack("<Q", struct.pack("<d", value))[0] + 1
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def test_checksum_sees_every_change_to_names_times_and_value_bits():
    base = table(["a", "a", "b"], [START, START + 1, START], [1.5, 0.0, 3.0])
    digest = key_checksum(base)
    variants = [
        table(["a", "a", "c"], [START, START + 1, START], [1.5, 0.0, 3.0]),
        table(["a", "b", "b"], [START, START + 1, START + 1], [1.5, 0.0, 3.0]),
        table(["a", "a", "b"], [START, START + 2, START], [1.5, 0.0, 3.0]),
        table(["a", "a", "b"], [START, START + 1, START], [_bump_last_bit(1.5), 0.0, 3.0]),
        table(["a", "a", "b"], [START, START + 1, START], [1.5, -0.0, 3.0]),
        table(["a", "a"], [START, START + 1], [1.5, 0.0]),
        table(["ab", "b"], [START, START], [1.5, 3.0]),
    ]
    digests = {key_checksum(v) for v in variants}
    assert digest not in digests and len(digests) == len(variants)


def test_days_differ_so_checksums_differ():
    one = samples(point_names(2), per_point=3)
    other = samples(point_names(2), per_point=3, day=DAY + timedelta(days=1))
    assert key_checksum(one) != key_checksum(other)


# --- merging a day's sorted raw pulls without a sort -----------------------------------


def _as_dictionary(piece: pa.Table) -> pa.Table:
    return piece.set_column(0, "point_name", pc.dictionary_encode(piece.column("point_name")))


@settings(max_examples=80, deadline=None)
@given(
    cuts=st.lists(st.integers(START + 1, END - 1), max_size=5, unique=True),
    rows_=st.lists(
        st.tuples(
            st.sampled_from(["p1", "P1", "p2", "ses/a:1/x", "é", "z" * 90]),
            st.integers(START, END - 1),
            st.floats(-1e6, 1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=60,
    ),
    dictionary=st.lists(st.booleans(), min_size=6, max_size=6),
    overlap=st.booleans(),
    duplicate=st.booleans(),
    shuffle_pieces=st.randoms(),
)
def test_sorted_disjoint_pieces_merge_without_a_sort_and_equal_the_reference(
    cuts, rows_, dictionary, overlap, duplicate, shuffle_pieces
):
    bounds = [START, *sorted(cuts), END]
    pieces_rows = [[r for r in rows_ if lo <= r[1] < hi] for lo, hi in itertools.pairwise(bounds)]
    if overlap and len(pieces_rows) > 1 and pieces_rows[0]:
        pieces_rows[1].append((*pieces_rows[0][0][:2], 123.0))  # a key in two windows
    if duplicate and rows_:
        pieces_rows[-1].append(rows_[-1])  # a repeated key inside one pull
    expected: dict[tuple[str, int], float] = {}
    for piece in pieces_rows:
        for name, ts, value in piece:
            expected[(name, ts)] = value  # later pieces win, as sources do
    pieces = []
    for index, piece in enumerate(pieces_rows):
        piece = sorted(piece, key=lambda r: (r[0].encode(), r[1]))  # stable: later stays later
        built = table([r[0] for r in piece], [r[1] for r in piece], [r[2] for r in piece])
        pieces.append(_as_dictionary(built) if dictionary[index] else built)
    order = list(range(len(pieces)))
    shuffle_pieces.shuffle(order)
    fast = merge_disjoint_sorted([pieces[i] for i in order])
    if fast is not None:
        assert fast.schema == SAMPLE_SCHEMA and key_runs(fast).canonical
    repeats = any(len({(n, t) for n, t, _v in p}) < len(p) for p in pieces_rows)
    spans = sorted((min(r[1] for r in p), max(r[1] for r in p)) for p in pieces_rows if p)
    disjoint = all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    assert (fast is not None) == (disjoint and not repeats and bool(spans))  # no-sort path
    cold = build_cold_table(SITE, DAY, pieces)
    want = sorted(
        ((n, t, v) for (n, t), v in expected.items()), key=lambda r: (r[0].encode(), r[1])
    )
    assert rows(cold) == want
    assert cold.schema.field("point_name").type == pa.string()
