"""The query engine: read both tiers (and rollups) for a plan, merge, aggregate.

Correctness first (docs/design.md invariant 4): for every UTC day in the range the engine
reads the cold file if one exists AND the hot rows for the whole range, whatever
``HOT_STORAGE_DAYS`` says, so a late or failed archival never hides or doubles a sample.
Hot wins on equal (point, ts) keys. Stored rollups are used for a day only when they
provably describe that day's data (see :meth:`QueryEngine._month_rollups` and
:meth:`QueryEngine._day_rollups`). Requests are checked in :mod:`vitals.query.plan`;
the engine trusts the plan it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Protocol, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.cold.keys import (
    cold_day_key,
    rollup_day_key,
    rollup_month_key,
    rollup_month_prefix,
    rollup_year_key,
    rollup_year_prefix,
)
from vitals.cold.point_reads import FileRead, ReadCounters, map_in_pool, read_many
from vitals.query import semantics
from vitals.query.merge import (
    PointRows,
    aggregate_cold_files,
    aggregate_rows,
    by_point_sorted,
    collect_runs,
    merge_point,
)
from vitals.query.plan import (
    PointCatalogue,
    QueryLimits,
    QueryPlan,
    build_plan,
    check_sample_count,
)
from vitals.query.point_meta import SiteFacts, default_facts
from vitals.query.series import bucket_columns, bucket_series, raw_series
from vitals.query.types import QueryResult
from vitals.rollups.day import (
    ROLLUP_INTERVALS_MS,
    has_m4_columns,
    read_rollup_rows,
    rollup_identity,
    rollup_matches_cold,
)
from vitals.rollups.month import MONTH_INTERVALS_MS, month_day_identities, month_intervals
from vitals.rollups.year import YEAR_INTERVAL_MS, day_runs, year_day_identities
from vitals.samples import MS_PER_DAY, day_bounds_ms, day_of_ms

COLD_COLUMNS = ("point_name", "ts", "value")
# Fewer cold-only days than this are read and aggregated here (a DuckDB query costs a few
# ms of planning; eight day files of reads cost more).
DIRECT_COLD_MIN_FILES = 8
DayListing = dict[date, tuple[str, str]]  # day -> (object key, version identity)


class HotReader(PointCatalogue, Protocol):
    """What the engine needs from the hot store: the catalogue and sample reads."""

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None = None
    ) -> pa.Table:
        """Samples in [start_ms, end_ms) sorted by (point_name, ts)."""
        ...


class ColdReader(Protocol):
    """What the engine needs from the cold store (rollups live in the same store)."""

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix``."""
        ...

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``."""
        ...

    def local_copy(self, key: str) -> Path:
        """A local file holding the object's bytes."""
        ...


@dataclass
class ReadStats:
    """What one query touched (tiers, files) and the pruning counters behind it."""

    tiers: set[str] = field(default_factory=set)
    sources: int = 0
    cold_days: int = 0
    rollup_days: int = 0
    counters: ReadCounters = field(default_factory=ReadCounters)


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
        facts: SiteFacts | None = None,
        direct_cold_min_files: int = DIRECT_COLD_MIN_FILES,
    ) -> None:
        self.hot = hot
        self.cold = cold
        # time zones, tags and history modes (vitals.query.point_meta); None: all UTC/sampled
        self.facts = facts if facts is not None else default_facts(cold)
        self.limits = limits or QueryLimits()
        # Only a hint (never a correctness boundary): kept for callers and metrics.
        self.hot_storage_days = hot_storage_days
        self.use_rollups = use_rollups
        # aggregated answers with at least this many cold-only days (no hot rows of the
        # asked points, no usable rollup) let DuckDB aggregate those files where they lie
        self.direct_cold_min_files = direct_cold_min_files

    def plan(
        self,
        site: object,
        points: object,
        start_ms: object,
        end_ms: object,
        *,
        interval: object = "raw",
        aggs: object = None,
        fill: object = None,
        max_gap_ms: object = None,
        tz: object = None,
        max_points: object = None,
        unit: object = None,
        quality: object = False,
    ) -> QueryPlan:
        """The request checked and resolved against this engine's store and limits.

        See :func:`vitals.query.plan.build_plan`; raises a ``QueryError`` it refuses.
        """
        return build_plan(
            site,
            points,
            start_ms,
            end_ms,
            interval=interval,
            aggs=aggs,
            fill=fill,
            max_gap_ms=max_gap_ms,
            tz=tz,
            max_points=max_points,
            unit=unit,
            quality=quality,
            catalogue=self.hot,
            limits=self.limits,
            facts=self.facts,
        )

    def plan_version(self, site: str) -> Hashable | None:
        """What a plan of ``site`` depends on beyond its request, or ``None`` when unknown.

        The hot store's catalogue token and the site facts' epoch: while both stay equal,
        :meth:`plan` of the same request returns an equal plan (limits never change).
        ``None`` (a store that cannot tell cheaply, e.g. PostgreSQL) means plan anew.
        """
        token = getattr(self.hot, "catalogue_token", None)
        try:
            version = token() if callable(token) else None
            if version is None:
                return None
            return (version, self.facts.epoch(site) if self.facts is not None else 0)
        except Exception:  # a hostile site name, a store that is down: plan() says why
            return None

    # -- reading ------------------------------------------------------------------------
    def _listing(
        self, key_of: Callable[[str, date], str], site: str, days: list[date]
    ) -> DayListing:
        """Day -> (key, version identity) of the existing objects ``key_of(site, day)``.

        One listing per month folder (cheap on S3 too).
        """
        wanted = {key_of(site, day): day for day in days}
        found: DayListing = {}
        for year, month in sorted({(day.year, day.month) for day in days}):
            prefix = key_of(site, date(year, month, 1)).rsplit("/", 1)[0] + "/"
            for key, identity in self.cold.identities(prefix).items():
                if key in wanted:
                    found[wanted[key]] = (key, identity)
        return found

    def _read_hot(self, plan: QueryPlan, stats: ReadStats) -> pa.Table:
        hot = self.hot.read_samples(plan.site, plan.start_ms, plan.end_ms, list(plan.points))
        stats.tiers.add("hot")
        stats.sources += 1
        return hot

    def _rollup_candidates(
        self, plan: QueryPlan, listing: DayListing, hot_days: set[date]
    ) -> list[date]:
        """Days a stored rollup may answer: wholly inside the range, archived, no hot rows.

        Hot rows of the requested points would win over cold, so such days are computed.
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
        self, plan: QueryPlan, days: list[date], listing: DayListing, *, m4: bool = False
    ) -> tuple[list[FileRead], set[date]]:
        """Reads of month rollup files covering ``days`` whose cold file is unchanged.

        A day counts when its cold file is still the version the month file was built
        from (identity from the listing: no cold file opened), and a file counts only for
        the intervals it says it holds. ``m4``: only files holding the M4 columns (layout 2 on).
        """
        if plan.interval_ms not in MONTH_INTERVALS_MS or not days:
            return [], set()
        reads: list[FileRead] = []
        covered: set[date] = set()
        existing: set[str] = set()
        for year in sorted({day.year for day in days}):
            # identities, not list_keys: the same keys, from the cached folder listing
            existing.update(self.cold.identities(rollup_month_prefix(plan.site, year)))
        by_month: dict[tuple[int, int], list[date]] = {}
        for day in sorted(days):
            by_month.setdefault((day.year, day.month), []).append(day)
        for (year, month), month_days in by_month.items():
            key = rollup_month_key(plan.site, year, month)
            if key not in existing:
                continue
            path = self.cold.local_copy(key)
            if plan.interval_ms not in month_intervals(path):
                continue  # an older file without this interval's section
            if m4 and not _holds_m4(path):
                continue
            reads += _current_day_reads(
                path, month_days, month_day_identities(path), listing, covered
            )
        return reads, covered

    def _year_rollups(
        self, plan: QueryPlan, days: list[date], listing: DayListing
    ) -> tuple[list[FileRead], set[date]]:
        """Reads of year rollup files (1 h) covering ``days`` whose cold file is unchanged.

        Proof per day as for month files (:meth:`_month_rollups`): the cold identity the
        year file recorded equals the listing's. One listing of the site's year files.
        """
        if plan.interval_ms != YEAR_INTERVAL_MS or not days:
            return [], set()
        existing = self.cold.identities(rollup_year_prefix(plan.site))
        reads: list[FileRead] = []
        covered: set[date] = set()
        by_year: dict[int, list[date]] = {}
        for day in sorted(days):
            by_year.setdefault(day.year, []).append(day)
        for year, year_days in by_year.items():
            key = rollup_year_key(plan.site, year)
            if key not in existing:
                continue
            path = self.cold.local_copy(key)
            reads += _current_day_reads(
                path, year_days, year_day_identities(path), listing, covered
            )
        return reads, covered

    def _day_rollups(
        self, plan: QueryPlan, days: list[date], listing: DayListing, *, m4: bool = False
    ) -> dict[date, Path]:
        """Days whose day rollup file provably describes the current cold file.

        Proof is the cold identity it recorded, else equal footers
        (:func:`rollup_matches_cold`). ``m4``: only files holding the M4 columns.
        """
        found = sorted(self._listing(rollup_day_key, plan.site, days).items())
        if not found:
            return {}

        def current(item: tuple[date, tuple[str, str]]) -> tuple[date, Path] | None:
            day, (key, _identity) = item
            path = self.cold.local_copy(key)
            try:
                if m4 and not has_m4_columns(path):
                    return None  # an older layout: M4 reads the day raw
                if rollup_identity(path) == listing[day][1]:
                    return day, path
                if rollup_matches_cold(path, self.cold.local_copy(listing[day][0])):
                    return day, path
            except (pa.ArrowInvalid, OSError):
                pass  # an unreadable rollup: the day is computed from raw data
            return None

        # footers of many files: parsed in the read pool, once per process (cached)
        hits: list[tuple[date, Path] | None] = map_in_pool(current, found)
        return dict(hit for hit in hits if hit is not None)

    def read_raw(
        self, plan: QueryPlan, stats: ReadStats, *, skip_days: set[date] | None = None
    ) -> dict[str, PointRows]:
        """Merged raw rows per stored point name over the plan's range, minus ``skip_days``."""
        hot = self._read_hot(plan, stats)
        return self._merge(plan, hot, self._cold_paths(plan), stats, skip_days or set())

    def _cold_paths(
        self,
        plan: QueryPlan,
        listing: DayListing | None = None,
        skip_days: set[date] | None = None,
    ) -> dict[date, Path]:
        listing = (
            self._listing(cold_day_key, plan.site, plan.days()) if listing is None else listing
        )
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
        items: list[FileRead] = []
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

    def bucket_tables(
        self, plan: QueryPlan, stats: ReadStats
    ) -> tuple[dict[str, pa.Table], pa.Table]:
        """Per point its UTC buckets at the plan's interval (sorted), and an empty one.

        Columns: ``bucket`` and those the plan's aggregates need. Days a stored rollup
        provably describes are read from it, others aggregated from raw rows.
        """
        width = plan.interval_ms
        assert width is not None
        hot = self._read_hot(plan, stats)
        listing = self._listing(cold_day_key, plan.site, plan.days())
        hot_days = _days_of(hot)
        candidates = self._rollup_candidates(plan, listing, hot_days)
        year_reads, year_days = self._year_rollups(plan, candidates, listing)
        month_reads, month_days = self._month_rollups(
            plan, [d for d in candidates if d not in year_days], listing
        )
        month_reads = year_reads + month_reads
        month_days |= year_days
        day_rollups = self._day_rollups(
            plan, [d for d in candidates if d not in month_days], listing
        )
        rollup_days = month_days | set(day_rollups)
        cold_paths = self._cold_paths(plan, listing, rollup_days)
        direct_days = [day for day in cold_paths if day not in hot_days]
        direct = [cold_paths[day] for day in direct_days]
        if len(direct) < self.direct_cold_min_files:
            direct = []
        else:  # only days that hot rows can change still go through the merge
            cold_paths = {d: p for d, p in cold_paths.items() if d in hot_days}
        rows = self._merge(plan, hot, cold_paths, stats, set())
        columns = bucket_columns(plan.aggs)
        bucket_tables = [aggregate_rows(rows, width, columns)]
        if direct:
            inside = (
                day_bounds_ms(min(direct_days))[0] >= plan.start_ms
                and day_bounds_ms(max(direct_days))[1] <= plan.end_ms
            )
            cold_buckets = aggregate_cold_files(
                [str(path) for path in direct],
                plan.points,
                width,
                plan.start_ms,
                plan.end_ms,
                clip=not inside,
            )
            bucket_tables.append(cold_buckets.select(["point_name", *columns]))
            stats.tiers.add("cold")
            stats.sources += len(direct)
            stats.cold_days += len(direct)
            stats.counters.add(files=len(direct), total=0, read=0, rows=0)
        if rollup_days:
            items = month_reads + [
                FileRead(path, *day_bounds_ms(day)) for day, path in sorted(day_rollups.items())
            ]
            bucket_tables += read_rollup_rows(
                items, plan.points, width, counters=stats.counters, columns=columns[1:]
            )
            stats.tiers.add("rollup")
            stats.sources += len(items)
            stats.rollup_days += len(rollup_days)
        per_point = by_point_sorted(bucket_tables, columns)
        empty = bucket_tables[0].schema.empty_table().drop_columns(["point_name"])
        return per_point, empty

    def m4_inputs(
        self, plan: QueryPlan, interval: str, stats: ReadStats
    ) -> tuple[dict[str, PointRows], list[FileRead], set[date]]:
        """What M4 on a grid aligned to ``interval`` reads (:mod:`vitals.query.m4`).

        Returns merged raw rows for every day no rollup serves (edge days, hot days,
        days whose rollups are missing, stale or of a layout without M4 columns), and
        the rollup reads (month files first, then day files) of the days that are served.
        The same rules as :meth:`bucket_tables` decide which days those are.
        """
        sub = replace(plan, interval=interval)
        hot = self._read_hot(plan, stats)
        listing = self._listing(cold_day_key, plan.site, plan.days())
        candidates = self._rollup_candidates(sub, listing, _days_of(hot))
        month_reads, month_days = self._month_rollups(sub, candidates, listing, m4=True)
        day_rollups = self._day_rollups(
            sub, [d for d in candidates if d not in month_days], listing, m4=True
        )
        rollup_days = month_days | set(day_rollups)
        rows = self._merge(plan, hot, self._cold_paths(plan, listing, rollup_days), stats, set())
        items = month_reads + [
            FileRead(path, *day_bounds_ms(day)) for day, path in sorted(day_rollups.items())
        ]
        if items:
            stats.tiers.add("rollup")
            stats.sources += len(items)
            stats.rollup_days += len(rollup_days)
        return rows, items, rollup_days

    # -- the query ------------------------------------------------------------------------
    def execute(self, plan: QueryPlan, stats: ReadStats | None = None) -> QueryResult:
        """Run a validated plan; pass ``stats`` to see what it read (tests, bench)."""
        started = time.perf_counter()
        stats = stats if stats is not None else ReadStats()
        if not plan.plain:  # local time, modes, fill, M4, units: vitals.query.semantics
            return semantics.execute(self, plan, stats)
        if plan.interval == "raw":
            rows = self.read_raw(plan, stats)
            total = sum(len(r) for r in rows.values())
            check_sample_count(total, self.limits)
            series = [raw_series(name, rows[name]) for name in plan.points]
        else:
            width = plan.interval_ms
            assert width is not None
            per_point, empty = self.bucket_tables(plan, stats)
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
            check_sample_count(sum(len(s.t) for s in series), self.limits)
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

    def query(
        self,
        site: str,
        points: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        interval: str = "raw",
        aggs: Sequence[str] | None = None,
        fill: str | None = None,
        max_gap_ms: int | None = None,
        tz: str | None = None,
        max_points: int | None = None,
        unit: str | None = None,
        quality: bool = False,
    ) -> QueryResult:
        """Plan and run one query (docs/rollups.md, docs/query.md for the semantics)."""
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
            tz=tz,
            max_points=max_points,
            unit=unit,
            quality=quality,
        )
        result = self.execute(plan)
        return replace(result, elapsed_ms=(time.perf_counter() - started) * 1000)


def _holds_m4(path: Path) -> bool:
    """Whether a month file has the M4 columns (an unreadable one has none)."""
    try:
        return has_m4_columns(path)
    except (pa.ArrowInvalid, OSError):
        return False


def _current_day_reads(
    path: Path,
    days: list[date],
    recorded: dict[str, str],
    listing: DayListing,
    covered: set[date],
) -> list[FileRead]:
    """Reads of a month or year file for the ``days`` it holds for their current cold file.

    A day counts when the identity the file recorded is the listing's; one read a run of
    such days, and the days are added to ``covered``.
    """
    good = [d for d in days if recorded.get(d.isoformat()) == listing[d][1]]
    covered.update(good)
    return [
        FileRead(path, day_bounds_ms(first)[0], day_bounds_ms(last)[1])
        for first, last in day_runs(good)
    ]


def _days_of(table: pa.Table) -> set[date]:
    """UTC days that hold at least one row of a sample table."""
    if table.num_rows == 0:
        return set()
    # float64 holds epoch ms exactly (< 2**53); floor keeps pre-1970 days right too.
    day_numbers = pc.floor(pc.divide(pc.cast(table.column("ts"), pa.float64()), float(MS_PER_DAY)))
    numbers = cast(list[float], pc.unique(day_numbers).to_pylist())
    return {day_of_ms(int(d) * MS_PER_DAY) for d in numbers}
