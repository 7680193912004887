"""Per-point aggregates of one day's samples over their (point, ts)-sorted runs.

A full-load site-day is 6.6 M rows of ~4,600 points, so nothing here touches a row in
Python and few full-length arrays are built (each fresh 53 MB array costs page faults):

- names become integer codes (the cold file's dictionary, read as such; plain strings
  from the hot store are encoded once), ranked in UTF-8 byte order;
- point runs are where the code changes (a few thousand indices); codes increasing run
  to run and no gap going back means the rows are already in key order, else they are
  sorted once (stable, so equal keys keep their input order);
- row-pair figures (gap, value falling, value 0/1, outside the unit's bounds) are one
  DuckDB aggregation over zero-copy slices, the pairs that cross from one point to the
  next filtered out; the first row is added apart;
- flat runs (consecutive equal values) are stretches of equal neighbour pairs: one
  index per such pair, none for the rows of a point whose value keeps changing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

# Each pair (row i - 1, row i) speaks for row i's value; gaps and falls only where both
# rows are one point. v = 0 OR v = 1 and the bounds compare in DuckDB's order (NaN above
# every number), as the report always did.
_PAIR_SQL = """
SELECT p, max(gap) FILTER (WHERE NOT cross_point) AS inner_gap,
    min(gap) FILTER (WHERE NOT cross_point) AS min_gap,
    count(*) FILTER (WHERE down AND NOT cross_point) AS downs,
    count(*) FILTER (WHERE NOT (v = 0 OR v = 1)) AS not01,
    count(*) FILTER (WHERE v < b.lo OR v > b.hi) AS implausible
FROM pairs LEFT JOIN bounds b ON pairs.p = b.code GROUP BY p
"""
_MEDIAN_SQL = """
SELECT p, median(gap) AS median_gap FROM pairs
WHERE NOT cross_point AND p IN (SELECT code FROM wanted) GROUP BY p
"""


@dataclass(frozen=True)
class PointRuns:
    """Per point with samples, in name order: counts, times, gaps, flags (Python lists).

    ``inner_gap``/``median_gap`` are ``None`` for a point with one sample; ``median_gap``
    is also ``None`` where the caller's ``wants_median`` said it is not needed.
    """

    names: list[str]
    samples: list[int]
    first_ts: list[int]
    last_ts: list[int]
    inner_gap: list[int | None]
    median_gap: list[float | None]
    downs: list[int]
    only01: list[bool]
    implausible: list[int]
    flat_ms: list[int]


def _codes(names: pa.ChunkedArray[Any]) -> tuple[pa.Array[Any], pa.Array[Any]]:
    """(int32 code per row, distinct names sorted by UTF-8 bytes): code = index in them."""
    if not pa.types.is_dictionary(names.type):
        names = pc.dictionary_encode(names)
    chunks = cast("list[pa.DictionaryArray[Any, Any]]", names.unify_dictionaries().chunks)
    dictionary: pa.Array[Any] = pa.array([], pa.string())
    indices: pa.Array[Any] = pa.array([], pa.int32())
    if chunks:  # after unifying, every chunk holds the same dictionary
        dictionary = chunks[0].dictionary.cast(pa.string())
        indices = pa.chunked_array([chunk.indices for chunk in chunks]).combine_chunks()
    ordered = pc.unique(dictionary)
    ordered = ordered.take(pc.sort_indices(ordered))
    if len(ordered) == len(dictionary) and ordered.equals(dictionary):
        return indices.cast(pa.int32()), ordered  # a sorted day file's usual dictionary
    rank = pc.index_in(dictionary, value_set=ordered).cast(pa.int32())
    return pc.take(rank, indices), ordered


def _starts(codes: pa.Array[Any]) -> tuple[pa.Array[Any], pa.Array[Any]]:
    """(row index where each run of equal codes starts, mask of code changes per pair)."""
    n = len(codes)
    changes = pc.not_equal(codes.slice(0, n - 1), codes.slice(1))
    starts = pc.add(pc.indices_nonzero(changes), pa.scalar(1, pa.uint64()))
    return pa.concat_arrays([pa.array([0], pa.uint64()), starts]).cast(pa.int64()), changes


def _flat_ms(
    codes: pa.Array[Any],
    ts: pa.Array[Any],
    value: pa.Array[Any],
    changes: pa.Array[Any],
    point_codes: list[int],
) -> list[int]:
    """Per point (``point_codes``) the longest span of consecutive equal non-zero values."""
    n = len(ts)
    if n < 2:
        return [0] * len(point_codes)
    # equal[i]: rows i and i+1 are the same point with the same value
    equal = pc.and_not(pc.equal(value.slice(0, n - 1), value.slice(1)), changes)
    pairs = pc.cast(pc.indices_nonzero(equal), pa.int64())
    if not len(pairs):
        return [0] * len(point_codes)
    # a flat run is a stretch of consecutive equal pairs: from its first pair's left
    # row to its last pair's right row
    k = len(pairs)
    breaks = pc.not_equal(pc.add(pairs.slice(0, k - 1), 1), pairs.slice(1))
    run_first = pa.concat_arrays(
        [pa.array([0], pa.int64()), pc.add(pc.cast(pc.indices_nonzero(breaks), pa.int64()), 1)]
    )
    run_last = pa.concat_arrays([pc.subtract(run_first.slice(1), 1), pa.array([k - 1], pa.int64())])
    left = pc.take(pairs, run_first)
    right = pc.add(pc.take(pairs, run_last), 1)
    span = pc.subtract(pc.take(ts, right), pc.take(ts, left))
    keep = pc.and_(
        pc.greater(span, pa.scalar(0, pa.int64())),
        pc.not_equal(pc.take(value, left), pa.scalar(0.0)),
    )
    owner = pc.take(codes, pc.filter(left, keep))
    best = (
        pa.table({"p": owner, "span": pc.filter(span, keep)})
        .group_by("p")
        .aggregate([("span", "max")])
    )
    longest = dict(
        zip(
            cast(list[int], best.column("p").to_pylist()),
            cast(list[int], best.column("span_max").to_pylist()),
            strict=True,
        )
    )
    return [longest.get(code, 0) for code in point_codes]


def point_runs(
    samples: pa.Table,
    bounds: Callable[[str], tuple[float, float] | None],
    wants_median: Callable[[str, int, int | None, int | None], bool],
) -> PointRuns:
    """The day's per-point aggregates (``samples``: point_name, ts, value; any order).

    ``bounds(name)`` gives the plausible (lo, hi) of a point or ``None``;
    ``wants_median(name, samples, inner_gap, min_gap)`` says whether its median gap is
    needed (it costs a second pass, so only points that can use it pay).
    """
    for column in ("point_name", "ts", "value"):
        if samples.column(column).null_count:
            raise ValueError(f"quality samples: column {column!r} holds nulls")
    if samples.num_rows == 0:
        return PointRuns([], [], [], [], [], [], [], [], [], [])
    codes, names_sorted = _codes(samples.column("point_name"))
    ts = samples.column("ts").combine_chunks().cast(pa.int64())
    value = samples.column("value").combine_chunks()
    lo_hi = [bounds(name) for name in cast(list[str], names_sorted.to_pylist())]
    conn = duckdb.connect()
    try:
        conn.execute("SET threads TO 2")
        conn.register(
            "bounds",
            pa.table(
                {
                    "code": pa.array(range(len(lo_hi)), pa.int32()),
                    "lo": pa.array([b[0] if b else None for b in lo_hi], pa.float64()),
                    "hi": pa.array([b[1] if b else None for b in lo_hi], pa.float64()),
                }
            ),
        )
        starts, changes = _starts(codes)
        per_code = _pair_figures(conn, codes, ts, value, changes)
        point_codes = cast(list[int], pc.take(codes, starts).to_pylist())
        in_order = all(a < b for a, b in itertools.pairwise(point_codes)) and all(
            row["min_gap"] is None or row["min_gap"] >= 0 for row in per_code.values()
        )
        if not in_order:  # sort once, stable: equal keys keep their input order
            order = pc.sort_indices(
                pa.table({"c": codes, "ts": ts}),
                sort_keys=[("c", "ascending"), ("ts", "ascending")],
            )
            codes, ts, value = pc.take(codes, order), pc.take(ts, order), pc.take(value, order)
            starts, changes = _starts(codes)
            per_code = _pair_figures(conn, codes, ts, value, changes)
            point_codes = cast(list[int], pc.take(codes, starts).to_pylist())
        n = len(codes)
        names = [cast(str, names_sorted[code].as_py()) for code in point_codes]
        run_starts = cast(list[int], starts.to_pylist())
        counts = [b - a for a, b in zip(run_starts, [*run_starts[1:], n], strict=True)]
        wanted = [
            code
            for code, name, count in zip(point_codes, names, counts, strict=True)
            if count > 1
            and wants_median(name, count, per_code[code]["inner_gap"], per_code[code]["min_gap"])
        ]
        medians: dict[int, float] = {}
        if wanted:
            conn.register("wanted", pa.table({"code": pa.array(wanted, pa.int32())}))
            for row in conn.sql(_MEDIAN_SQL).to_arrow_table().to_pylist():
                medians[row["p"]] = row["median_gap"]
    finally:
        conn.close()
    first_value = cast(float, value[0].as_py())  # row 0: the one row no pair speaks for
    first_bounds = lo_hi[point_codes[0]]
    only01, implausible, inner, downs = [], [], [], []
    for position, code in enumerate(point_codes):
        row = per_code.get(code)
        ok01 = row is None or row["not01"] == 0
        bad = row["implausible"] if row else 0
        if position == 0:
            ok01 = ok01 and first_value in (0.0, 1.0)
            if first_bounds is not None and not (
                first_bounds[0] <= first_value <= first_bounds[1]
            ):  # NaN too: above every bound in DuckDB's order
                bad += 1
        only01.append(ok01)
        implausible.append(bad)
        inner.append(row["inner_gap"] if row else None)
        downs.append(row["downs"] if row else 0)
    last_rows = pa.array([a + c - 1 for a, c in zip(run_starts, counts, strict=True)], pa.int64())
    return PointRuns(
        names=names,
        samples=counts,
        first_ts=cast(list[int], pc.take(ts, starts).to_pylist()),
        last_ts=cast(list[int], pc.take(ts, last_rows).to_pylist()),
        inner_gap=inner,
        median_gap=[medians.get(code) for code in point_codes],
        downs=downs,
        only01=only01,
        implausible=implausible,
        flat_ms=_flat_ms(codes, ts, value, changes, point_codes),
    )


def _pair_figures(
    conn: duckdb.DuckDBPyConnection,
    codes: pa.Array[Any],
    ts: pa.Array[Any],
    value: pa.Array[Any],
    changes: pa.Array[Any],
) -> dict[int, dict[str, Any]]:
    """Code -> the pair aggregates of :data:`_PAIR_SQL` (zero-copy slices, no new rows)."""
    n = len(codes)
    if n < 2:
        return {}
    pairs = pa.table(
        {
            "p": codes.slice(1),
            "v": value.slice(1),
            "gap": pc.subtract(ts.slice(1), ts.slice(0, n - 1)),
            "down": pc.less(value.slice(1), value.slice(0, n - 1)),
            "cross_point": changes,
        }
    )
    conn.register("pairs", pairs)
    return {row["p"]: row for row in conn.sql(_PAIR_SQL).to_arrow_table().to_pylist()}
