"""The one home of the request rules: a time-series request becomes a typed :class:`QueryPlan`.

Every caller (the HTTP API, Dagster assets through ``QueryResource``, the bench) asks
through :func:`build_plan`, so a rule is written once: site and point names
(:mod:`vitals.names`), the half-open window and its range limits, the interval /
aggregate / fill vocabulary, points per request and samples per answer. The engine
trusts a plan; it only counts the samples an answer really holds
(:func:`check_sample_count`). Refusals are :mod:`vitals.query.types` errors that carry
their HTTP status (400, 404, 409, 422).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from vitals.names import (
    InvalidNameError,
    UnknownPointError,
    validate_point_name,
    validate_site_name,
)
from vitals.query.local_time import is_utc, local_edges, needs_local, zone
from vitals.query.series import choose_auto_interval
from vitals.query.types import (
    AGGREGATES,
    FILL_METHODS,
    INTERVALS_MS,
    MAX_AGG_RANGE_DAYS,
    MAX_M4_POINTS,
    MAX_POINTS_PER_REQUEST,
    MAX_RAW_RANGE_DAYS,
    MAX_SAMPLES_PER_RESPONSE,
    ROLLUP_AGGREGATES,
    BadQueryError,
    QueryLimitError,
    UnknownSiteError,
)
from vitals.samples import MS_PER_DAY, day_of_ms

# What a request may name as its interval: the bucket widths, raw samples, or auto.
INTERVALS = ("raw", *INTERVALS_MS, "auto")
DEFAULT_AGGS = ("avg",)


@dataclass(frozen=True)
class QueryLimits:
    """Request limits (defaults from :mod:`vitals.query.types`); the bench raises them."""

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
    # Building-data semantics (docs/query.md); defaults keep the plain UTC answer.
    tz: str = "UTC"
    tz_source: str = "default"  # request | ace | config | default
    edges: tuple[int, ...] | None = None  # local bucket starts + the last bucket's end
    max_points: int | None = None  # M4 downsampling (interval "m4")
    unit: str | None = None  # °F or °C: convert temperature points to it
    quality: bool = False  # a quality object per series
    modes: tuple[str, ...] = ()  # history mode per point (same order); () = all sampled
    mode_sources: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        """Whether the plain UTC bucket path answers it (no semantics beyond PR 1)."""
        return (
            self.edges is None
            and self.max_points is None
            and self.unit is None
            and not self.quality
            and self.fill is None
            and all(agg in ROLLUP_AGGREGATES for agg in self.aggs)
            and all(mode == "sampled" for mode in self.modes)
        )

    @property
    def interval_ms(self) -> int | None:
        """Bucket width in ms, ``None`` for raw samples."""
        return INTERVALS_MS.get(self.interval)

    def days(self) -> list[date]:
        """The UTC days [start, end) touches, in order."""
        first, last = day_of_ms(self.start_ms), day_of_ms(self.end_ms - 1)
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class SiteFactsLookup(Protocol):
    """What planning needs of a site's facts: its zone and its points' history modes."""

    def timezone(self, site: str) -> tuple[str, str]:
        """(zone, source) of the site."""
        ...

    def modes(self, site: str, names: list[str]) -> list[tuple[str, str]]:
        """(mode, source) per point name, in order."""
        ...


class NamedPoint(Protocol):
    """A catalogued point as the hot store returns it (only its stored name matters here)."""

    @property
    def name(self) -> str:
        """The point's name exactly as stored."""
        ...


class PointCatalogue(Protocol):
    """What planning needs from the hot store: the sites, and names resolved to points."""

    def list_sites(self) -> list[str]:
        """Sites with a catalogue."""
        ...

    def resolve_points(self, site: str, names: Sequence[str]) -> Sequence[NamedPoint]:
        """Points for names in any casing (raises UnknownPointError / AmbiguousPointError)."""
        ...


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _word(value: object) -> object:
    """Vocabulary is case-insensitive: ``"1H"`` is ``"1h"``; non-strings stay as given."""
    return value.strip().lower() if isinstance(value, str) else value


def check_site(site: object) -> str:
    """A site name safe as a path segment (:func:`vitals.names.validate_site_name`)."""
    try:
        return validate_site_name(site)
    except InvalidNameError as exc:
        raise BadQueryError(str(exc)) from exc


def check_window(start_ms: object, end_ms: object) -> tuple[int, int]:
    """A half-open [start, end) window of epoch ms integers; start must be before end."""
    if not (_is_int(start_ms) and _is_int(end_ms)):
        raise BadQueryError(
            f"start and end must be epoch ms integers, got {start_ms!r}, {end_ms!r}"
        )
    assert isinstance(start_ms, int) and isinstance(end_ms, int)  # narrowed by _is_int
    if start_ms >= end_ms:
        raise BadQueryError(
            f"start {start_ms} must be before end {end_ms}; ranges are half-open [start, end)"
        )
    return start_ms, end_ms


def check_point_names(points: object, limits: QueryLimits) -> tuple[str, ...]:
    """Valid point names in request order; a repeat or more than ``max_points`` is refused."""
    if isinstance(points, str) or not isinstance(points, Sequence) or not points:
        raise BadQueryError(f"points must be a non-empty list of point names, got {points!r}")
    if len(points) > limits.max_points:
        raise QueryLimitError(
            f"{len(points)} points requested; at most {limits.max_points} per request"
        )
    names: list[str] = []
    for item in points:
        try:
            name = validate_point_name(item)
        except InvalidNameError as exc:
            raise BadQueryError(f"points: {exc}") from exc
        if name in names:  # a client bug must not silently double a series
            raise BadQueryError(f"points: point {name[:120]!r} is listed twice")
        names.append(name)
    return tuple(names)


def resolve_interval(
    interval: object, start_ms: int, end_ms: int, *, max_buckets: int | None = None
) -> str:
    """``raw``, a bucket width, or ``auto`` resolved to the finest chart-sized width.

    ``auto`` honours ``max_buckets`` (``max_points``) when given, else 2,000 buckets.
    """
    word = _word(interval)
    if word == "auto":
        if max_buckets is not None:
            return choose_auto_interval(start_ms, end_ms, max_buckets=max_buckets)
        return choose_auto_interval(start_ms, end_ms)
    if word == "raw" or word in INTERVALS_MS:
        return str(word)
    raise BadQueryError(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")


def resolve_aggs(aggs: object, interval: str) -> tuple[str, ...]:
    """Aggregates of a downsampled answer (default avg; none for raw samples).

    A string is a comma-separated list; names are case-insensitive; a repeat is refused.
    """
    if interval in ("raw", "m4"):
        return ()
    if aggs is None:
        return DEFAULT_AGGS
    if isinstance(aggs, str):
        aggs = [part for part in aggs.split(",") if part.strip()]
    if not isinstance(aggs, Sequence) or not aggs:
        raise BadQueryError(f"aggs must be a non-empty list of {', '.join(AGGREGATES)}")
    resolved: list[str] = []
    for agg in aggs:
        word = _word(agg)
        if word not in AGGREGATES:
            raise BadQueryError(f"aggregate {agg!r} is not one of {', '.join(AGGREGATES)}")
        assert isinstance(word, str)
        if word in resolved:
            raise BadQueryError(f"aggregate {word!r} is listed twice")
        resolved.append(word)
    return tuple(resolved)


def resolve_fill(
    fill: object, max_gap_ms: object, interval: str, limits: QueryLimits
) -> tuple[str | None, int | None]:
    """Gap filling of downsampled series; ``max_gap_ms`` bounds how far a fill reaches."""
    if fill is None:
        if max_gap_ms is not None:
            raise BadQueryError("max_gap_ms applies only together with fill (previous or linear)")
        return None, None
    word = _word(fill)
    if word not in FILL_METHODS:
        raise BadQueryError(f"fill {fill!r} is not one of {', '.join(FILL_METHODS)}")
    if interval in ("raw", "m4"):
        raise BadQueryError("fill applies to aggregated intervals only, not to raw samples")
    if max_gap_ms is None:
        return str(word), None
    longest = limits.max_agg_range_days * MS_PER_DAY
    if (
        not isinstance(max_gap_ms, int)
        or isinstance(max_gap_ms, bool)
        or not 0 < max_gap_ms <= longest
    ):
        raise BadQueryError(
            f"max_gap_ms must be an integer from 1 ms to {limits.max_agg_range_days} days, "
            f"got {max_gap_ms!r}"
        )
    return str(word), max_gap_ms


def check_range(start_ms: int, end_ms: int, interval: str, limits: QueryLimits) -> None:
    """Raw answers span at most ``max_raw_range_days``, aggregated ones ``max_agg_range_days``."""
    span_days = (end_ms - start_ms) / MS_PER_DAY
    # M4 answers at most max_points per series, so it gets the aggregated range
    limit_days = limits.max_raw_range_days if interval == "raw" else limits.max_agg_range_days
    if span_days > limit_days:
        hint = "; ask for interval=auto or 1h" if interval == "raw" else ""
        raise QueryLimitError(
            f"range of {span_days:.1f} days exceeds the {limit_days}-day limit for "
            f"interval={interval}{hint}"
        )


def check_sample_count(total: int, limits: QueryLimits) -> None:
    """An answer holds at most ``max_samples`` values (raw samples or buckets)."""
    if total > limits.max_samples:
        raise QueryLimitError(
            f"query would return {total} samples; at most {limits.max_samples} per "
            "response: narrow the range or points, or use a coarser interval"
        )


def _resolve(catalogue: PointCatalogue, site: str, names: Sequence[str]) -> Sequence[NamedPoint]:
    """The site's points for ``names``; an unknown site is refused before its names.

    One store round trip for a chart of a known site: a site is known exactly when its
    catalogue holds a point, so a name resolves only within a known site, and the site
    list is read only when nothing resolved (~0.5 ms of every plan before).
    """
    try:
        records = catalogue.resolve_points(site, names)
    except UnknownPointError:
        if site not in catalogue.list_sites():
            raise UnknownSiteError(f"unknown site {site!r}") from None
        raise
    if not records and site not in catalogue.list_sites():
        raise UnknownSiteError(f"unknown site {site!r}")
    return records


def build_plan(
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
    catalogue: PointCatalogue,
    limits: QueryLimits,
    facts: SiteFactsLookup | None = None,
) -> QueryPlan:
    """Check a request against every rule and resolve its names to stored points.

    Input rules come first (a malformed request never reaches the store); then the site
    must be known and each name must resolve to one point; last, a bucketed answer's
    size is known before reading, so it is refused here rather than after the work.
    """
    site_name = check_site(site)
    start, end = check_window(start_ms, end_ms)
    names = check_point_names(points, limits)
    most = resolve_max_points(max_points)
    resolved = resolve_interval(interval, start, end, max_buckets=most)
    if most is not None and resolved == "raw":
        resolved = "m4"
    agg_names = resolve_aggs(aggs, resolved)
    fill_method, gap = resolve_fill(fill, max_gap_ms, resolved, limits)
    check_range(start, end, resolved, limits)
    to_unit = resolve_unit(unit)
    if not isinstance(quality, bool):
        raise BadQueryError(f"quality must be true or false, got {quality!r}")
    records = _resolve(catalogue, site_name, names)
    stored = tuple(dict.fromkeys(record.name for record in records))
    zone_name, zone_source = resolve_tz(tz, site_name, facts)
    modes = facts.modes(site_name, list(stored)) if facts is not None else []
    edges = (
        tuple(local_edges(start, end, resolved, zone_name))
        if needs_local(resolved, zone_name)
        else None
    )
    width = INTERVALS_MS.get(resolved)
    if edges is not None:
        buckets = len(edges) - 1
        if most is not None and buckets > most:
            raise QueryLimitError(f"{buckets} buckets at {resolved} exceed max_points={most}")
        if buckets * len(stored) > limits.max_samples:
            raise QueryLimitError(
                f"{len(stored)} points x {buckets} buckets at {resolved} exceeds "
                f"{limits.max_samples} samples per response; use a coarser interval or 'auto'"
            )
    elif width is not None:
        first = start - start % width
        buckets = (end - 1 - first) // width + 1
        if buckets * len(stored) > limits.max_samples:
            raise QueryLimitError(
                f"{len(stored)} points x {buckets} buckets at {resolved} exceeds "
                f"{limits.max_samples} samples per response; use a coarser interval or 'auto'"
            )
        if most is not None and buckets > most:
            raise QueryLimitError(
                f"{buckets} buckets at {resolved} exceed max_points={most}; "
                "use interval=auto (it honours max_points) or a coarser interval"
            )
    return QueryPlan(
        site_name,
        stored,
        start,
        end,
        resolved,
        agg_names,
        fill_method,
        gap,
        tz=zone_name,
        tz_source=zone_source,
        edges=edges,
        max_points=most,
        unit=to_unit,
        quality=quality,
        modes=tuple(mode for mode, _ in modes),
        mode_sources=tuple(source for _, source in modes),
    )


def resolve_max_points(raw: object) -> int | None:
    """``max_points``: an integer from 4 (one M4 column) to ``MAX_M4_POINTS``."""
    if raw is None:
        return None
    if not _is_int(raw) or not 4 <= raw <= MAX_M4_POINTS:  # type: ignore[operator]
        raise BadQueryError(f"max_points must be an integer from 4 to {MAX_M4_POINTS}, got {raw!r}")
    assert isinstance(raw, int)
    return raw


TEMPERATURE_UNIT_WORDS = {"°f": "°F", "degf": "°F", "f": "°F", "°c": "°C", "degc": "°C", "c": "°C"}


def resolve_unit(raw: object) -> str | None:
    """``unit``: °F or °C (also degF/degC/F/C): temperature points are converted to it."""
    if raw is None:
        return None
    word = _word(raw)
    if not isinstance(word, str) or word not in TEMPERATURE_UNIT_WORDS:
        raise BadQueryError(
            f"unit {raw!r} is not one of degF, degC (°F, °C): only temperatures convert"
        )
    return TEMPERATURE_UNIT_WORDS[word]


def resolve_tz(raw: object, site: str, facts: SiteFactsLookup | None) -> tuple[str, str]:
    """``tz``: ``site`` (the site's zone), ``UTC`` or an IANA name; absent means UTC."""
    if raw is None:
        return "UTC", "default"
    if not isinstance(raw, str) or not raw.strip():
        raise BadQueryError(f"tz must be site, UTC or an IANA zone name, got {raw!r}")
    if raw.strip().lower() == "site":
        if facts is None:
            return "UTC", "default"
        zone_name, source = facts.timezone(site)
        zone(zone_name)  # a bad zone in ACE or the configuration is named, not used
        return zone_name, source
    if is_utc(raw):
        return "UTC", "request"
    return zone(raw).key, "request"
