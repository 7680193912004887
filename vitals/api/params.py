"""HTTP strings to the plan's inputs: times, durations, lists, formats and field shapes.

Query strings and JSON bodies are untrusted. Their shape (which fields, required or
not, JSON types) is checked against the models of :mod:`vitals.api.contract`; their
text is parsed here (ISO 8601 or epoch-ms times, ``15m`` durations, comma lists). What
the values may be (names, window, vocabulary, limits) is the plan's to decide
(:func:`vitals.query.plan.build_plan`), so no request rule is written twice. Every
refusal names the parameter and the bad value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, get_origin

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from vitals.api.contract import (
    ARROW_MEDIA_TYPE,
    FORMATS,
    LEGACY_INTERVALS,
    LEGACY_MAX_RANGE_DAYS,
    MAX_TIME_TEXT,
    LegacyParams,
    TimeseriesBody,
    TimeseriesParams,
)
from vitals.api.errors import bad_request, limit_exceeded, truncate
from vitals.query.types import MAX_RAW_RANGE_DAYS
from vitals.samples import MS_PER_DAY, BadTimestampError, parse_ts_ms

# Building telemetry before 2000 does not exist; a smaller number is usually epoch
# *seconds* sent by mistake, which we refuse rather than silently read as 1970.
MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_INT_RE = re.compile(r"^-?[0-9]{1,16}$")
# re.ASCII: a bare \d also matches fullwidth and other scripts' digits, which int()
# then reads as numbers (and "²" matches isdigit() yet int() refuses it).
_OFFSET_RE = re.compile(r"[T ]\d{2}(?::?\d{2})*(?:[.,]\d+)?\s*([+-])(\d{2}):?(\d{2})?$", re.ASCII)
_DURATION_RE = re.compile(r"^(\d{1,9})(ms|s|m|h|d)$", re.ASCII)
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": MS_PER_DAY}

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class ParsedRequest:
    """A time-series request as the plan's inputs, plus how to answer it."""

    site: str
    points: tuple[str, ...]
    start_ms: int
    end_ms: int
    interval: str
    aggs: tuple[str, ...] | None  # None: the plan's default
    fill: str | None = None
    max_gap_ms: int | None = None
    format: str = "json"
    tz: str | None = None
    max_points: int | None = None
    unit: str | None = None
    quality: bool = False


def parse_time(name: str, raw: object) -> int:
    """Epoch ms from an ISO 8601 string (naive means UTC) or an integer of epoch ms."""
    if isinstance(raw, bool) or raw is None:
        raise bad_request(f"{name} must be ISO 8601 or epoch milliseconds, got {truncate(raw)}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not text or len(text) > MAX_TIME_TEXT or not text.isascii():
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


def parse_duration_ms(name: str, raw: object) -> int:
    """Milliseconds from ``30s``, ``15m``, ``2h``, ``1d`` or an integer of milliseconds."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _INT_RE.match(raw.strip()):
        return int(raw.strip())
    if isinstance(raw, str) and (match := _DURATION_RE.match(raw.strip().lower())):
        return int(match.group(1)) * _DURATION_MS[match.group(2)]
    raise bad_request(
        f"{name} {truncate(raw)} is not a duration like 30s, 15m, 2h, 1d or milliseconds"
    )


def split_aggs(raw: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``avg,max`` (or a list of such strings) as items; absent or empty means the default."""
    if raw is None or raw == "" or raw == []:
        return None
    items = [raw] if isinstance(raw, str) else list(raw)
    return tuple(part for item in items for part in item.split(","))


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


def reject_unknown(keys: Iterable[str], allowed: Iterable[str]) -> None:
    """Unknown parameters are a 400 so a typo (``point=``) does not silently drop input."""
    known = frozenset(allowed)
    unknown = sorted({key for key in keys if key not in known})
    if unknown:
        raise bad_request(
            f"unknown parameter(s) {', '.join(truncate(k, 60) for k in unknown[:5])}; "
            f"allowed: {', '.join(sorted(known))}"
        )


def validated(model: type[Model], data: object) -> Model:
    """``data`` checked against a contract model; the first problem becomes a 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        if error["type"] == "missing":
            raise bad_request(f"{where} is required") from None
        raise bad_request(
            f"{where or 'request'}: {error['msg']}, got {truncate(error['input'])}"
        ) from None


def query_fields(
    model: type[BaseModel], params: Sequence[tuple[str, str]], *, strict: bool = True
) -> dict[str, object]:
    """A query string as a model's input: list fields collect repeats, others appear once.

    ``strict`` refuses parameters the model does not declare.
    """
    if strict:
        reject_unknown((key for key, _ in params), model.model_fields)
    fields: dict[str, object] = {}
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is list:
            values = [value for key, value in params if key == name]
            if values:
                fields[name] = values
        elif (value := single(params, name)) is not None:
            fields[name] = value
    return fields


def parse_bool(name: str, raw: object) -> bool:
    """``true``/``false`` (any casing, also 1/0) from a query string; JSON booleans as they are."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "false", "0"):
        return raw.strip().lower() in ("true", "1")
    raise bad_request(f"{name} must be true or false, got {truncate(raw)}")


def parse_count(name: str, raw: object) -> int:
    """An integer from a query string (ASCII digits) or a JSON integer."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        return int(raw.strip())
    raise bad_request(f"{name} must be an integer, got {truncate(raw)}")


def _request(
    fields: TimeseriesParams | TimeseriesBody,
    aggs: tuple[str, ...] | None,
    max_gap: str | int | None,
    accept: str | None,
) -> ParsedRequest:
    interval = fields.interval if fields.interval is not None else "raw"
    if aggs is not None and interval.strip().lower() == "raw" and fields.max_points is None:
        # The library ignores aggregates of raw answers; a client sending them is confused.
        raise bad_request("agg needs a downsampling interval (1m, 5m, 15m, 1h, 1d or auto)")
    return ParsedRequest(
        site=fields.site,
        points=tuple(fields.points),
        start_ms=parse_time("start", fields.start),
        end_ms=parse_time("end", fields.end),
        interval=interval,
        aggs=aggs,
        fill=fields.fill or None,
        max_gap_ms=None if max_gap is None else parse_duration_ms("max_gap", max_gap),
        format=negotiate_format(fields.format, accept),
        tz=fields.tz,
        max_points=None
        if fields.max_points is None
        else parse_count("max_points", fields.max_points),
        unit=fields.unit,
        quality=False if fields.quality is None else parse_bool("quality", fields.quality),
    )


@functools.lru_cache(maxsize=4096)
def query_from_query_string(raw: bytes, accept: str | None) -> ParsedRequest:
    """:func:`query_from_params` of a raw query string, remembered for repeats.

    Parsing is a pure function of the query string and ``Accept``, and a dashboard sends
    the same ones again and again: parse_qsl, unquoting and validation were ~35% of a
    cache hit's CPU. Refusals raise and are not remembered; 4,096 strings at most.
    """
    return query_from_params(QueryParams(raw.decode("latin-1")).multi_items(), accept)


def query_from_params(params: Sequence[tuple[str, str]], accept: str | None) -> ParsedRequest:
    """``GET /v1/timeseries``: ``points`` repeats; every other parameter appears once."""
    fields = validated(TimeseriesParams, query_fields(TimeseriesParams, params))
    return _request(fields, split_aggs(fields.agg), fields.max_gap, accept)


def query_from_body(body: object, accept: str | None) -> ParsedRequest:
    """``POST /v1/timeseries``: the same fields as a JSON object; ``points`` is a list."""
    if not isinstance(body, dict):
        raise bad_request(f"request body must be a JSON object, got {type(body).__name__}")
    reject_unknown(body.keys(), TimeseriesBody.model_fields)
    fields = validated(TimeseriesBody, body)
    return _request(fields, split_aggs(fields.agg), fields.max_gap, accept)


def query_from_legacy(params: Sequence[tuple[str, str]]) -> ParsedRequest:
    """``GET /timeseries/query``: the old names; a point list split on every comma.

    With no ``interval`` the answer is raw up to 31 days and ``auto`` beyond; repeated
    names are dropped (the old endpoint did); the range is at most 365 days.
    """
    fields = validated(LegacyParams, query_fields(LegacyParams, params, strict=False))
    points = tuple(dict.fromkeys(p.strip() for p in fields.point_names.split(",") if p.strip()))
    if not points:
        raise bad_request("point_names is required (comma-separated)")
    start_ms = parse_time("start_time", fields.start_time)
    end_ms = parse_time("end_time", fields.end_time)
    if end_ms - start_ms > LEGACY_MAX_RANGE_DAYS * MS_PER_DAY:
        raise limit_exceeded(f"time range exceeds maximum of {LEGACY_MAX_RANGE_DAYS} days")
    if not fields.interval:
        interval = "raw" if end_ms - start_ms <= MAX_RAW_RANGE_DAYS * MS_PER_DAY else "auto"
    else:
        interval = LEGACY_INTERVALS.get(fields.interval.strip().lower(), fields.interval)
    return ParsedRequest(fields.site_name, points, start_ms, end_ms, interval, None)
