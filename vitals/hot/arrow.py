"""Arrow preparation shared by both hot store backends.

Upserts map point names to catalogue ids once per batch (a hash look-up in Arrow, not
a query per row), drop rows of unknown points (counted, not an error), and sort the
rows point-major with duplicate keys collapsed (last row wins). Point-major order is
what makes B-tree inserts fast on both backends, and a batch with no duplicate keys
is what PostgreSQL's ``ON CONFLICT DO UPDATE`` requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.samples import SAMPLE_SCHEMA

_KEYED_FIELDS: list[pa.Field[Any]] = [
    pa.field("point_id", pa.int64(), nullable=False),
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
]
KEYED_SCHEMA = pa.schema(_KEYED_FIELDS)

# A site's catalogue as two aligned columns: ids[i] is the id of names[i]. (Quoted: the
# type parameters exist in pyarrow-stubs only.)
PointIds: TypeAlias = "pa.Array[pa.Scalar[pa.lib.Int64Type]]"
PointNames: TypeAlias = "pa.Array[pa.Scalar[pa.lib.StringType]]"
# Columns of a read stay chunked as they come (no copies of a day); writes combine them.
Column: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"


READ_PARTS = 2  # full-site reads run as this many name ranges on parallel connections
MIN_POINTS_PER_PART = 500


@dataclass(frozen=True)
class KeyedSamples:
    """Rows ready to write: ``KEYED_SCHEMA``, sorted by (point_id, ts), unique keys."""

    table: pa.Table
    unknown_rows: int


def _strictly_increasing(point_id: Column, ts: Column) -> bool:
    """Whether rows are already in (point, ts) order with no repeated key."""
    n = len(point_id)
    if n < 2:
        return True
    p0, p1 = point_id.slice(0, n - 1), point_id.slice(1)
    t0, t1 = ts.slice(0, n - 1), ts.slice(1)
    ok = pc.or_(pc.greater(p1, p0), pc.and_(pc.equal(p1, p0), pc.greater(t1, t0)))
    return bool(pc.all(ok).as_py())


def _contiguous(column: Column) -> pa.Array[Any]:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _names(catalogue_names: PointNames) -> list[str]:
    """The names as Python strings (the catalogue's name column is NOT NULL)."""
    return cast(list[str], catalogue_names.to_pylist())


def key_samples(
    samples: pa.Table, catalogue_ids: PointIds, catalogue_names: PointNames
) -> KeyedSamples:
    """Map names to ids (exact match), drop unknown points, sort and de-duplicate.

    ``catalogue_ids[i]`` is the id of ``catalogue_names[i]``. Among rows with the same
    (point, ts) key the last one in ``samples`` wins.
    """
    if samples.num_rows == 0:
        return KeyedSamples(KEYED_SCHEMA.empty_table(), 0)
    index: Column = pc.index_in(samples.column("point_name"), value_set=catalogue_names)
    known_rows = pc.count(index).as_py()  # index is null where the name is unknown
    unknown_rows = samples.num_rows - known_rows
    ts: Column = samples.column("ts")
    value: Column = samples.column("value")
    if unknown_rows:
        known = pc.is_valid(index)
        index, ts, value = pc.filter(index, known), pc.filter(ts, known), pc.filter(value, known)
    if known_rows == 0:
        return KeyedSamples(KEYED_SCHEMA.empty_table(), unknown_rows)
    point_id = _contiguous(pc.take(catalogue_ids.cast(pa.int64()), index))
    ts, value = _contiguous(ts), _contiguous(value)
    table = pa.Table.from_arrays([point_id, ts, value], schema=KEYED_SCHEMA)
    if not _strictly_increasing(point_id, ts):
        table = _sort_last_wins(table)
    return KeyedSamples(table, unknown_rows)


def _sort_order(point_id: Column, ts: Column) -> pa.Array[Any]:
    """Stable sort indices by (point_id, ts), on one packed int64 key when it fits.

    A day of samples spans < 2**27 ms, so ``point_id << 32 | (ts - min_ts)`` is one
    int64 column: sorting it is faster and lighter than a two-key table sort.
    """
    lo, hi = pc.min_max(ts).values()
    span = hi.as_py() - lo.as_py()
    max_id = pc.max(point_id).as_py()
    if span < 2**32 and max_id < 2**30:
        packed = pc.add(pc.multiply(point_id, 2**32), pc.subtract(ts, lo))
        return pc.sort_indices(packed)  # stable: equal keys keep their input order
    keys = pa.table({"point_id": point_id, "ts": ts})
    return pc.sort_indices(keys, sort_keys=[("point_id", "ascending"), ("ts", "ascending")])


def _sort_last_wins(table: pa.Table) -> pa.Table:
    point_id, ts = table.column("point_id").chunk(0), table.column("ts").chunk(0)
    table = table.take(_sort_order(point_id, ts)).combine_chunks()
    n = table.num_rows
    point_id, ts = table.column("point_id").chunk(0), table.column("ts").chunk(0)
    same_as_next = pc.and_(
        pc.equal(point_id.slice(0, n - 1), point_id.slice(1)),
        pc.equal(ts.slice(0, n - 1), ts.slice(1)),
    )
    if not pc.any(same_as_next).as_py():
        return table
    # the sort is stable, so of equal keys the last one in input order is the later write
    keep = pa.concat_arrays([pc.invert(same_as_next), pa.array([True])])
    return table.filter(keep)


def samples_from_rows(
    rows: pa.Table, catalogue_ids: PointIds, catalogue_names: PointNames
) -> pa.Table:
    """Turn (point_id, ts, value) rows read from SQL into a sorted sample table.

    The queries ask for (name, ts) order already; this checks it in one vectorised pass
    (ranks of names, not string compares) and sorts only if a planner did not deliver
    it, so callers can rely on the order whatever the database chose.
    """
    if rows.num_rows == 0:
        return SAMPLE_SCHEMA.empty_table()
    names = _names(catalogue_names)
    by_name = pa.array(sorted(range(len(names)), key=names.__getitem__), pa.int64())
    ranked_ids = pc.take(catalogue_ids.cast(pa.int64()), by_name)
    ranked_names = pc.take(catalogue_names, by_name)
    # chunked arrays are kept as they come: no copies of a day-sized read
    rank: Column = pc.index_in(
        rows.column("point_id"), value_set=ranked_ids.cast(rows.schema.field("point_id").type)
    )
    ts: Column = rows.column("ts").cast(pa.int64())
    value: Column = rows.column("value").cast(pa.float64())
    if rank.null_count:
        raise RuntimeError("hot store returned samples of a point missing from its catalogue")
    if not _strictly_increasing(rank, ts):
        order = pc.sort_indices(
            pa.table({"rank": rank, "ts": ts}),
            sort_keys=[("rank", "ascending"), ("ts", "ascending")],
        )
        rank, ts, value = pc.take(rank, order), pc.take(ts, order), pc.take(value, order)
    return pa.Table.from_arrays([pc.take(ranked_names, rank), ts, value], schema=SAMPLE_SCHEMA)


def samples_of_points(parts: list[tuple[str, pa.Table]]) -> pa.Table:
    """A sample table from per-point (ts, value) reads given in name order.

    Each read is one point's rows in ts order (its own query), so no catalogue id has
    to be mapped back to a name: the name column is the name repeated.
    """
    if not parts:
        return SAMPLE_SCHEMA.empty_table()
    names = [pa.repeat(pa.scalar(name, pa.string()), rows.num_rows) for name, rows in parts]
    ts = [chunk for _, rows in parts for chunk in rows.column("ts").cast(pa.int64()).chunks]
    value = [chunk for _, rows in parts for chunk in rows.column("value").cast(pa.float64()).chunks]
    return pa.Table.from_arrays(
        [
            pa.chunked_array(names, pa.string()),
            pa.chunked_array(ts, pa.int64()),
            pa.chunked_array(value, pa.float64()),
        ],
        schema=SAMPLE_SCHEMA,
    )


def name_ranges(
    names: PointNames, parts: int = READ_PARTS, *, min_points: int | None = None
) -> list[tuple[str, str | None]]:
    """Split a site's point names into contiguous ``[lo, hi)`` ranges in code point order.

    Reading each range on its own connection lets the database decode rows on several
    cores while every range still comes back in (name, ts) order; ``hi`` is None for
    the last range. Code point order is the order of SQLite's BINARY and PostgreSQL's
    "C" collation, and of Arrow's string sort.
    """
    ordered = sorted(_names(names))
    if not ordered:
        return [("", None)]
    per_part = MIN_POINTS_PER_PART if min_points is None else min_points
    count = max(1, min(parts, len(ordered) // per_part))
    bounds = [ordered[len(ordered) * i // count] for i in range(count)]
    return [(bounds[i], bounds[i + 1] if i + 1 < count else None) for i in range(count)]


def concat_rows(parts: list[pa.Table]) -> pa.Table:
    """Concatenate (point_id, ts, value) parts read in order; empty parts may lack types."""
    kept = [
        part.select(["point_id", "ts", "value"]).cast(KEYED_SCHEMA)
        for part in parts
        if part.num_rows
    ]
    return pa.concat_tables(kept) if kept else KEYED_SCHEMA.empty_table()
