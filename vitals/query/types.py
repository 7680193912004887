"""Result and error types shared by the query engine and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field

from vitals.names import AmbiguousPointError, QueryError, UnknownPointError

__all__ = [
    "AGGREGATES",
    "INTERVALS_MS",
    "MAX_AGG_RANGE_DAYS",
    "MAX_POINTS_PER_REQUEST",
    "MAX_RAW_RANGE_DAYS",
    "MAX_SAMPLES_PER_RESPONSE",
    "AmbiguousPointError",
    "BadQueryError",
    "QueryError",
    "QueryLimitError",
    "QueryResult",
    "SeriesResult",
    "UnknownPointError",
    "UnknownSiteError",
]

INTERVALS_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "1d": 86_400_000,
}
AGGREGATES = (
    "avg",
    "twavg",
    "min",
    "max",
    "first",
    "last",
    "count",
    "sum",
    "delta",
    "on_time",
    "starts",
)
# What stored rollups (and the plain UTC bucket path) can answer for sampled points.
ROLLUP_AGGREGATES = ("avg", "min", "max", "last", "count", "sum")
MAX_M4_POINTS = 100_000
FILL_METHODS = ("previous", "linear")
MAX_POINTS_PER_REQUEST = 100
MAX_RAW_RANGE_DAYS = 31
MAX_AGG_RANGE_DAYS = 366
MAX_SAMPLES_PER_RESPONSE = 2_000_000


@dataclass(frozen=True)
class SeriesResult:
    """One point's series: raw values under ``"v"`` or one list per aggregate."""

    point: str
    t: list[int]
    values: dict[str, list[float | None]]
    # per-series facts (mode, avg_kind, unit, quality); empty for plain answers
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryResult:
    """Answer of one time-series query over both tiers."""

    site: str
    start_ms: int
    end_ms: int
    interval: str
    aggs: tuple[str, ...]
    series: list[SeriesResult]
    tiers: tuple[str, ...]
    sources: int
    samples: int
    elapsed_ms: float
    # answer-level facts beyond the v1 basics (tz, max_points...); empty for plain answers
    extra: dict[str, object] = field(default_factory=dict)


class BadQueryError(QueryError):
    """A malformed request: a bad name, window, interval, aggregate or fill (400)."""

    status = 400


class UnknownSiteError(QueryError):
    """The site has no catalogue in the hot store (404)."""

    status = 404


class QueryLimitError(QueryError):
    """A well-formed request beyond a limit: points, range or samples (422)."""

    status = 422
