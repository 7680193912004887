"""The OpenAPI 3.1 document served at ``/openapi.json``, built from the contract models.

Request parameters and the POST body come from :mod:`vitals.api.contract` (the models
the API validates with); this module adds the answers, error statuses and security,
which no request model describes. The tests validate it with openapi-spec-validator.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from vitals.api.contract import (
    ARROW_MEDIA_TYPE,
    LegacyParams,
    PointSearchParams,
    QualityParams,
    TimeseriesBody,
    TimeseriesParams,
)
from vitals.names import MAX_NAME_LENGTH
from vitals.point_tags import HISTORY_MODES
from vitals.query.plan import INTERVALS
from vitals.query.types import AGGREGATES

_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
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


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema as a parameter's: no title, and optional means absent, not null."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "description")}
    options = schema.pop("anyOf", None)
    if options is not None:
        kept = [option for option in options if option != {"type": "null"}]
        schema.pop("default", None)
        schema = {**kept[0], **schema} if len(kept) == 1 else {"anyOf": kept, **schema}
    return schema


def query_parameters(model: type[BaseModel], where: str = "query") -> list[dict[str, Any]]:
    """OpenAPI parameters of a contract model: names, required, descriptions, schemas."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": _plain(prop),
        }
        if parameter["schema"].get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A contract model as a component schema (titles dropped: the component names it)."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema["properties"] = {
        name: {k: v for k, v in prop.items() if k != "title"}
        for name, prop in schema["properties"].items()
    }
    return schema


_TS_RESPONSES = {
    "200": {
        "description": "Series per point, in the order asked",
        "headers": {
            "X-Query-Time-Ms": {"schema": {"type": "number"}},
            "X-Cache-Hit": {"schema": {"type": "string", "enum": ["true", "false"]}},
            "X-Cache-Source": {
                "description": "memory (this worker's cache), shared (the host's shared "
                "cache: computed by another worker) or computed",
                "schema": {"type": "string", "enum": ["memory", "shared", "computed"]},
            },
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
            "history_mode": {"type": "string", "enum": list(HISTORY_MODES)},
            "history_mode_source": {"type": "string"},
            "avg_kind": {
                "type": "string",
                "description": "Which mean avg is: of samples, time-weighted, or delta per hour",
            },
            "not_applicable": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Aggregates left null because the point's mode has none",
            },
            "unit": {"type": ["string", "null"]},
            "converted_from": {
                "type": ["string", "null"],
                "description": "With unit=: the stored unit converted from (null: not converted)",
            },
            "quality": _ref("SeriesQuality"),
        },
    },
    "TimeseriesAnswer": {
        "type": "object",
        "required": ["site", "start", "end", "interval", "series"],
        "properties": {
            "site": {"type": "string"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "interval": {
                "type": "string",
                "enum": [*(i for i in INTERVALS if i != "auto"), "m4"],
                "description": "m4: raw samples downsampled to max_points per series",
            },
            "tz": {"type": "string", "description": "Zone of the buckets (semantic answers)"},
            "tz_source": {"type": "string", "enum": ["request", "ace", "config", "default"]},
            "max_points": {"type": "integer"},
            "m4_grid": {
                "type": "object",
                "description": "M4 columns [origin + i*width_ms, origin + (i+1)*width_ms)",
                "properties": {
                    "origin": {"type": "integer"},
                    "width_ms": {"type": "integer"},
                    "columns": {"type": "integer"},
                    "aligned_to": {"type": ["string", "null"], "enum": ["1d", "1h", "15m", None]},
                },
            },
            "unit": {"type": "string", "description": "Unit temperatures were converted to"},
            "series": {"type": "array", "items": _ref("Series")},
        },
    },
    "SeriesQuality": {
        "type": "object",
        "properties": {
            "days": {"type": "integer"},
            "days_reported": {"type": "integer"},
            "coverage": {"type": ["number", "null"]},
            "longest_gap_s": {"type": ["number", "null"]},
            "stuck_s": {"type": ["number", "null"]},
            "implausible": {"type": "integer"},
            "stale": {"type": ["boolean", "null"]},
            "stuck": {"type": ["boolean", "null"]},
        },
    },
    "PointInfo": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "data_type": {"type": ["string", "null"]},
            "unit": {"type": ["string", "null"], "description": "From ACE tags, canonical"},
            "kind": {"type": ["string", "null"]},
            "equipment": {"type": ["string", "null"]},
            "interval_s": {"type": ["integer", "null"]},
            "history_mode": {"type": "string", "enum": list(HISTORY_MODES)},
            "history_mode_source": {
                "type": "string",
                "enum": ["config", "tags", "data", "default"],
            },
            "quality": {
                "type": ["object", "null"],
                "properties": {
                    "stale": {"type": "boolean"},
                    "stuck": {"type": "boolean"},
                    "coverage": {"type": ["number", "null"]},
                },
            },
        },
    },
    "QualityRow": {
        "type": "object",
        "properties": {
            "point_name": {"type": "string"},
            "samples": {"type": "integer"},
            "expected": {"type": ["number", "null"]},
            "coverage": {"type": ["number", "null"]},
            "first_ts": {"type": ["integer", "null"]},
            "last_ts": {"type": ["integer", "null"]},
            "longest_gap_s": {"type": "number"},
            "stuck_s": {"type": "number"},
            "implausible": {"type": "integer"},
            "unit": {"type": ["string", "null"]},
            "interval_s": {"type": ["integer", "null"]},
            "history_mode": {"type": "string"},
            "inferred_mode": {"type": ["string", "null"]},
            "stale": {"type": "boolean"},
            "stuck": {"type": "boolean"},
        },
    },
    "QualityReport": {
        "type": "object",
        "required": ["site", "date", "summary", "points"],
        "properties": {
            "site": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "summary": {
                "type": "object",
                "properties": {
                    "points": {"type": "integer"},
                    "mean_coverage": {"type": "number"},
                    "stale_points": {"type": "integer"},
                    "stuck_points": {"type": "integer"},
                    "implausible_samples": {"type": "integer"},
                },
            },
            "points": {"type": "array", "items": _ref("QualityRow")},
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
    schemas = {**_SCHEMAS, "TimeseriesRequest": body_schema(TimeseriesBody)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vitals query API",
            "version": version,
            "description": "Building telemetry over the hot store and cold Parquet days. Ranges are "
            "half-open [start, end) in UTC; times are ISO 8601 or epoch milliseconds.",
        },
        "components": {
            "schemas": schemas,
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
                        {
                            "name": "site",
                            "in": "path",
                            "required": True,
                            "description": "Site name",
                            "schema": _NAME,
                        },
                        *query_parameters(PointSearchParams),
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
                                            "quality_day": {
                                                "type": ["string", "null"],
                                                "description": "Day of the quality flags shown",
                                            },
                                            "count": {"type": "integer"},
                                            "points": {"type": "array", "items": _ref("PointInfo")},
                                        },
                                    }
                                }
                            },
                        },
                        **_errors("400", "401", "404"),
                    },
                }
            },
            "/v1/sites/{site}/quality": {
                "get": {
                    "summary": "Data quality per point for one UTC day (point_quality asset)",
                    "operationId": "siteQuality",
                    "parameters": [
                        {"name": "site", "in": "path", "required": True, "schema": _NAME},
                        *query_parameters(QualityParams),
                    ],
                    "responses": {
                        "200": {
                            "description": "The site-day's report",
                            "content": {"application/json": {"schema": _ref("QualityReport")}},
                        },
                        **_errors("400", "401", "404"),
                    },
                }
            },
            "/v1/timeseries": {
                "get": {
                    "summary": "Time series for points over a range",
                    "operationId": "getTimeseries",
                    "parameters": query_parameters(TimeseriesParams),
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
                    "parameters": query_parameters(LegacyParams),
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
