"""The OpenAPI 3.1 document served at ``/openapi.json`` (validated in the tests)."""

from __future__ import annotations

from typing import Any

from vitals.api.params import ARROW_MEDIA_TYPE, FILLS, FORMATS, INTERVALS
from vitals.api.routes.legacy import LEGACY_INTERVALS, LEGACY_MAX_RANGE_DAYS
from vitals.names import MAX_NAME_LENGTH
from vitals.query.types import AGGREGATES, MAX_POINTS_PER_REQUEST

_TIME = {
    "oneOf": [
        {"type": "integer", "description": "epoch milliseconds (UTC)"},
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "ISO 8601; no offset means UTC",
        },
    ]
}
# Site and point names: vitals.names refuses empty and longer names with a 400.
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
_POINT_LIST = {"type": "array", "items": _NAME, "minItems": 1, "maxItems": MAX_POINTS_PER_REQUEST}
_ERROR_CODES = {
    "400": "Malformed input (the detail names the parameter and value)",
    "401": "Missing or unknown API key",
    "403": "Origin not in VITALS_ALLOWED_ORIGINS",
    "404": "Unknown site or point",
    "409": "A case-insensitive name matches several points (all are named)",
    "413": "Request body over the size limit",
    "415": "Content-Type is not application/json",
    "422": "Beyond a limit: points per request, range, samples per response",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {
            "description": _ERROR_CODES[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for code in codes
    }


def _param(
    name: str,
    description: str,
    schema: dict[str, Any],
    *,
    required: bool = False,
    where: str = "query",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
        **extra,
    }


_TS_PARAMS = [
    _param("site", "Site name", _NAME, required=True),
    _param(
        "points",
        f"Point name (repeat for several; at most {MAX_POINTS_PER_REQUEST}); any casing",
        _POINT_LIST,
        required=True,
        style="form",
        explode=True,
    ),
    _param("start", "Range start, inclusive", _TIME, required=True),
    _param("end", "Range end, exclusive", _TIME, required=True),
    _param(
        "interval",
        "Downsampling interval (default raw; auto picks <= 2000 buckets)",
        {"type": "string", "enum": list(INTERVALS), "default": "raw"},
    ),
    _param(
        "agg",
        "Comma-separated aggregates for downsampled intervals (default avg)",
        {"type": "string", "example": "avg,min,max"},
    ),
    _param("fill", "Fill empty buckets", {"type": "string", "enum": list(FILLS)}),
    _param(
        "max_gap",
        "Longest gap a fill bridges: 30s, 15m, 2h, 1d or milliseconds",
        {"type": "string"},
    ),
    _param(
        "format",
        "Answer format (else the Accept header decides)",
        {"type": "string", "enum": list(FORMATS), "default": "json"},
    ),
]

_TS_RESPONSES = {
    "200": {
        "description": "Series per point, in the order asked",
        "headers": {
            "X-Query-Time-Ms": {"schema": {"type": "number"}},
            "X-Cache-Hit": {"schema": {"type": "string", "enum": ["true", "false"]}},
            "X-Vitals-Tiers": {
                "description": "Tiers read: hot, cold, rollup (comma-separated) or none",
                "schema": {"type": "string"},
            },
        },
        "content": {
            "application/json": {"schema": _ref("TimeseriesAnswer")},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "point,timestamp,value\nAHU-1/SAT,2026-11-01 00:00:00.000Z,55.1\n",
            },
            ARROW_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **_errors("400", "401", "403", "404", "409", "422"),
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "example": "unknown_point"},
            "detail": {"type": "string"},
        },
    },
    "Series": {
        "type": "object",
        "required": ["point", "t"],
        "properties": {
            "point": {"type": "string", "description": "Point name as stored"},
            "t": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "epoch ms (bucket starts)",
            },
            "v": {
                "type": "array",
                "items": {"type": ["number", "null"]},
                "description": "raw values",
            },
            **{agg: {"type": "array", "items": {"type": ["number", "null"]}} for agg in AGGREGATES},
        },
    },
    "TimeseriesAnswer": {
        "type": "object",
        "required": ["site", "start", "end", "interval", "series"],
        "properties": {
            "site": {"type": "string"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "interval": {"type": "string", "enum": [i for i in INTERVALS if i != "auto"]},
            "series": {"type": "array", "items": _ref("Series")},
        },
    },
    "TimeseriesRequest": {
        "type": "object",
        "required": ["site", "points", "start", "end"],
        "additionalProperties": False,
        "properties": {
            "site": _NAME,
            "points": _POINT_LIST,
            "start": _TIME,
            "end": _TIME,
            "interval": {"type": "string", "enum": list(INTERVALS)},
            "agg": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string", "enum": list(AGGREGATES)}},
                ]
            },
            "fill": {"type": "string", "enum": list(FILLS)},
            "max_gap": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "format": {"type": "string", "enum": list(FORMATS)},
        },
    },
    "LegacyAnswer": {
        "type": "object",
        "required": ["site_name", "point_names", "samples", "metadata"],
        "properties": {
            "site_name": {"type": "string"},
            "point_names": {"type": "array", "items": {"type": "string"}},
            "samples": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["point_name", "timestamp", "value"],
                    "properties": {
                        "point_name": {"type": "string"},
                        "timestamp": {"type": "integer"},
                        "value": {"type": "number"},
                    },
                },
            },
            "metadata": {
                "type": "object",
                "required": [
                    "total_samples",
                    "sources",
                    "storage_tiers",
                    "query_time_ms",
                    "cache_hit",
                ],
                "properties": {
                    "total_samples": {"type": "integer"},
                    "sources": {"type": "array", "items": {"type": "string"}},
                    "storage_tiers": {"type": "object"},
                    "query_time_ms": {"type": "integer"},
                    "cache_hit": {"type": "boolean"},
                },
            },
        },
    },
}


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    """The document: every route, its parameters, answers and error shapes."""
    legacy_intervals = sorted({*LEGACY_INTERVALS, *INTERVALS})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vitals query API",
            "version": version,
            "description": "Building telemetry over the hot store and cold Parquet days. Ranges are "
            "half-open [start, end) in UTC; times are ISO 8601 or epoch milliseconds.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key from VITALS_API_KEYS",
                }
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/sites": {
                "get": {
                    "summary": "List sites",
                    "operationId": "listSites",
                    "responses": {
                        "200": {
                            "description": "Sites",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "sites": {"type": "array", "items": {"type": "string"}}
                                        },
                                    }
                                }
                            },
                        },
                        **_errors("401"),
                    },
                }
            },
            "/v1/sites/{site}/points": {
                "get": {
                    "summary": "Search a site's points by name (case-insensitive substring)",
                    "operationId": "listPoints",
                    "parameters": [
                        _param("site", "Site name", _NAME, required=True, where="path"),
                        _param("q", "Substring to find, any casing", {"type": "string"}),
                        _param(
                            "limit",
                            "Most points to list",
                            {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Points",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "site": {"type": "string"},
                                            "q": {"type": "string"},
                                            "count": {"type": "integer"},
                                            "points": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "name": {"type": "string"},
                                                        "data_type": {"type": ["string", "null"]},
                                                    },
                                                },
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        **_errors("400", "401", "404"),
                    },
                }
            },
            "/v1/timeseries": {
                "get": {
                    "summary": "Time series for points over a range",
                    "operationId": "getTimeseries",
                    "parameters": _TS_PARAMS,
                    "responses": _TS_RESPONSES,
                },
                "post": {
                    "summary": "Time series (fields as JSON, for long point lists)",
                    "operationId": "postTimeseries",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("TimeseriesRequest")}},
                    },
                    "responses": {**_TS_RESPONSES, **_errors("413", "415")},
                },
                "options": {
                    "summary": "Allowed methods (a CORS preflight needs no key)",
                    "operationId": "optionsTimeseries",
                    "responses": {
                        "204": {
                            "description": "No content",
                            "headers": {
                                "Allow": {
                                    "schema": {
                                        "type": "string",
                                        "example": "GET, HEAD, POST, OPTIONS",
                                    }
                                }
                            },
                        },
                        **_errors("401"),
                    },
                },
            },
            "/timeseries/query": {
                "get": {
                    "summary": "Earlier front end's endpoint (drop-in); interval downsamples with avg",
                    "operationId": "legacyQuery",
                    "parameters": [
                        _param("site_name", "Site name", _NAME, required=True),
                        _param(
                            "point_names",
                            "Comma-separated point names (split on every comma)",
                            {"type": "string", "minLength": 1},
                            required=True,
                        ),
                        _param("start_time", "Range start, inclusive", _TIME, required=True),
                        _param(
                            "end_time",
                            f"Range end, exclusive (at most {LEGACY_MAX_RANGE_DAYS} days)",
                            _TIME,
                            required=True,
                        ),
                        _param(
                            "interval",
                            "Averaging interval; absent = raw up to 31 days, else auto",
                            {"type": "string", "enum": legacy_intervals},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "Samples",
                            "headers": {
                                "X-Query-Time-Ms": {"schema": {"type": "integer"}},
                                "X-Cache-Hit": {"schema": {"type": "string"}},
                            },
                            "content": {"application/json": {"schema": _ref("LegacyAnswer")}},
                        },
                        **_errors("400", "401", "403", "404", "409", "422"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Hot store reachable and cold store readable",
                    "operationId": "health",
                    "security": [],
                    "responses": {
                        "200": {"description": "Healthy"},
                        "503": {"description": "A store is unavailable"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }
