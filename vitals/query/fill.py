"""Gap filling on a bucket grid (UTC or local), seeded with the last sample before the window.

Rules (docs/query.md "Fill"): a series lists every grid bucket from its first to its
last real bucket; an empty bucket between two real ones is filled only when they are at
most ``max_gap_ms`` apart (bucket start to bucket start), else listed as ``None``.
Before the first real bucket, the *seed* (the last sample before the window, from any
day file or tier) takes the left neighbour's place: buckets from the window's first
bucket are filled when the first real bucket is at most ``max_gap_ms`` after the
seed's time. Nothing is invented after the last real bucket. Only value aggregates
(avg, twavg, min, max, first, last) are filled; counts, sums, deltas, on-times and
starts of an empty bucket are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

VALUE_AGGS = frozenset({"avg", "twavg", "min", "max", "first", "last", "v"})


def utc_grid(start_ms: int, end_ms: int, width: int) -> list[int]:
    """Bucket starts of fixed-width UTC buckets covering [start, end)."""
    first = start_ms - start_ms % width
    return list(range(first, end_ms, width))


def fill_series(
    t: list[int],
    values: dict[str, list[float | None]],
    grid: Sequence[int],
    *,
    method: str,
    max_gap_ms: int | None,
    seed: tuple[int, float] | None,
) -> tuple[list[int], dict[str, list[float | None]]]:
    """(t, values) listed on every grid bucket from the first (seeded) to the last real one."""
    if not t:
        return t, values
    real = {start: i for i, start in enumerate(t)}
    first_real = t[0]
    lo = 0
    if seed is not None and (max_gap_ms is None or first_real - seed[0] <= max_gap_ms):
        lo = 0
    else:
        seed = None
        lo = _index(grid, first_real)
    hi = _index(grid, t[-1])
    out_t: list[int] = []
    out: dict[str, list[float | None]] = {agg: [] for agg in values}
    left_i: int | None = None
    for g in grid[lo : hi + 1]:
        if g < first_real and seed is None:
            continue
        i = real.get(g)
        out_t.append(g)
        if i is not None:
            for agg, column in values.items():
                out[agg].append(column[i])
            left_i = i
            continue
        right_i = left_i + 1 if left_i is not None else 0
        for agg, column in values.items():
            if agg not in VALUE_AGGS:
                out[agg].append(None)
                continue
            left_v: float | None
            if left_i is None:
                assert seed is not None
                left_t, left_v = seed
            else:
                left_t, left_v = t[left_i], column[left_i]
            right_t, right_v = t[right_i], column[right_i]
            if max_gap_ms is not None and right_t - left_t > max_gap_ms:
                out[agg].append(None)
            elif left_v is None or right_v is None:
                out[agg].append(None)
            elif method == "previous":
                out[agg].append(left_v)
            else:
                out[agg].append(left_v + (right_v - left_v) * (g - left_t) / (right_t - left_t))
    return out_t, out


def _index(grid: Sequence[int], start: int) -> int:
    """Position of bucket ``start`` in the sorted grid (binary search)."""
    lo, hi = 0, len(grid) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if grid[mid] < start:
            lo = mid + 1
        else:
            hi = mid
    return lo
