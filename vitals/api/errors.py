"""The API's error answer: one JSON shape, one status per cause, no internals.

Every refusal is ``{"error": <code>, "detail": <message naming the bad value>}`` so a
front end can branch on ``error`` and show ``detail``. Query-engine refusals
(:class:`vitals.query.types.QueryError`) carry their own HTTP status.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from vitals.query.types import (
    AmbiguousPointError,
    BadQueryError,
    QueryError,
    QueryLimitError,
    UnknownPointError,
    UnknownSiteError,
)

_QUERY_ERROR_CODES: tuple[tuple[type[QueryError], str], ...] = (
    (UnknownSiteError, "unknown_site"),
    (UnknownPointError, "unknown_point"),
    (AmbiguousPointError, "ambiguous_point"),
    (QueryLimitError, "limit_exceeded"),
    (BadQueryError, "bad_request"),
)


# Key in the ASGI scope's "state" where handlers leave the error code for the metrics.
ERROR_CODE_STATE = "vitals_error_code"


class ApiError(Exception):
    """A request the API refuses, with the status and code it answers."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def bad_request(detail: str) -> ApiError:
    """400 for malformed input; ``detail`` names the parameter and the bad value."""
    return ApiError(400, "bad_request", detail)


def limit_exceeded(detail: str) -> ApiError:
    """422 for a well-formed request beyond the API's limits."""
    return ApiError(422, "limit_exceeded", detail)


def from_query_error(exc: QueryError) -> ApiError:
    """Map an engine refusal to the API error, keeping its status and message."""
    status = getattr(exc, "status", 400)
    if not isinstance(status, int) or not 400 <= status < 500:
        status = 400
    code = next((c for cls, c in _QUERY_ERROR_CODES if isinstance(exc, cls)), "bad_request")
    detail = getattr(exc, "detail", None) or str(exc)
    return ApiError(status, code, str(detail))


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error body every route and middleware answers with."""
    body = json.dumps({"error": code, "detail": detail}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def truncate(value: object, limit: int = 120) -> str:
    """``repr`` of an untrusted value cut to ``limit`` chars, safe to echo in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
