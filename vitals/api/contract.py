"""The HTTP contract, declared once: request models the API validates and OpenAPI shows.

Each model lists a route's fields, which are required, and their JSON types (pydantic
enforces those, for query strings and JSON bodies alike). The value rules (name
lengths and characters, the interval / aggregate / fill vocabulary, points per request)
are enforced by :mod:`vitals.query.plan` with its own messages; the schemas here state
them from the same constants, so the document cannot drift from what is enforced.
:mod:`vitals.api.openapi` builds ``/openapi.json`` from these models.

Why pydantic models under Starlette rather than FastAPI (measured with direct ASGI calls,
one ``GET /v1/timeseries`` with 7 parameters, the handler answering a fixed body as a
cache hit does, best of 5 x 5,000): Starlette with these models and the whole parse takes
47 us a request; FastAPI with the same model as a ``Query()`` parameter model takes 123 us
before any of our parsing. The +76 us is ~15 % of a cached answer (~520 us of server
time), and FastAPI would still need our own code for the 415, repeated parameters, one
``Allow`` for GET/POST/OPTIONS on one path, HEAD, and errors in the API's JSON shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from vitals.names import MAX_NAME_LENGTH
from vitals.query.plan import INTERVALS
from vitals.query.types import AGGREGATES, FILL_METHODS, MAX_M4_POINTS, MAX_POINTS_PER_REQUEST

FORMATS = ("json", "csv", "arrow")
ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
MAX_TIME_TEXT = 64
DEFAULT_POINT_LIMIT = 1000
MAX_POINT_LIMIT = 10_000
# The old front end's interval names, on top of the v1 names.
LEGACY_INTERVALS = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "1hr": "1h",
    "1hour": "1h",
    "1day": "1d",
}
LEGACY_MAX_RANGE_DAYS = 365

NAME_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
TIME_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "description": "epoch milliseconds (UTC)"},
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TIME_TEXT,
            "description": "ISO 8601; no offset means UTC",
        },
    ]
}

TZ_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": 64,
    "default": "UTC",
    "examples": ["site", "UTC", "America/Chicago"],
}
UNIT_SCHEMA: dict[str, Any] = {"type": "string", "enum": ["degF", "degC", "°F", "°C"]}
MAX_POINTS_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 4, "maximum": MAX_M4_POINTS}

Name = Annotated[StrictStr, WithJsonSchema(NAME_SCHEMA)]
PointList = Annotated[
    list[Name],
    WithJsonSchema(
        {
            "type": "array",
            "items": NAME_SCHEMA,
            "minItems": 1,
            "maxItems": MAX_POINTS_PER_REQUEST,
        }
    ),
]
Time = Annotated[StrictInt | StrictStr, WithJsonSchema(TIME_SCHEMA)]
Interval = Annotated[
    StrictStr, WithJsonSchema({"type": "string", "enum": list(INTERVALS), "default": "raw"})
]
Fill = Annotated[StrictStr, WithJsonSchema({"type": "string", "enum": list(FILL_METHODS)})]
Format = Annotated[
    StrictStr, WithJsonSchema({"type": "string", "enum": list(FORMATS), "default": "json"})
]


class _TimeseriesFields(BaseModel):
    """The fields GET (query string) and POST (JSON body) share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: Name = Field(description="Site name")
    points: PointList = Field(
        description=f"Point names, any casing (at most {MAX_POINTS_PER_REQUEST})"
    )
    start: Time = Field(description="Range start, inclusive")
    end: Time = Field(description="Range end, exclusive")
    interval: Interval | None = Field(
        default=None,
        description="Downsampling interval (default raw; auto picks <= 2000 buckets)",
    )
    fill: Fill | None = Field(
        default=None,
        description="Fill empty buckets, seeded with the last sample before the window",
    )
    format: Format | None = Field(
        default=None, description="Answer format (else the Accept header decides)"
    )
    tz: Annotated[StrictStr, WithJsonSchema(TZ_SCHEMA)] | None = Field(
        default=None,
        description="Zone of 1d/1h buckets: site (the site's zone), UTC (default) or an IANA name",
    )
    unit: Annotated[StrictStr, WithJsonSchema(UNIT_SCHEMA)] | None = Field(
        default=None,
        description="Convert temperature points to this unit (each series says what it converted)",
    )


class TimeseriesParams(_TimeseriesFields):
    """``GET /v1/timeseries``: ``points`` repeats; every other parameter appears once."""

    model_config = ConfigDict(title="TimeseriesParams")

    agg: StrictStr | None = Field(
        default=None,
        description="Comma-separated aggregates for downsampled intervals (default avg)",
        json_schema_extra={"example": "avg,min,max"},
    )
    max_gap: StrictStr | None = Field(
        default=None, description="Longest gap a fill bridges: 30s, 15m, 2h, 1d or milliseconds"
    )
    max_points: Annotated[StrictStr, WithJsonSchema(MAX_POINTS_SCHEMA)] | None = Field(
        default=None,
        description="At most this many points per series: M4 for raw, auto picks <= N buckets",
    )
    quality: Annotated[StrictStr, WithJsonSchema({"type": "boolean"})] | None = Field(
        default=None, description="Add a quality object per series (true/false)"
    )


class TimeseriesBody(_TimeseriesFields):
    """``POST /v1/timeseries``: the GET fields as a JSON object (for long point lists)."""

    model_config = ConfigDict(title="TimeseriesRequest")

    agg: (
        Annotated[
            StrictStr | list[StrictStr],
            WithJsonSchema(
                {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "array", "items": {"type": "string", "enum": list(AGGREGATES)}},
                    ]
                }
            ),
        ]
        | None
    ) = Field(default=None, description="Aggregates: comma-separated or a list (default avg)")
    max_gap: (
        Annotated[
            StrictStr | StrictInt,
            WithJsonSchema({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
        ]
        | None
    ) = Field(default=None, description="Longest gap a fill bridges (duration or milliseconds)")
    max_points: Annotated[StrictInt, WithJsonSchema(MAX_POINTS_SCHEMA)] | None = Field(
        default=None,
        description="At most this many points per series: M4 for raw, auto picks <= N buckets",
    )
    quality: StrictBool | None = Field(default=None, description="Add a quality object per series")


class PointSearchParams(BaseModel):
    """``GET /v1/sites/{site}/points``: a case-insensitive substring search by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: StrictStr | None = Field(default=None, description="Substring to find, any casing")
    limit: (
        Annotated[
            StrictStr,
            WithJsonSchema(
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_POINT_LIMIT,
                    "default": DEFAULT_POINT_LIMIT,
                }
            ),
        ]
        | None
    ) = Field(default=None, description="Most points to list")
    stale: Annotated[StrictStr, WithJsonSchema({"type": "boolean"})] | None = Field(
        default=None, description="Only points the latest quality day found stale (true/false)"
    )
    stuck: Annotated[StrictStr, WithJsonSchema({"type": "boolean"})] | None = Field(
        default=None, description="Only points the latest quality day found stuck (true/false)"
    )


class QualityParams(BaseModel):
    """``GET /v1/sites/{site}/quality``: one site-day's quality report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Annotated[StrictStr, WithJsonSchema({"type": "string", "format": "date"})] = Field(
        description="UTC day, YYYY-MM-DD"
    )


class LegacyParams(BaseModel):
    """``GET /timeseries/query``: the earlier front end's parameters (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    site_name: Name = Field(description="Site name")
    point_names: Annotated[StrictStr, WithJsonSchema({"type": "string", "minLength": 1})] = Field(
        description="Comma-separated point names (split on every comma)"
    )
    start_time: Time = Field(description="Range start, inclusive")
    end_time: Time = Field(
        description=f"Range end, exclusive (at most {LEGACY_MAX_RANGE_DAYS} days)"
    )
    interval: (
        Annotated[
            StrictStr,
            WithJsonSchema({"type": "string", "enum": sorted({*LEGACY_INTERVALS, *INTERVALS})}),
        ]
        | None
    ) = Field(default=None, description="Averaging interval; absent = raw up to 31 days, else auto")
