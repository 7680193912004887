"""API keys and CORS: who may ask, and which browser origins may read the answer.

Keys come from ``VITALS_API_KEYS`` and are sent as ``Authorization: Bearer <key>``;
each is compared with :func:`hmac.compare_digest` against every configured key (no
early exit), so timing does not leak which bytes matched. With no keys configured the
API answers loopback clients only (and ``vitals serve`` refuses a non-loopback bind
unless ``--insecure-no-auth``). ``/healthz``, ``/metrics`` and ``/openapi.json`` are
open so probes and scrapers need no secret; so are the explorer page (``/``) and its
files (``/static/...``), which hold no data: the page asks for a key and sends it.

CORS answers only the origins in ``VITALS_ALLOWED_ORIGINS`` (exact match; empty by
default), echoes the origin (never ``*`` unless ``*`` itself is configured), adds
``Vary: Origin``, and refuses a request that carries an ``Origin`` not on the list with
403, so a page on another site cannot even make the API do the work. A request whose
``Origin`` is the API's own (scheme and ``Host`` of the request: the explorer page,
whose POSTs carry it) is same-origin, not cross-origin, and needs no allowance.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitals.api.errors import ERROR_CODE_STATE, error_response

OPEN_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json", "/"})
OPEN_PREFIXES = ("/static/",)
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept"
EXPOSED_HEADERS = "X-Query-Time-Ms, X-Cache-Hit, X-Cache-Source, X-Vitals-Tiers"
PREFLIGHT_MAX_AGE = "600"


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (a client address or a bind host)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_open_path(path: str) -> bool:
    """Whether ``path`` is served without a key (probes, the page and its files)."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def is_same_origin(origin: str, scope: Scope) -> bool:
    """Whether ``origin`` is the origin this request was sent to (scheme + Host header).

    A browser sends ``Origin`` on same-origin POSTs too; the page served at ``/`` must not
    need a CORS entry for its own API. (A DNS-rebinding page also looks same-origin, but
    it could send a GET without any ``Origin`` anyway: keys are what protect the data.)
    """
    host = Headers(scope=scope).get("host")
    if not host:
        return False
    return origin.lower() == f"{scope.get('scheme', 'http')}://{host}".lower()


@dataclass(frozen=True)
class AuthPolicy:
    """Configured API keys; ``allow_anonymous`` only when explicitly insecure."""

    api_keys: tuple[str, ...]
    allow_anonymous: bool = False

    def __repr__(self) -> str:  # never print keys
        return f"AuthPolicy(keys={len(self.api_keys)}, allow_anonymous={self.allow_anonymous})"

    def check(self, authorization: str | None, client_host: str | None) -> tuple[bool, str]:
        """(allowed, reason) for one request's Authorization header and client address."""
        if not self.api_keys:
            if self.allow_anonymous or is_loopback(client_host):
                return True, ""
            return False, "no API keys are configured, so only loopback clients are served"
        if not authorization:
            return False, "missing Authorization: Bearer <key> header"
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False, "Authorization header must be 'Bearer <key>'"
        presented = token.encode("utf-8", "surrogateescape")
        matched = False
        for key in self.api_keys:
            matched |= hmac.compare_digest(presented, key.encode("utf-8"))
        return (True, "") if matched else (False, "API key not recognised")


@dataclass(frozen=True)
class CorsPolicy:
    """Origins allowed to read answers in a browser (exact, case-sensitive match)."""

    allowed_origins: tuple[str, ...]

    @property
    def any_origin(self) -> bool:
        """Whether ``*`` is configured (every origin may read)."""
        return "*" in self.allowed_origins

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` may call the API."""
        return self.any_origin or origin in self.allowed_origins

    def allow_origin_value(self, origin: str) -> str:
        """The ``Access-Control-Allow-Origin`` value for ``origin``."""
        return "*" if self.any_origin else origin


def _append_vary(headers: MutableHeaders) -> None:
    vary = headers.get("vary")
    if not vary:
        headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        headers["Vary"] = f"{vary}, Origin"


class GuardMiddleware:
    """CORS (preflight and response headers) then API-key check, as pure ASGI."""

    def __init__(self, app: ASGIApp, *, auth: AuthPolicy, cors: CorsPolicy) -> None:
        self.app = app
        self.auth = auth
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse foreign origins, answer preflights, check the key, then pass on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and is_same_origin(origin, scope):
            origin = None  # the page's own calls: no CORS headers, no allowance needed
        if origin is not None and not self.cors.allows(origin):
            await self._refuse(
                scope,
                receive,
                send,
                403,
                "origin_not_allowed",
                f"origin {origin[:200]!r} is not in VITALS_ALLOWED_ORIGINS",
                {"Vary": "Origin"},
            )
            return
        if (
            origin is not None
            and scope["method"] == "OPTIONS"
            and "access-control-request-method" in headers
        ):
            await self._preflight(origin, scope, receive, send)
            return
        if not is_open_path(scope["path"]):
            client = scope.get("client")
            allowed, reason = self.auth.check(
                headers.get("authorization"), client[0] if client else None
            )
            if not allowed:
                extra = {"WWW-Authenticate": 'Bearer realm="vitals"'}
                if origin is not None:
                    extra.update(self._cors_headers(origin))
                await self._refuse(scope, receive, send, 401, "unauthorized", reason, extra)
                return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in self._cors_headers(origin).items():
                    if name == "Vary":
                        _append_vary(response_headers)
                    else:
                        response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _cors_headers(self, origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self.cors.allow_origin_value(origin),
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }

    async def _preflight(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        requested = Headers(scope=scope).get("access-control-request-method", "").upper()
        if requested not in ("GET", "POST"):
            await self._refuse(
                scope,
                receive,
                send,
                405,
                "method_not_allowed",
                f"method {requested[:20]!r} is not allowed; use GET or POST",
                {"Vary": "Origin"},
            )
            return
        headers = {
            "Access-Control-Allow-Origin": self.cors.allow_origin_value(origin),
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        }
        await Response(status_code=204, headers=headers)(scope, receive, send)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str],
    ) -> None:
        scope.setdefault("state", {})[ERROR_CODE_STATE] = code
        await error_response(status, code, detail, headers=headers)(scope, receive, send)


def split_origins(origins: Sequence[str]) -> tuple[str, ...]:
    """Origins without trailing slashes (browsers send none)."""
    return tuple(origin.rstrip("/") for origin in origins if origin.strip())
