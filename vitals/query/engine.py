"""The query engine: validate a request, read both tiers (and rollups), merge, aggregate.

Correctness first (DESIGN.md invariant 4): for every UTC day in the range the engine reads
the cold file if one exists AND the hot rows for the whole range, whatever
``HOT_STORAGE_DAYS`` says, so a late or failed archival never hides or doubles a sample.
Hot wins on equal (point, ts) keys. Stored rollups are used for a day only when they
provably describe that day's data (see :meth:`QueryEngine._month_rollups` and
:meth:`QueryEngine._day_rollups`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from vitals.cold.paths import cold_day_key, rollup_day_key, rollup_month_key, rollup_month_prefix
from vitals.names import InvalidNameError, validate_point_name, validate_site_name
from vitals.query.files import FileRead, ReadCounters, map_in_pool, read_many
from vitals.query.merge import PointRows, aggregate_rows, by_point_sorted, collect_runs, merge_point
from vitals.query.series import FILL_METHODS, bucket_series, choose_auto_interval, raw_series
from vitals.query.types import (
    AGGREGATES,
    INTERVALS_MS,
    MAX_AGG_RANGE_DAYS,
    MAX_POINTS_PER_REQUEST,
    MAX_RAW_RANGE_DAYS,
    MAX_SAMPLES_PER_RESPONSE,
    BadQueryError,
    QueryLimitError,
    QueryResult,
    UnknownSiteError,
)
from vitals.rollups.day import (
    ROLLUP_INTERVALS_MS,
    read_rollup_rows,
    rollup_identity,
    rollup_matches_cold,
)
from vitals.rollups.month import MONTH_INTERVALS_MS, month_day_identities
from vitals.samples import MS_PER_DAY, day_bounds_ms, day_of_ms

COLD_COLUMNS = ("point_name", "ts", "value")


class HotReader(Protocol):
    """What the engine needs from ``HotStoreResource``."""

    def list_sites(self) -> list[str]: ...
    def resolve_points(self, site: str, names: Sequence[str]) -> list: ...
    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None = None
    ) -> pa.Table: ...


class ColdReader(Protocol):
    """What the engine needs from ``ColdStoreResource`` (rollups live in the same store)."""

    def list_keys(self, prefix: str) -> list[str]: ...
    def identities(self, prefix: str) -> dict[str, str]: ...
    def local_copy(self, key: str) -> Path: ...


@dataclass(frozen=True)
class QueryLimits:
    """Request limits (defaults from ``vitals.query.types``); the bench raises them."""

    max_points: int = MAX_POINTS_PER_REQUEST
    max_raw_range_days: int = MAX_RAW_RANGE_DAYS
    max_agg_range_days: int = MAX_AGG_RANGE_DAYS
    max_samples: int = MAX_SAMPLES_PER_RESPONSE


@dataclass(frozen=True)
class QueryPlan:
    """A validated request: stored point names, resolved interval, aggregates, fill."""

    site: str
    points: tuple[str, ...]
    start_ms: int
    end_ms: int
    interval: str
    aggs: tuple[str, ...]
    fill: str | None
    max_gap_ms: int | None

    @property
    def interval_ms(self) -> int | None:
        return INTERVALS_MS.get(self.interval)

    def days(self) -> list[date]:
        first, last = day_of_ms(self.start_ms), day_of_ms(self.end_ms - 1)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class ReadStats:
    """What one query touched (tiers, files) and the pruning counters behind it."""

    tiers: set[str] = field(default_factory=set)
    sources: int = 0
    cold_days: int = 0
    rollup_days: int = 0
    counters: ReadCounters = field(default_factory=ReadCounters)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class QueryEngine:
    """Answers time-series queries over the hot store, cold day files and stored rollups."""

    def __init__(
        self,
        hot: HotReader,
        cold: ColdReader,
        *,
        limits: QueryLimits | None = None,
        hot_storage_days: int = 20,
        use_rollups: bool = True,
    ) -> None:
        self.hot = hot
        self.cold = cold
        self.limits = limits or QueryLimits()
        # Only a hint (never a correctness boundary): kept for callers and metrics.
        self.hot_storage_days = hot_storage_days
        self.use_rollups = use_rollups

    # -- validation ---------------------------------------------------------------------
    def plan(
        self,
        site: object,
        points: object,
        start_ms: object,
        end_ms: object,
        *,
        interval: object = "raw",
        aggs: object = ("avg",),
        fill: object = None,
        max_gap_ms: object = None,
    ) -> QueryPlan:
        """Validate a request and resolve site, points and interval (raises QueryError)."""
        try:
            validate_site_name(site)
        except InvalidNameError as exc:
            raise BadQueryError(str(exc)) from exc
        assert isinstance(site, str)
        if not _is_int(start_ms) or not _is_int(end_ms):
            raise BadQueryError(
                f"start and end must be epoch ms integers, got {start_ms!r}, {end_ms!r}"
            )
        assert isinstance(start_ms, int) and isinstance(end_ms, int)
        if start_ms >= end_ms:
            raise BadQueryError(f"start {start_ms} must be before end {end_ms} (half-open range)")
        names = self._check_point_names(points)
        resolved_interval = self._check_interval(interval, start_ms, end_ms)
        agg_list = self._check_aggs(aggs) if resolved_interval != "raw" else ()
        fill_method, gap = self._check_fill(fill, max_gap_ms, resolved_interval)
        span_days = (end_ms - start_ms) / MS_PER_DAY
        limit_days = (
            self.limits.max_raw_range_days
            if resolved_interval == "raw"
            else self.limits.max_agg_range_days
        )
        if span_days > limit_days:
            raise QueryLimitError(
                f"range of {span_days:.1f} days exceeds the {limit_days}-day limit for "
                f"interval {resolved_interval!r}"
            )
        if site not in self.hot.list_sites():
            raise UnknownSiteError(f"unknown site {site!r}")
        records = self.hot.resolve_points(site, names)
        stored = tuple(dict.fromkeys(record.name for record in records))
        width = INTERVALS_MS.get(resolved_interval)
        if width is not None:
            first = start_ms - start_ms % width
            buckets = (end_ms - 1 - first) // width + 1
            if buckets * len(stored) > self.limits.max_samples:
                raise QueryLimitError(
                    f"{len(stored)} points x {buckets} buckets at {resolved_interval} exceeds "
                    f"{self.limits.max_samples} samples per response; use a coarser interval or 'auto'"
                )
        return QueryPlan(
            site, stored, start_ms, end_ms, resolved_interval, agg_list, fill_method, gap
        )

    def _check_point_names(self, points: object) -> list[str]:
        if isinstance(points, str) or not isinstance(points, Sequence) or not points:
            raise BadQueryError(f"points must be a non-empty list of point names, got {points!r}")
        if len(points) > self.limits.max_points:
            raise QueryLimitError(
                f"{len(points)} points requested; at most {self.limits.max_points} per request"
            )
        names = []
        for name in points:
            try:
                names.append(validate_point_name(name))
            except InvalidNameError as exc:
                raise BadQueryError(str(exc)) from exc
        return names

    @staticmethod
    def _check_interval(interval: object, start_ms: int, end_ms: int) -> str:
        if interval == "auto":
            return choose_auto_interval(start_ms, end_ms)
        if interval == "raw" or interval in INTERVALS_MS:
            return str(interval)
        allowed = ", ".join(["raw", *INTERVALS_MS, "auto"])
        raise BadQueryError(f"interval {interval!r} is not one of {allowed}")

    @staticmethod
    def _check_aggs(aggs: object) -> tuple[str, ...]:
        if isinstance(aggs, str):
            aggs = tuple(part.strip() for part in aggs.split(",") if part.strip())
        if not isinstance(aggs, Sequence) or not aggs:
            raise BadQueryError(f"aggs must be a non-empty list of {', '.join(AGGREGATES)}")
        for agg in aggs:
            if agg not in AGGREGATES:
                raise BadQueryError(f"aggregate {agg!r} is not one of {', '.join(AGGREGATES)}")
        return tuple(dict.fromkeys(aggs))

    @staticmethod
    def _check_fill(
        fill: object, max_gap_ms: object, interval: str
    ) -> tuple[str | None, int | None]:
        if fill is None:
            if max_gap_ms is not None:
                raise BadQueryError("max_gap_ms applies only together with fill")
            return None, None
        if fill not in FILL_METHODS:
            raise BadQueryError(f"fill {fill!r} is not one of {', '.join(FILL_METHODS)}")
        if interval == "raw":
            raise BadQueryError("fill applies to aggregated intervals only, not to raw samples")
        if max_gap_ms is not None and (not _is_int(max_gap_ms) or max_gap_ms < 0):
            raise BadQueryError(f"max_gap_ms must be a non-negative integer, got {max_gap_ms!r}")
        return str(fill), max_gap_ms  # type: ignore[return-value]

    # -- reading ------------------------------------------------------------------------
    def _listing(self, key_of, site: str, days: list[date]) -> dict[date, tuple[str, str]]:
        """Day -> (key, version identity) of the existing objects ``key_of(site, day)``,
        one listing per month folder (cheap on S3 too).
        """
        wanted = {key_of(site, day): day for day in days}
        found: dict[date, tuple[str, str]] = {}
        for year, month in sorted({(day.year, day.month) for day in days}):
            prefix = key_of(site, date(year, month, 1)).rsplit("/", 1)[0] + "/"
            for key, identity in self.cold.identities(prefix).items():
                if key in wanted:
                    found[wanted[key]] = (key, identity)
        return found

    def _cold_listing(self, site: str, days: list[date]) -> dict[date, tuple[str, str]]:
        return self._listing(cold_day_key, site, days)

    def _read_hot(self, plan: QueryPlan, stats: ReadStats) -> pa.Table:
        hot = self.hot.read_samples(plan.site, plan.start_ms, plan.end_ms, list(plan.points))
        stats.tiers.add("hot")
        stats.sources += 1
        return hot

    def _rollup_candidates(
        self, plan: QueryPlan, listing: dict[date, tuple[str, str]], hot_days: set[date]
    ) -> list[date]:
        """Days a stored rollup may answer: wholly inside the range, archived, no hot rows
        of the requested points (hot rows would win over cold).
        """
        if not self.use_rollups or plan.interval not in ROLLUP_INTERVALS_MS:
            return []
        return [
            d
            for d in listing
            if d not in hot_days
            and day_bounds_ms(d)[0] >= plan.start_ms
            and day_bounds_ms(d)[1] <= plan.end_ms
        ]

    def _month_rollups(
        self, plan: QueryPlan, days: list[date], listing: dict[date, tuple[str, str]]
    ) -> tuple[list[FileRead], set[date]]:
        """Reads of month rollup files covering ``days`` whose cold file is still the version
        the month file was built from (identity from the listing: no cold file opened).
        """
        if plan.interval_ms not in MONTH_INTERVALS_MS or not days:
            return [], set()
        reads: list[FileRead] = []
        covered: set[date] = set()
        existing: set[str] = set()
        for year in sorted({day.year for day in days}):
            existing.update(self.cold.list_keys(rollup_month_prefix(plan.site, year)))
        by_month: dict[tuple[int, int], list[date]] = {}
        for day in sorted(days):
            by_month.setdefault((day.year, day.month), []).append(day)
        for (year, month), month_days in by_month.items():
            key = rollup_month_key(plan.site, year, month)
            if key not in existing:
                continue
            path = self.cold.local_copy(key)
            recorded = month_day_identities(path)
            good = [d for d in month_days if recorded.get(d.isoformat()) == listing[d][1]]
            covered.update(good)
            reads.extend(
                FileRead(path, day_bounds_ms(first)[0], day_bounds_ms(last)[1])
                for first, last in _runs(good)
            )
        return reads, covered

    def _day_rollups(
        self, plan: QueryPlan, days: list[date], listing: dict[date, tuple[str, str]]
    ) -> dict[date, Path]:
        """Days whose day rollup file provably describes the current cold file: by the cold
        identity it recorded, else by comparing footers (:func:`rollup_matches_cold`).
        """
        found = sorted(self._listing(rollup_day_key, plan.site, days).items())
        if not found:
            return {}

        def current(item: tuple[date, tuple[str, str]]) -> tuple[date, Path] | None:
            day, (key, _identity) = item
            path = self.cold.local_copy(key)
            try:
                if rollup_identity(path) == listing[day][1]:
                    return day, path
                if rollup_matches_cold(path, self.cold.local_copy(listing[day][0])):
                    return day, path
            except (pa.ArrowInvalid, OSError):
                pass  # an unreadable rollup: the day is computed from raw data
            return None

        # footers of many files: parsed in the read pool, once per process (cached)
        return dict(hit for hit in map_in_pool(current, found) if hit is not None)

    def read_raw(
        self, plan: QueryPlan, stats: ReadStats, *, skip_days: set[date] | None = None
    ) -> dict[str, PointRows]:
        """Merged raw rows per stored point name over the plan's range, minus ``skip_days``."""
        hot = self._read_hot(plan, stats)
        return self._merge(plan, hot, self._cold_paths(plan), stats, skip_days or set())

    def _cold_paths(
        self,
        plan: QueryPlan,
        listing: dict[date, tuple[str, str]] | None = None,
        skip_days: set[date] | None = None,
    ) -> dict[date, Path]:
        listing = self._cold_listing(plan.site, plan.days()) if listing is None else listing
        skip = skip_days or set()
        return {
            day: self.cold.local_copy(key)
            for day, (key, _identity) in sorted(listing.items())
            if day not in skip
        }

    def _merge(
        self,
        plan: QueryPlan,
        hot: pa.Table,
        cold_paths: dict[date, Path],
        stats: ReadStats,
        skip_days: set[date],
    ) -> dict[str, PointRows]:
        items = []
        for day, path in cold_paths.items():
            if day in skip_days:
                continue
            day_start, day_end = day_bounds_ms(day)
            items.append(FileRead(path, max(day_start, plan.start_ms), min(day_end, plan.end_ms)))
        cold_tables = read_many(items, plan.points, columns=COLD_COLUMNS, counters=stats.counters)
        if items:
            stats.tiers.add("cold")
            stats.sources += len(items)
            stats.cold_days += len(items)
        cold_runs = collect_runs(cold_tables)
        # Rollup (skipped) days hold no hot rows of these points, by construction.
        hot_runs = collect_runs([hot.select(["point_name", "ts", "value"])])
        return {
            name: merge_point(cold_runs.get(name, []), hot_runs.get(name, []))
            for name in plan.points
        }

    # -- the query ------------------------------------------------------------------------
    def execute(self, plan: QueryPlan, stats: ReadStats | None = None) -> QueryResult:
        """Run a validated plan; pass ``stats`` to see what it read (tests, bench)."""
        started = time.perf_counter()
        stats = stats if stats is not None else ReadStats()
        if plan.interval == "raw":
            rows = self.read_raw(plan, stats)
            total = sum(len(r) for r in rows.values())
            self._check_samples(total)
            series = [raw_series(name, rows[name]) for name in plan.points]
        else:
            width = plan.interval_ms
            assert width is not None
            hot = self._read_hot(plan, stats)
            listing = self._cold_listing(plan.site, plan.days())
            candidates = self._rollup_candidates(plan, listing, _days_of(hot))
            month_reads, month_days = self._month_rollups(plan, candidates, listing)
            day_rollups = self._day_rollups(
                plan, [d for d in candidates if d not in month_days], listing
            )
            rollup_days = month_days | set(day_rollups)
            cold_paths = self._cold_paths(plan, listing, rollup_days)
            rows = self._merge(plan, hot, cold_paths, stats, set())
            bucket_tables = [aggregate_rows(rows, width)]
            if rollup_days:
                items = month_reads + [
                    FileRead(path, *day_bounds_ms(day)) for day, path in sorted(day_rollups.items())
                ]
                bucket_tables += read_rollup_rows(
                    items, plan.points, width, counters=stats.counters
                )
                stats.tiers.add("rollup")
                stats.sources += len(items)
                stats.rollup_days += len(rollup_days)
            per_point = by_point_sorted(bucket_tables)
            empty = bucket_tables[0].schema.empty_table().drop_columns(["point_name"])
            series = [
                bucket_series(
                    name,
                    per_point.get(name, empty),
                    plan.aggs,
                    interval_ms=width,
                    fill=plan.fill,
                    max_gap_ms=plan.max_gap_ms,
                )
                for name in plan.points
            ]
            self._check_samples(sum(len(s.t) for s in series))
        return QueryResult(
            site=plan.site,
            start_ms=plan.start_ms,
            end_ms=plan.end_ms,
            interval=plan.interval,
            aggs=plan.aggs,
            series=series,
            tiers=tuple(t for t in ("hot", "cold", "rollup") if t in stats.tiers),
            sources=stats.sources,
            samples=sum(len(s.t) for s in series),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _check_samples(self, total: int) -> None:
        if total > self.limits.max_samples:
            raise QueryLimitError(
                f"query would return {total} samples; at most {self.limits.max_samples} per "
                "response: narrow the range or points, or use a coarser interval"
            )

    def query(
        self,
        site: str,
        points: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        interval: str = "raw",
        aggs: Sequence[str] = ("avg",),
        fill: str | None = None,
        max_gap_ms: int | None = None,
    ) -> QueryResult:
        """Validate and run one query (see docs/rollups.md for the semantics)."""
        started = time.perf_counter()
        plan = self.plan(
            site,
            points,
            start_ms,
            end_ms,
            interval=interval,
            aggs=aggs,
            fill=fill,
            max_gap_ms=max_gap_ms,
        )
        result = self.execute(plan)
        return replace(result, elapsed_ms=(time.perf_counter() - started) * 1000)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """(first, last) of each run of consecutive days in a sorted list."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _days_of(table: pa.Table) -> set[date]:
    """UTC days that hold at least one row of a sample table."""
    if table.num_rows == 0:
        return set()
    import pyarrow.compute as pc

    # float64 holds epoch ms exactly (< 2**53); floor keeps pre-1970 days right too.
    day_numbers = pc.floor(pc.divide(pc.cast(table.column("ts"), pa.float64()), float(MS_PER_DAY)))
    return {day_of_ms(int(d) * MS_PER_DAY) for d in pc.unique(day_numbers).to_pylist()}
