"""``aggregate_rows`` equals plain-Python bucket arithmetic, whichever path it takes.

One sample per bucket (5 min data at 5 min) skips the hash aggregation; keys too wide
to pack take the two-key one. Sums add in time order from 0.0 (so -0.0 alone sums to
0.0, as Arrow's hash sum does), min and max keep the first of equal values, ``last``
is the latest sample.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.query.merge import BUCKET_SCHEMA, PointRows, aggregate_rows

FIVE_MIN = 300_000
T0 = 1_780_000_000_000 // 86_400_000 * 86_400_000


def point(ts: list[int], values: list[float]) -> PointRows:
    return PointRows(pa.array(ts, pa.int64()), pa.array(values, pa.float64()))


def reference(rows: dict[str, PointRows], width: int) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for name, p in rows.items():
        buckets: dict[int, list[tuple[int, float]]] = {}
        for ts, value in zip(p.ts.to_pylist(), p.value.to_pylist(), strict=True):
            buckets.setdefault(ts // width * width, []).append((ts, value))
        for bucket, samples in sorted(buckets.items()):
            total = 0.0
            for _, value in samples:
                total += value
            values = [v for _, v in samples]
            out.append(
                (
                    name,
                    bucket,
                    len(samples),
                    total,
                    min(values),
                    max(values),
                    values[-1],
                    samples[-1][0],
                )
            )
    return out


def rows_of(table: pa.Table) -> list[tuple[object, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def signs(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows with floats as their repr, so -0.0 and 0.0 differ."""
    return [tuple(repr(v) if isinstance(v, float) else v for v in row) for row in rows]


def test_one_sample_per_bucket_gives_the_samples_as_buckets() -> None:
    rows = {
        "b": point([T0 + i * FIVE_MIN for i in range(4)], [1.5, -0.0, 0.0, 7.0]),
        "a": point([T0 + FIVE_MIN, T0 + 3 * FIVE_MIN], [2.0, -1e300]),
    }
    table = aggregate_rows(rows, FIVE_MIN)
    assert table.schema == BUCKET_SCHEMA
    assert signs(rows_of(table)) == signs(reference(rows, FIVE_MIN))
    assert rows_of(table)[1][3] == 0.0 and repr(rows_of(table)[1][4]) == "-0.0"  # sum vs min


def test_several_samples_per_bucket_sum_in_time_order() -> None:
    values = [1e16, 1.0, -1e16, 1.0, -0.0, 0.0]  # order-sensitive sum; -0.0 before 0.0
    rows = {"p": point([T0 + i * 60_000 for i in range(6)], values)}
    [hour] = rows_of(aggregate_rows(rows, 3_600_000))
    assert hour[2:] == (6, 1.0, -1e16, 1e16, 0.0, T0 + 5 * 60_000)
    assert signs(rows_of(aggregate_rows(rows, 120_000))) == signs(reference(rows, 120_000))


def test_columns_limit_the_table_and_unknown_ones_are_refused() -> None:
    rows = {"p": point([T0, T0 + 1, T0 + FIVE_MIN], [1.0, 2.0, 4.0])}
    table = aggregate_rows(rows, FIVE_MIN, ("bucket", "count", "sum"))
    assert table.column_names == ["point_name", "bucket", "count", "sum"]
    assert rows_of(table) == [("p", T0, 2, 3.0), ("p", T0 + FIVE_MIN, 1, 4.0)]
    single = aggregate_rows({"p": point([T0], [3.0])}, FIVE_MIN, ("bucket", "max", "last"))
    assert rows_of(single) == [("p", T0, 3.0, 3.0)]
    assert aggregate_rows({}, FIVE_MIN, ("bucket", "min")).column_names == [
        "point_name",
        "bucket",
        "min",
    ]
    assert aggregate_rows({"p": point([], [])}, FIVE_MIN).num_rows == 0
    with pytest.raises(ValueError, match="unknown bucket columns \\['avg'\\]"):
        aggregate_rows(rows, FIVE_MIN, ("bucket", "avg"))


def test_pre_1970_and_far_apart_points_still_bucket_exactly() -> None:
    rows = {
        "old": point([-(2**45) - 1, -(2**45), -7, -1], [1.0, 2.0, 3.0, 4.0]),
        "new": point([2**45, 2**45 + 1], [5.0, 6.0]),  # span too wide to pack: two keys
    }
    for width in (1, 7, FIVE_MIN):
        assert rows_of(aggregate_rows(rows, width)) == reference(rows, width)


value = st.sampled_from([0.0, -0.0, 1.5, -2.25, 1e16, -1e16, 3.0, 0.1])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([T0, -(10**6), 0]),
            st.lists(st.tuples(st.integers(-3000, 3000), value), max_size=30),
        ),
        max_size=4,
    ),
    st.sampled_from([1, 7, 60_000, FIVE_MIN, 3_600_000]),
)
def test_any_rows_equal_the_reference(
    points: list[tuple[int, list[tuple[int, float]]]], width: int
) -> None:
    rows: dict[str, PointRows] = {}
    for i, (base, samples) in enumerate(points):
        by_ts = {base + step * 1000: v for step, v in samples}
        stamps = sorted(by_ts)
        rows[f"p{i}"] = point(stamps, [by_ts[t] for t in stamps])
    assert signs(rows_of(aggregate_rows(rows, width))) == signs(reference(rows, width))
