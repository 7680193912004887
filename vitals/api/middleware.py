"""Outer ASGI layers: metrics + last-resort error answer, and the request body limit.

``ObserveMiddleware`` times every request, counts it by route template and status,
and turns any exception that escaped the routes into a bare 500 JSON answer (logged
with its traceback, never echoed). ``BodyLimitMiddleware`` answers 413 before reading
a declared oversized body, and stops reading an undeclared (chunked) one at the limit.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitals.api.errors import ERROR_CODE_STATE, ApiError, error_response
from vitals.api.metrics import ApiMetrics

logger = logging.getLogger("vitals.api")

# Key in the ASGI scope's "state" where time-series routes leave the tier(s) read.
TIER_STATE = "vitals_tier"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_DEFAULT_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


class ObserveMiddleware:
    """Metrics for every request and the catch-all 500 answer."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time and count the request; answer a bare 500 for anything that escaped."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500
        response_started = False

        async def observing_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        except Exception:
            route = _route_label(scope)
            logger.exception("unhandled error answering %s %s", scope.get("method"), route)
            state[ERROR_CODE_STATE] = "internal_error"
            status = 500
            if not response_started:
                await error_response(
                    500, "internal_error", "internal error; the server log has the details"
                )(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started_at
            self.metrics.observe_request(
                route=_route_label(scope),
                method=str(scope.get("method", "")),
                status=status,
                tier=str(state.get(TIER_STATE, "none")),
                seconds=seconds,
            )
            if status >= 400:
                code = state.get(ERROR_CODE_STATE) or _DEFAULT_CODES.get(status, "error")
                self.metrics.observe_error(status=status, code=str(code))


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a declared oversized body, or stop reading a streamed one at the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.strip().isdigit()):  # "²".isdigit() is true
                await self._answer(
                    scope,
                    receive,
                    send,
                    400,
                    "bad_request",
                    f"Content-Length {declared[:40]!r} is not a number",
                )
                return
            if int(declared) > self.max_bytes:
                await self._answer(
                    scope,
                    receive,
                    send,
                    413,
                    "body_too_large",
                    f"request body of {int(declared)} bytes exceeds {self.max_bytes} bytes",
                )
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ApiError(
                        413, "body_too_large", f"request body exceeds {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str
    ) -> None:
        scope.setdefault("state", {})[ERROR_CODE_STATE] = code
        await error_response(status, code, detail)(scope, receive, send)
