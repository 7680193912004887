"""Parse and validate time-series requests before anything reaches the engine.

Query strings and JSON bodies are untrusted: every field is checked for type, range
and duplicates here, and every refusal names the parameter and the bad value. The
result is a frozen :class:`TimeseriesQuery` the routes hand to the query engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vitals.api.errors import bad_request, limit_exceeded, truncate
from vitals.names import InvalidNameError, validate_point_name, validate_site_name
from vitals.query.types import (
    AGGREGATES,
    INTERVALS_MS,
    MAX_AGG_RANGE_DAYS,
    MAX_POINTS_PER_REQUEST,
    MAX_RAW_RANGE_DAYS,
)
from vitals.samples import MS_PER_DAY, BadTimestampError, parse_ts_ms

INTERVALS = ("raw", *INTERVALS_MS, "auto")
FILLS = ("previous", "linear")
FORMATS = ("json", "csv", "arrow")
ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
# Building telemetry before 2000 does not exist; a smaller number is usually epoch
# *seconds* sent by mistake, which we refuse rather than silently read as 1970.
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_MAX_TIME_TEXT = 64
_INT_RE = re.compile(r"^-?[0-9]{1,16}$")
# re.ASCII: a bare \d also matches fullwidth and other scripts' digits, which int()
# then reads as numbers (and "²" matches isdigit() yet int() refuses it).
_OFFSET_RE = re.compile(r"[T ]\d{2}(?::?\d{2})*(?:[.,]\d+)?\s*([+-])(\d{2}):?(\d{2})?$", re.ASCII)
_DURATION_RE = re.compile(r"^(\d{1,9})(ms|s|m|h|d)$", re.ASCII)
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": MS_PER_DAY}
V1_FIELDS = frozenset(
    {"site", "points", "start", "end", "interval", "agg", "fill", "max_gap", "format"}
)


@dataclass(frozen=True)
class TimeseriesQuery:
    """A validated time-series request: what the engine is asked and how to answer."""

    site: str
    points: tuple[str, ...]
    start_ms: int
    end_ms: int
    interval: str
    aggs: tuple[str, ...]
    fill: str | None = None
    max_gap_ms: int | None = None
    format: str = "json"


def parse_time(name: str, raw: object) -> int:
    """Epoch ms from an ISO 8601 string (naive means UTC) or an integer of epoch ms."""
    if isinstance(raw, bool) or raw is None:
        raise bad_request(f"{name} must be ISO 8601 or epoch milliseconds, got {truncate(raw)}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > _MAX_TIME_TEXT or not text.isascii():
            raise bad_request(f"{name} must be ISO 8601 or epoch milliseconds, got {truncate(raw)}")
        offset = _OFFSET_RE.search(text)
        if offset and (int(offset.group(2)) > 14 or int(offset.group(3) or 0) > 59):
            raise bad_request(f"{name} {truncate(raw)} has a UTC offset outside -14:00..+14:00")
        if _INT_RE.match(text):
            value = int(text)
        else:
            try:
                value = parse_ts_ms(text)
            except (BadTimestampError, ValueError, OverflowError) as exc:
                raise bad_request(
                    f"{name} {truncate(raw)} is neither ISO 8601 nor epoch milliseconds"
                ) from exc
    else:
        raise bad_request(
            f"{name} must be ISO 8601 or epoch milliseconds, got {type(raw).__name__}"
        )
    if not MIN_TIME_MS <= value < MAX_TIME_MS:
        raise bad_request(
            f"{name} {truncate(raw)} is outside 2000-01-01..2100-01-01 "
            "(times are epoch milliseconds, not seconds)"
        )
    return value


def parse_range(start_raw: object, end_raw: object) -> tuple[int, int]:
    """A half-open [start, end) window; start must be before end."""
    start_ms = parse_time("start", start_raw)
    end_ms = parse_time("end", end_raw)
    if start_ms >= end_ms:
        raise bad_request(
            f"start ({start_ms}) must be before end ({end_ms}); ranges are [start, end)"
        )
    return start_ms, end_ms


def parse_interval(raw: object) -> str:
    """One of raw, 1m, 5m, 15m, 1h, 1d, auto."""
    if raw is None:
        return "raw"
    if not isinstance(raw, str) or raw.strip().lower() not in INTERVALS:
        raise bad_request(f"interval {truncate(raw)} is not one of {', '.join(INTERVALS)}")
    return raw.strip().lower()


def parse_aggs(raw: object, interval: str) -> tuple[str, ...]:
    """Aggregates for downsampled intervals (default avg); none for raw."""
    if raw is None or raw == "" or raw == []:
        return () if interval == "raw" else ("avg",)
    items: list[object]
    if isinstance(raw, str):
        items = list(raw.split(","))
    elif isinstance(raw, list):
        items = []
        for item in raw:
            items.extend(item.split(",") if isinstance(item, str) else [item])
    else:
        raise bad_request(f"agg must be a comma-separated string or a list, got {truncate(raw)}")
    aggs: list[str] = []
    for item in items:
        if not isinstance(item, str) or item.strip().lower() not in AGGREGATES:
            raise bad_request(f"agg {truncate(item)} is not one of {', '.join(AGGREGATES)}")
        agg = item.strip().lower()
        if agg in aggs:
            raise bad_request(f"agg {agg!r} is listed twice")
        aggs.append(agg)
    if interval == "raw":
        raise bad_request("agg needs a downsampling interval (1m, 5m, 15m, 1h, 1d or auto)")
    return tuple(aggs)


def parse_duration_ms(name: str, raw: object) -> int:
    """A positive duration: ``30s``, ``15m``, ``2h``, ``1d`` or an integer of milliseconds."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INT_RE.match(raw.strip()):
        value = int(raw.strip())
    elif isinstance(raw, str) and (match := _DURATION_RE.match(raw.strip().lower())):
        value = int(match.group(1)) * _DURATION_MS[match.group(2)]
    else:
        raise bad_request(
            f"{name} {truncate(raw)} is not a duration like 30s, 15m, 2h, 1d or milliseconds"
        )
    if value <= 0 or value > MAX_AGG_RANGE_DAYS * MS_PER_DAY:
        raise bad_request(
            f"{name} {truncate(raw)} must be between 1 ms and {MAX_AGG_RANGE_DAYS} days"
        )
    return value


def parse_fill(
    fill_raw: object, max_gap_raw: object, interval: str
) -> tuple[str | None, int | None]:
    """Gap filling for downsampled series; ``max_gap`` bounds how far a fill reaches."""
    if fill_raw is None or fill_raw == "":
        if max_gap_raw is not None:
            raise bad_request("max_gap needs fill=previous or fill=linear")
        return None, None
    if not isinstance(fill_raw, str) or fill_raw.strip().lower() not in FILLS:
        raise bad_request(f"fill {truncate(fill_raw)} is not one of {', '.join(FILLS)}")
    if interval == "raw":
        raise bad_request("fill needs a downsampling interval (1m, 5m, 15m, 1h, 1d or auto)")
    max_gap = None if max_gap_raw is None else parse_duration_ms("max_gap", max_gap_raw)
    return fill_raw.strip().lower(), max_gap


def parse_site(raw: object, name: str = "site") -> str:
    """A site name that is safe as a path segment (vitals.names rules)."""
    if raw is None or raw == "":
        raise bad_request(f"{name} is required")
    try:
        return validate_site_name(raw)
    except InvalidNameError as exc:
        raise bad_request(f"{name}: {exc}") from exc


def parse_points(
    raw: Iterable[object], *, name: str = "points", dedupe: bool = False
) -> tuple[str, ...]:
    """Validated point names in request order; at most MAX_POINTS_PER_REQUEST.

    ``dedupe`` drops repeated names (the legacy endpoint did); otherwise a repeat is a
    400 so a client bug does not silently double a series.
    """
    points: list[str] = []
    seen: set[str] = set()
    for item in raw:
        try:
            point = validate_point_name(item)
        except InvalidNameError as exc:
            raise bad_request(f"{name}: {exc}") from exc
        if point in seen:
            if dedupe:
                continue
            raise bad_request(f"{name}: point {truncate(point)} is listed twice")
        seen.add(point)
        points.append(point)
        if len(points) > MAX_POINTS_PER_REQUEST:
            raise limit_exceeded(
                f"{name}: more than {MAX_POINTS_PER_REQUEST} points in one request"
            )
    if not points:
        raise bad_request(f"{name} is required: give at least one point name")
    return tuple(points)


def check_range_limit(start_ms: int, end_ms: int, interval: str) -> None:
    """Raw answers span at most MAX_RAW_RANGE_DAYS, aggregated ones MAX_AGG_RANGE_DAYS."""
    days = (end_ms - start_ms) / MS_PER_DAY
    limit = MAX_RAW_RANGE_DAYS if interval == "raw" else MAX_AGG_RANGE_DAYS
    if days > limit:
        hint = "; ask for interval=auto or 1h" if interval == "raw" else ""
        raise limit_exceeded(
            f"range of {days:.1f} days exceeds {limit} days for interval={interval}{hint}"
        )


def negotiate_format(explicit: object, accept: str | None) -> str:
    """``format`` wins; else the Accept header picks CSV or Arrow; else JSON."""
    if explicit is not None:
        if not isinstance(explicit, str) or explicit.strip().lower() not in FORMATS:
            raise bad_request(f"format {truncate(explicit)} is not one of {', '.join(FORMATS)}")
        return explicit.strip().lower()
    accept = (accept or "").lower()
    if ARROW_MEDIA_TYPE in accept:
        return "arrow"
    if "text/csv" in accept:
        return "csv"
    return "json"


def single(params: Sequence[tuple[str, str]], name: str) -> str | None:
    """The one value of a query parameter; a repeated scalar parameter is a 400."""
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise bad_request(f"parameter {name!r} is given {len(values)} times; give it once")
    return values[0] if values else None


def reject_unknown(keys: Iterable[str], allowed: frozenset[str]) -> None:
    """Unknown parameters are a 400 so a typo (``point=``) does not silently drop input."""
    unknown = sorted({key for key in keys if key not in allowed})
    if unknown:
        raise bad_request(
            f"unknown parameter(s) {', '.join(truncate(k, 60) for k in unknown[:5])}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def build_query(
    fields: Mapping[str, object], points: Iterable[object], accept: str | None
) -> TimeseriesQuery:
    """Validate one v1 request (query string or JSON body, already split into fields)."""
    site = parse_site(fields.get("site"))
    point_names = parse_points(points)
    if fields.get("start") is None or fields.get("end") is None:
        raise bad_request("start and end are required (ISO 8601 or epoch milliseconds)")
    start_ms, end_ms = parse_range(fields.get("start"), fields.get("end"))
    interval = parse_interval(fields.get("interval"))
    aggs = parse_aggs(fields.get("agg"), interval)
    fill, max_gap_ms = parse_fill(fields.get("fill"), fields.get("max_gap"), interval)
    check_range_limit(start_ms, end_ms, interval)
    return TimeseriesQuery(
        site=site,
        points=point_names,
        start_ms=start_ms,
        end_ms=end_ms,
        interval=interval,
        aggs=aggs,
        fill=fill,
        max_gap_ms=max_gap_ms,
        format=negotiate_format(fields.get("format"), accept),
    )


def query_from_params(params: Sequence[tuple[str, str]], accept: str | None) -> TimeseriesQuery:
    """``GET /v1/timeseries``: ``points`` repeats; every other parameter appears once."""
    reject_unknown((key for key, _ in params), V1_FIELDS)
    fields = {name: single(params, name) for name in V1_FIELDS - {"points"}}
    points = [value for key, value in params if key == "points"]
    return build_query(fields, points, accept)


def query_from_body(body: object, accept: str | None) -> TimeseriesQuery:
    """``POST /v1/timeseries``: the same fields as a JSON object; ``points`` is a list."""
    if not isinstance(body, dict):
        raise bad_request(f"request body must be a JSON object, got {type(body).__name__}")
    reject_unknown(body.keys(), V1_FIELDS)
    points = body.get("points")
    if not isinstance(points, list):
        raise bad_request(f"points must be a list of point names, got {truncate(points)}")
    for key in ("site", "interval", "fill", "format"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request(f"{key} must be a string, got {truncate(body[key])}")
    return build_query(body, points, accept)
