"""Real two-tier test sites for query tests, and an independent plain-Python reference.

``QuerySite`` writes samples through the real hot store (SQLite) and real cold day
files (``vitals.cold.file``) into a real cold store folder, plus optional rollup files.
``reference_query`` recomputes any query with dicts and loops only (no DuckDB/Arrow), so
the engine is checked against something that shares none of its code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.client import AcePoint
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.key_order import merge_last_wins
from vitals.cold.keys import cold_day_key, rollup_day_key
from vitals.query.engine import QueryEngine
from vitals.query.plan import QueryLimits
from vitals.query.types import INTERVALS_MS
from vitals.rollups.day import build_rollup_table, rollup_bytes_from_cold, rollup_file_bytes
from vitals.samples import SAMPLE_SCHEMA


def sample_table(rows: Iterable[tuple[str, int, float]]) -> pa.Table:
    rows = list(rows)
    return pa.table(
        {
            "point_name": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        },
        schema=SAMPLE_SCHEMA,
    )


def open_cold_store(folder: Path) -> ColdStoreResource:
    return ColdStoreResource(url=str(folder))


class QuerySite:
    """One site on a real SQLite hot store and a real local cold store."""

    def __init__(self, root: Path, site: str, points: Sequence[str]) -> None:
        self.root = root
        self.site = site
        self.hot = HotStoreResource(url=str(root / "hot.sqlite"))
        self.cold = open_cold_store(root / "cold")
        self.hot.upsert_points(site, [AcePoint(name) for name in points])

    def engine(self, limits: QueryLimits | None = None) -> QueryEngine:
        return QueryEngine(self.hot, self.cold, limits=limits)

    def put_hot(self, rows: Sequence[tuple[str, int, float]]) -> None:
        if rows:
            self.hot.upsert_samples(self.site, sample_table(rows))

    def put_cold_day(self, day: date, rows: Sequence[tuple[str, int, float]]) -> bytes:
        """Write the day's cold file (rows deduped, later rows win) and return its bytes."""
        table = build_cold_table(self.site, day, [sample_table(rows)])
        data = cold_file_bytes(table, site=self.site, day=day, sources=["test"])
        self.cold.put_bytes(cold_day_key(self.site, day), data)
        return data

    def put_rollup_from_cold(self, day: date, cold_bytes: bytes) -> None:
        self.cold.put_bytes(
            rollup_day_key(self.site, day), rollup_bytes_from_cold(cold_bytes, self.site, day)
        )

    def rollup_day(self, day: date) -> dict:
        """The ``cold_rollups`` asset's own per-day step: rollup tied to the cold identity."""
        from vitals_assets.rollups import _rollup_site_day

        return _rollup_site_day(self.cold, self.site, day)

    def compact_month(self, day: date, *, year_file: bool = True):
        """Rebuild the month rollup file of ``day``'s month, then (``year_file``) its year
        file, as the ``rollup_months`` asset does after the month's days."""
        from vitals.rollups.month import compact_rollup_month
        from vitals.rollups.year import compact_rollup_year

        outcome = compact_rollup_month(self.cold, self.site, day.year, day.month)
        if year_file:
            compact_rollup_year(self.cold, self.site, day.year)
        return outcome

    def put_rollup_from_rows(self, day: date, rows: Sequence[tuple[str, int, float]]) -> None:
        """A rollup built from arbitrary rows (e.g. stale ones), without a source checksum."""
        samples = merge_last_wins([sample_table(rows)])
        self.cold.put_bytes(
            rollup_day_key(self.site, day),
            rollup_file_bytes(build_rollup_table(samples), self.site, day),
        )


def reference_tiers(
    cold_rows: Iterable[tuple[str, int, float]], hot_rows: Iterable[tuple[str, int, float]]
) -> dict[tuple[str, int], float]:
    """Every key once: later rows win inside a tier, hot wins over cold."""
    merged: dict[tuple[str, int], float] = {}
    for name, ts, value in cold_rows:
        merged[(name, ts)] = value
    for name, ts, value in hot_rows:
        merged[(name, ts)] = value
    return merged


def reference_query(
    merged: dict[tuple[str, int], float],
    points: Sequence[str],
    start: int,
    end: int,
    interval: str,
    aggs: Sequence[str],
    fill: str | None = None,
    max_gap: int | None = None,
) -> dict[str, tuple[list[int], dict[str, list]]]:
    """Per point (t, {name: values}) computed with plain Python, per docs/rollups.md."""
    out: dict[str, tuple[list[int], dict[str, list]]] = {}
    for point in points:
        samples = sorted(
            (ts, v) for (name, ts), v in merged.items() if name == point and start <= ts < end
        )
        if interval == "raw":
            out[point] = ([ts for ts, _ in samples], {"v": [v for _, v in samples]})
            continue
        width = INTERVALS_MS[interval]
        buckets: dict[int, list[tuple[int, float]]] = {}
        for ts, v in samples:
            buckets.setdefault(ts // width * width, []).append((ts, v))
        starts = sorted(buckets)
        values: dict[str, list] = {agg: [] for agg in aggs}
        for b in starts:
            vals = [v for _, v in buckets[b]]
            for agg in aggs:
                values[agg].append(
                    {
                        "avg": sum(vals) / len(vals),
                        "min": min(vals),
                        "max": max(vals),
                        "last": max(buckets[b])[1],
                    }[agg]
                )
        if fill is not None and starts:
            t_out: list[int] = []
            v_out: dict[str, list] = {agg: [] for agg in aggs}
            seed = reference_seed(merged, point, start, max_gap)
            if seed is not None and (max_gap is None or starts[0] - seed[0] <= max_gap):
                t = start - start % width
                while t < starts[0]:
                    t_out.append(t)
                    for agg in aggs:
                        right = values[agg][0]
                        if fill == "previous":
                            v_out[agg].append(seed[1])
                        else:
                            frac = (t - seed[0]) / (starts[0] - seed[0])
                            v_out[agg].append(seed[1] + (right - seed[1]) * frac)
                    t += width
            for i, b in enumerate(starts):
                if i > 0:
                    a = starts[i - 1]
                    t = a + width
                    while t < b:
                        t_out.append(t)
                        for agg in aggs:
                            left, right = values[agg][i - 1], values[agg][i]
                            if max_gap is not None and b - a > max_gap:
                                v_out[agg].append(None)
                            elif fill == "previous":
                                v_out[agg].append(left)
                            else:
                                v_out[agg].append(left + (right - left) * (t - a) / (b - a))
                        t += width
                t_out.append(b)
                for agg in aggs:
                    v_out[agg].append(values[agg][i])
            out[point] = (t_out, v_out)
        else:
            out[point] = (starts, values)
    return out


SEED_LOOKBACK_MS = 7 * 86_400_000


def reference_seed(
    merged: dict[tuple[str, int], float], point: str, start: int, max_gap: int | None
) -> tuple[int, float] | None:
    """The last sample before ``start`` within the seed lookback (7 days, or max_gap)."""
    lookback = min(SEED_LOOKBACK_MS, max_gap or SEED_LOOKBACK_MS)
    before = [
        (ts, v)
        for (name, ts), v in merged.items()
        if name == point and start - lookback <= ts < start
    ]
    return max(before) if before else None


ROLLUP_INTERVALS_DESC = (86_400_000, 3_600_000, 900_000)


def reference_m4_grid(start: int, end: int, max_points: int) -> tuple[int, int]:
    """(origin, width) of the M4 column grid, per docs/query.md, with loops only.

    Equal columns (max_points // 4 of them) unless their width is at least 8 rollup
    intervals; then the grid starts at the interval boundary at or before ``start`` and
    the width is the smallest multiple of the coarsest such interval whose columns cover
    the window in max_points // 4 columns.
    """
    columns = max(1, max_points // 4)
    equal = -(-(end - start) // columns)
    for interval in ROLLUP_INTERVALS_DESC:
        if 8 * interval <= equal:
            origin = start - start % interval
            k = 1
            while k * interval * columns < end - origin:
                k += 1
            return origin, k * interval
    return start, equal


def reference_m4(
    samples: Sequence[tuple[int, float]], origin: int, width: int, max_points: int
) -> list[tuple[int, float]]:
    """M4 of time-sorted samples: per column the first, last, and the earliest min and max."""
    if len(samples) <= max_points:
        return list(samples)
    columns: dict[int, list[tuple[int, float]]] = {}
    for ts, v in samples:
        columns.setdefault((ts - origin) // width, []).append((ts, v))
    kept: set[tuple[int, float]] = set()
    for column in columns.values():
        column.sort()
        kept.add(column[0])
        kept.add(column[-1])
        kept.add(min(column, key=lambda s: (s[1], s[0])))
        kept.add(min(column, key=lambda s: (-s[1], s[0])))
    return sorted(kept)
