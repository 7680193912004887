"""Arrow preparation of hot store batches: name-to-id mapping, order, last write wins."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.hot_store_helpers import rows_of, samples
from vitals.hot.arrow import KEYED_SCHEMA, key_samples, name_ranges, samples_from_rows
from vitals.samples import SAMPLE_SCHEMA, check_sample_table

NAMES = ["b", "a", "Ä", "c"]
IDS = pa.array([40, 10, 30, 20], pa.int64())  # ids deliberately not in name order

sample_rows = st.lists(
    st.tuples(st.sampled_from([*NAMES, "ghost"]), st.integers(0, 6), st.floats(-1e6, 1e6)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(sample_rows)
def test_key_samples_keeps_the_last_value_per_key_sorted_by_id_and_ts(rows) -> None:
    keyed = key_samples(samples(rows), IDS, pa.array(NAMES))
    model: dict[tuple[int, int], float] = {}
    id_of = dict(zip(NAMES, IDS.to_pylist(), strict=True))
    for name, ts, value in rows:
        if name in id_of:
            model[(id_of[name], ts)] = value
    assert keyed.table.schema == KEYED_SCHEMA
    got = list(zip(*(keyed.table.column(i).to_pylist() for i in range(3)), strict=True))
    assert got == [(pid, ts, model[(pid, ts)]) for pid, ts in sorted(model)]
    assert keyed.unknown_rows == sum(1 for r in rows if r[0] == "ghost")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(IDS.to_pylist()), st.integers(0, 1000)), unique=True, max_size=40
    )
)
def test_samples_from_rows_sorts_by_name_then_ts_whatever_order_arrives(keys) -> None:
    rows = pa.table(
        {
            "point_id": pa.array([k[0] for k in keys], pa.int64()),
            "ts": pa.array([k[1] for k in keys], pa.int64()),
            "value": pa.array([float(k[1]) for k in keys], pa.float64()),
        }
    )
    table = samples_from_rows(rows, IDS, pa.array(NAMES))
    name_of = dict(zip(IDS.to_pylist(), NAMES, strict=True))
    assert table.schema == SAMPLE_SCHEMA
    assert rows_of(table) == sorted((name_of[p], t, float(t)) for p, t in keys)


def test_check_sample_table_names_the_problem() -> None:
    with pytest.raises(TypeError, match=r"pyarrow\.Table"):
        check_sample_table([("a", 1, 1.0)])
    nulls = pa.table(
        {"point_name": ["a", None], "ts": [1, 2], "value": [1.0, 2.0]},
        schema=pa.schema(
            [("point_name", pa.string()), ("ts", pa.int64()), ("value", pa.float64())]
        ),
    )
    with pytest.raises(ValueError, match="'point_name' holds 1 null"):
        check_sample_table(nulls)
    with pytest.raises(ValueError, match=r"non-finite value\(s\), e.g. point 'a' at ts 2"):
        check_sample_table(samples([("a", 1, 1.0), ("a", 2, float("inf"))]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=30), st.integers(1, 4))
def test_name_ranges_cover_every_name_once_in_order(names, parts) -> None:
    ranges = name_ranges(pa.array(names, pa.string()), parts, min_points=1)
    assert 1 <= len(ranges) <= parts and ranges[-1][1] is None
    in_ranges = [
        [n for n in sorted(names) if n >= lo and (hi is None or n < hi)] for lo, hi in ranges
    ]
    assert [n for part in in_ranges for n in part] == sorted(names)
    if len(names) >= parts:
        assert len(ranges) == parts and all(in_ranges)
