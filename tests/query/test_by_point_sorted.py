"""``by_point_sorted`` equals a plain per-point stable sort, whichever path it takes.

Bucket tables from raw aggregates and rollup reads are cut into per-point runs and put
in order by run (no row sort) when the runs allow it; overlapping or unsorted runs, and
equal buckets, take the full stable sort. Both must give what a stable sort by bucket of
each point's rows, in table order, gives.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.query.merge import by_point_sorted

COLUMNS = ("bucket", "count", "sum")
HOUR = 3_600_000
BASE = 1_780_000_000_000 // HOUR * HOUR


def table(rows: list[tuple[str, int, float]], *, dictionary: bool = False) -> pa.Table:
    names: pa.Array[Any] = pa.array([r[0] for r in rows], pa.string())
    if dictionary:
        names = names.dictionary_encode()
    return pa.table(
        {
            "point_name": names,
            "bucket": pa.array([r[1] for r in rows], pa.int64()),
            "count": pa.array([1] * len(rows), pa.int64()),
            "sum": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def reference(tables: list[pa.Table]) -> dict[str, list[tuple[int, float]]]:
    """Per point, its rows in table order, stably sorted by bucket (Python's sort)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for t in tables:
        for name, bucket, total in zip(
            t.column("point_name").to_pylist(),
            t.column("bucket").to_pylist(),
            t.column("sum").to_pylist(),
            strict=True,
        ):
            out.setdefault(name, []).append((bucket, total))
    return {name: sorted(rows, key=lambda r: r[0]) for name, rows in out.items()}


def rows_by_point(found: dict[str, pa.Table]) -> dict[str, list[tuple[int, float]]]:
    for part in found.values():
        assert part.column_names == list(COLUMNS)
    return {
        name: list(zip(t.column("bucket").to_pylist(), t.column("sum").to_pylist(), strict=True))
        for name, t in found.items()
    }


def test_hot_buckets_before_month_rollups_come_out_in_time_order() -> None:
    """The year-at-1h shape: the recent (raw) buckets first, then older month files."""
    recent = table([(p, BASE + 100 * HOUR + h * HOUR, float(h)) for p in "ab" for h in range(3)])
    months = [
        table([(p, BASE + m * 10 * HOUR + h * HOUR, -float(h)) for p in "ab" for h in range(4)])
        for m in range(3)
    ]
    found = by_point_sorted([recent, *months], COLUMNS)
    assert rows_by_point(found) == reference([recent, *months])
    assert [b for b, _ in rows_by_point(found)["a"]][:5] == [BASE + h * HOUR for h in range(4)] + [
        BASE + 10 * HOUR
    ]


def test_overlapping_and_unsorted_runs_take_the_stable_sort() -> None:
    first = table([("p", BASE + 2 * HOUR, 1.0), ("p", BASE, 2.0), ("q", BASE, 3.0)])
    second = table([("p", BASE + HOUR, 4.0), ("p", BASE + 2 * HOUR, 5.0), ("q", BASE, 6.0)])
    found = by_point_sorted([first, second], COLUMNS)
    # equal buckets keep their table order: 1.0 (first table) before 5.0
    assert rows_by_point(found) == {
        "p": [(BASE, 2.0), (BASE + HOUR, 4.0), (BASE + 2 * HOUR, 1.0), (BASE + 2 * HOUR, 5.0)],
        "q": [(BASE, 3.0), (BASE, 6.0)],
    }


def test_a_point_split_into_two_runs_of_one_table() -> None:
    """Runs are per point, not per table: a point may come back later in a table."""
    mixed = table([("a", BASE + HOUR, 1.0), ("b", BASE, 2.0), ("a", BASE, 3.0)])
    assert rows_by_point(by_point_sorted([mixed], COLUMNS)) == {
        "a": [(BASE, 3.0), (BASE + HOUR, 1.0)],
        "b": [(BASE, 2.0)],
    }


def test_dictionary_names_empty_tables_and_nothing() -> None:
    assert by_point_sorted([], COLUMNS) == {}
    empty = table([])
    assert by_point_sorted([empty, empty], COLUMNS) == {}
    coded = table([("x", BASE + HOUR, 1.0), ("y", BASE, 2.0)], dictionary=True)
    plain = table([("x", BASE, 3.0)])
    tables = [empty, coded, plain]
    assert rows_by_point(by_point_sorted(tables, COLUMNS)) == reference(tables)


def test_tables_differing_only_in_nullability_join() -> None:
    """A rollup file's not-null columns and a raw aggregate's nullable ones, points apart."""
    strict = table([("only-rollup", BASE, 1.0), ("both", BASE, 2.0)])
    strict = strict.cast(pa.schema([f.with_nullable(False) for f in strict.schema]))
    loose = table([("both", BASE + HOUR, 3.0), ("only-raw", BASE, 4.0)])
    tables = [loose, strict]
    assert rows_by_point(by_point_sorted(tables, COLUMNS)) == reference(tables)


def test_spans_too_wide_to_pack_still_sort() -> None:
    far = table([("p", 2**50, 1.0), ("p", -(2**50), 2.0), ("q", 0, 3.0), ("p", 2**50, 4.0)])
    assert rows_by_point(by_point_sorted([far], COLUMNS)) == reference([far])


name = st.sampled_from(["a", "B", "é", "a b", "zz"])
hours = st.integers(-30, 30)
rows = st.lists(st.tuples(name, hours, st.integers(-9, 9).map(float)), max_size=25)
sorted_run = st.tuples(name, st.integers(-40, 40), st.integers(1, 8))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            rows.map(lambda r: [(n, BASE + h * HOUR, v) for n, h, v in r]),
            st.lists(sorted_run, max_size=4).map(
                lambda runs: [
                    (n, BASE + (start + i) * HOUR, float(i))
                    for n, start, k in runs
                    for i in range(k)
                ]
            ),
        ),
        max_size=6,
    )
)
def test_any_tables_equal_the_reference(tables_rows: list[list[tuple[str, int, float]]]) -> None:
    tables = [table(r) for r in tables_rows]
    assert rows_by_point(by_point_sorted(tables, COLUMNS)) == reference(tables)
