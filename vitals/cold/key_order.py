"""The (point_name, ts) key order of sample tables: runs, sorting, merging, checksums.

Cold files are sorted by (point_name, ts) with one row per key, and archival proves a
file holds the same keys as the hot store with one SHA-256 over the sorted keys. All of
it is vectorised with Arrow compute (no per-row Python) because one full-load site-day
is ~6.6 M rows: comparing neighbouring rows finds point runs without hashing the names,
and the checksum hashes Arrow buffers directly.

Names compare as raw UTF-8 bytes (Arrow's and Parquet's order, SQLite's BINARY
collation), never by locale.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.samples import SAMPLE_SCHEMA

CHECKSUM_VERSION = b"vitals-key-checksum-v1\n"

ArrowColumn: TypeAlias = "pa.Array[Any] | pa.ChunkedArray[Any]"


@dataclass(frozen=True)
class KeyRuns:
    """The point runs of a table, in row order, and whether its keys are canonical.

    ``canonical`` means rows are sorted by (point_name, ts) with no duplicate key.
    ``names``/``counts`` list each run of equal point names (one run per point when
    canonical).
    """

    names: tuple[str, ...]
    counts: tuple[int, ...]
    canonical: bool
    duplicate_keys: int
    unsorted_pairs: int


def _as_int64(ts: ArrowColumn) -> ArrowColumn:
    """The ts column as int64 epoch ms (a zero-copy view of timestamp[ms])."""
    if pa.types.is_timestamp(ts.type):
        if ts.type.unit != "ms":
            raise ValueError(f"ts column has unit {ts.type.unit!r}, expected 'ms'")
        return pc.cast(ts, pa.int64())
    if not pa.types.is_int64(ts.type):
        raise ValueError(f"ts column has type {ts.type}, expected int64 or timestamp[ms]")
    return ts


def _count_true(mask: ArrowColumn) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _name_boundaries(names: ArrowColumn) -> pa.ChunkedArray[Any]:
    """``names[i] != names[i + 1]`` for each row but the last, chunk by chunk.

    Dictionary chunks (cold files read with ``read_dictionary``) compare their integer
    indices, which is ~10x cheaper than materialising 6.6 M strings. A dictionary holding
    one string twice only adds boundaries, which shows up as "out of order", never hides
    a problem.
    """
    all_chunks = names.chunks if isinstance(names, pa.ChunkedArray) else [names]
    chunks = [chunk for chunk in all_chunks if len(chunk)]
    pieces: list[pa.Array[Any]] = []
    for position, chunk in enumerate(chunks):
        comparable = chunk.indices if isinstance(chunk, pa.DictionaryArray) else chunk
        if len(chunk) > 1:
            pieces.append(pc.not_equal(comparable.slice(0, len(chunk) - 1), comparable.slice(1)))
        if position + 1 < len(chunks):
            pieces.append(pa.array([chunk[-1].as_py() != chunks[position + 1][0].as_py()]))
    return pa.chunked_array(pieces, pa.bool_())


def key_runs(table: pa.Table) -> KeyRuns:
    """Find point runs by comparing each row with the next, and check the key order."""
    n = table.num_rows
    if n == 0:
        return KeyRuns((), (), True, 0, 0)
    names = table.column("point_name")
    ts = _as_int64(table.column("ts"))
    if names.null_count or ts.null_count:
        raise ValueError("point_name and ts must not contain nulls")
    if n == 1:
        return KeyRuns((names[0].as_py(),), (1,), True, 0, 0)
    head_ts, tail_ts = ts.slice(0, n - 1), ts.slice(1)
    boundary = _name_boundaries(names)
    # indices of a boundary mask hold no nulls
    starts = [0, *cast("list[int]", pc.add(pc.indices_nonzero(boundary), 1).to_pylist())]
    counts = [b - a for a, b in zip(starts, [*starts[1:], n], strict=True)]
    run_names = pa.array(names.take(pa.array(starts, pa.int64())).to_pylist(), pa.string())
    same_name = pc.invert(boundary)
    duplicates = _count_true(pc.and_(same_name, pc.equal(head_ts, tail_ts)))
    ts_backwards = _count_true(pc.and_(same_name, pc.less(tail_ts, head_ts)))
    names_backwards = 0
    if len(run_names) > 1:
        k = len(run_names)
        names_backwards = _count_true(
            pc.greater_equal(run_names.slice(0, k - 1), run_names.slice(1))
        )
    unsorted = ts_backwards + names_backwards
    return KeyRuns(
        names=tuple(cast("list[str]", run_names.to_pylist())),  # names hold no nulls
        counts=tuple(counts),
        canonical=duplicates == 0 and unsorted == 0,
        duplicate_keys=duplicates,
        unsorted_pairs=unsorted,
    )


def _name_ranks(names: ArrowColumn) -> ArrowColumn:
    """Each row's point name as its rank among the sorted distinct names (int32).

    Sorting by integer ranks is several times faster than sorting 6.6 M long strings.
    """
    distinct = pc.unique(names)
    ordered = distinct.take(pc.sort_indices(distinct))
    return pc.index_in(names, value_set=ordered)


def sort_keys(table: pa.Table) -> pa.Table:
    """Rows in (point_name, ts) order; stable, so equal keys keep their input order."""
    if table.num_rows <= 1:
        return table
    ranks = _name_ranks(table.column("point_name"))
    order_keys = pa.table({"rank": ranks, "ts": _as_int64(table.column("ts"))})
    order = pc.sort_indices(order_keys, sort_keys=[("rank", "ascending"), ("ts", "ascending")])
    return table.take(order)


def keep_last_per_key(sorted_table: pa.Table) -> pa.Table:
    """Drop every row whose next row has the same key (so the last of each key wins).

    The table must already be in (point_name, ts) order, equal keys in priority order.
    """
    n = sorted_table.num_rows
    if n <= 1:
        return sorted_table
    names = sorted_table.column("point_name")
    ts = _as_int64(sorted_table.column("ts"))
    same_as_next = pc.and_(
        pc.equal(names.slice(0, n - 1), names.slice(1)),
        pc.equal(ts.slice(0, n - 1), ts.slice(1)),
    )
    if not pc.any(same_as_next).as_py():
        return sorted_table
    # table columns are chunked, so is the mask (the stubs type it as one array)
    mask = cast("pa.ChunkedArray[Any]", pc.invert(same_as_next))
    keep = pa.chunked_array([*mask.chunks, pa.array([True])])
    return sorted_table.filter(keep)


def is_canonical(table: pa.Table) -> bool:
    """True when rows are in strict (point_name, ts) order, checked without building runs.

    Why: ``key_runs`` lists every run in Python, which is cheap for a sorted day (a few
    thousand runs) but costs seconds for raw pulls in arrival order (a run per row).
    """
    n = table.num_rows
    if n <= 1:
        return True
    names = table.column("point_name")
    if any(isinstance(chunk, pa.DictionaryArray) for chunk in names.chunks):
        return key_runs(table).canonical
    ts = _as_int64(table.column("ts"))
    head, tail = names.slice(0, n - 1), names.slice(1)
    if not pc.all(pc.less_equal(head, tail)).as_py():
        return False
    same = pc.equal(head, tail)
    backwards = pc.and_(same, pc.less_equal(ts.slice(1), ts.slice(0, n - 1)))
    return not pc.any(backwards).as_py()


def _take_runs(entries: Sequence[tuple[int, int]]) -> pa.Array[Any]:
    """Row indices ``offset, offset+1, ... offset+count-1`` of each (offset, count), in order.

    Built vectorised (run-end decode + cumulative sum, no per-row Python).
    """
    run_ends: list[int] = []
    deltas: list[int] = []
    end = 0
    last = 0  # the running sum before the first row
    for offset, count in entries:
        end += 1
        run_ends.append(end)
        deltas.append(offset - last)
        if count > 1:
            end += count - 1
            run_ends.append(end)
            deltas.append(1)
        last = offset + count - 1
    encoded: pa.RunEndEncodedArray[Any, Any] = pa.RunEndEncodedArray.from_arrays(
        pa.array(run_ends, pa.int64()), pa.array(deltas, pa.int64())
    )
    decoded: pa.Int64Array = pc.run_end_decode(encoded)  # type: ignore[attr-defined]  # not in pyarrow-stubs
    return pc.cumulative_sum(decoded)


_MAX_STRING_BYTES = 2**31 - 1


def _repeated_names(runs: Sequence[tuple[str, int]]) -> pa.Array[Any] | None:
    """A string array holding each name ``count`` times, built from two buffers.

    Taking 6.6 M strings out of a dictionary costs ~1 s; this ~0.2 s. ``None`` past 2 GiB.
    """
    lengths = [len(name.encode("utf-8")) for name, _count in runs]
    counts = [count for _name, count in runs]
    if (
        sum(length * count for length, count in zip(lengths, counts, strict=True))
        > _MAX_STRING_BYTES
    ):
        return None
    # one string per name holding it ``count`` times: their data buffer, back to back,
    # is exactly the data buffer of the wanted array
    repeated = pc.binary_repeat(pa.array([name for name, _count in runs], pa.string()), counts)
    run_ends: list[int] = []
    end = 0
    for count in counts:
        end += count
        run_ends.append(end)
    per_row: pa.Int32Array = pc.run_end_decode(  # type: ignore[attr-defined]  # not in pyarrow-stubs
        pa.RunEndEncodedArray.from_arrays(
            pa.array(run_ends, pa.int32()), pa.array(lengths, pa.int32())
        )
    )
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int32()), pc.cumulative_sum(per_row).cast(pa.int32())]
    )
    offsets_buffer, data_buffer = offsets.buffers()[1], repeated.buffers()[2]
    if offsets_buffer is None or data_buffer is None:  # only an empty array lacks them
        return None
    return pa.StringArray.from_buffers(end, offsets_buffer, data_buffer)


def merge_disjoint_sorted(
    pieces: Sequence[pa.Table], *, keep_names: AbstractSet[str] | None = None
) -> pa.Table | None:
    """Merge sample tables without sorting, when that is provably the same as sorting.

    Applies when every piece is in canonical key order and the pieces' time ranges do
    not overlap (the raw pulls of a day's distinct sub-windows): the merged order is then
    each point's runs taken piece by piece in time order, and no key can repeat. Names
    may be plain or dictionary-encoded (cheap to compare); the result has plain string
    names (``SAMPLE_SCHEMA``). Returns ``None`` when the pieces do not qualify, so the
    caller falls back to :func:`merge_last_wins`.
    """
    pieces = [piece for piece in pieces if piece.num_rows]
    if not pieces:
        return None
    runs = [key_runs(piece) for piece in pieces]
    if not all(run.canonical for run in runs):
        return None
    spans = [pc.min_max(_as_int64(piece.column("ts"))) for piece in pieces]
    starts = [int(span["min"].as_py()) for span in spans]
    ends = [int(span["max"].as_py()) for span in spans]
    order = sorted(range(len(pieces)), key=starts.__getitem__)
    if any(ends[a] >= starts[b] for a, b in itertools.pairwise(order)):
        return None
    entries: list[tuple[str, int, int, int]] = []
    base = 0
    for rank, index in enumerate(order):
        offset = base
        for name, count in zip(runs[index].names, runs[index].counts, strict=True):
            if keep_names is None or name in keep_names:
                entries.append((name, rank, offset, count))
            offset += count
        base += pieces[index].num_rows
    entries.sort()  # by name (code point order is UTF-8 byte order), then time
    per_name: dict[str, int] = {}
    for name, _rank, _offset, count in entries:
        per_name[name] = per_name.get(name, 0) + count
    if not entries:
        return SAMPLE_SCHEMA.empty_table()
    names = _repeated_names(list(per_name.items()))
    if names is None:
        return None
    stacked = pa.concat_tables(
        [
            pa.table({"ts": _as_int64(pieces[i].column("ts")), "value": pieces[i].column("value")})
            for i in order
        ]
    ).take(_take_runs([(offset, count) for _n, _r, offset, count in entries]))
    return pa.Table.from_arrays(
        [names, stacked.column("ts"), stacked.column("value")], schema=SAMPLE_SCHEMA
    )


def merge_last_wins(tables: Sequence[pa.Table]) -> pa.Table:
    """Merge tables given in priority order into canonical key order; the LAST table wins.

    A lone table that is already canonical is returned as is (no copy): that is the
    common archival case of a day read from the hot store.
    """
    non_empty = [t for t in tables if t.num_rows]
    if not non_empty:
        return tables[0] if tables else pa.table({})
    if len(non_empty) == 1 and is_canonical(non_empty[0]):
        return non_empty[0]
    merged = pa.concat_tables(non_empty) if len(non_empty) > 1 else non_empty[0]
    return keep_last_per_key(sort_keys(merged))


def _update_with_buffer(digest: hashlib._Hash, chunk: pa.Array[Any], width: int) -> None:
    """Feed the data bytes of a fixed-width chunk (honouring slice offsets) to a digest."""
    data = chunk.buffers()[1]
    if data is None or len(chunk) == 0:
        return
    start = chunk.offset * width
    digest.update(memoryview(data)[start : start + len(chunk) * width])


def key_checksum(samples: pa.Table, *, runs: KeyRuns | None = None) -> str:
    """SHA-256 over the (point_name, ts, value bits) of all rows in sorted key order.

    The same rows give the same hex digest however they are chunked, whether ts is int64
    or timestamp[ms], names plain or dictionary-encoded, and whether they come from the
    hot store or a cold file read back. ``runs`` may pass :func:`key_runs` already done.
    Layout: a version tag, the row count, then each point run (name length, UTF-8 name,
    row count), then every ts as little-endian int64, then every value's IEEE-754 bits.
    """
    runs = runs if runs is not None else key_runs(samples)
    if not runs.canonical and runs.unsorted_pairs:
        samples = sort_keys(samples)
        runs = key_runs(samples)
    ts = _as_int64(samples.column("ts"))
    values = samples.column("value")
    if not pa.types.is_float64(values.type):
        raise ValueError(f"value column has type {values.type}, expected double")
    if values.null_count:
        raise ValueError("value must not contain nulls")
    digest = hashlib.sha256(CHECKSUM_VERSION)
    digest.update(samples.num_rows.to_bytes(8, "little"))
    for name, count in zip(runs.names, runs.counts, strict=True):
        encoded = name.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "little") + encoded + count.to_bytes(8, "little"))
    for column in (ts, values):
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        for chunk in chunks:
            _update_with_buffer(digest, chunk, 8)
    return digest.hexdigest()
