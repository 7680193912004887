"""One ACE request, done safely: rate limit, circuit breaker, retries, decoding.

Why a module of its own: every ACE call (site lists, point pages, timeseries pages)
needs the same discipline, and keeping it apart from the paging logic keeps each
part small and testable. The API key only ever travels in the ``Authorization``
header; it is never put in a URL, a log line or an error message.

Why the retry loop is written here and not taken from httpx-retries (0.6.0 weighed):
the contract is that every *attempt*, not every logical request, takes a slot of the
shared rate limiter and reports to the shared circuit breaker, that a 2xx whose body
breaks mid-transfer or does not decode is retried like a 5xx, and that ``Retry-After``
is capped on its own (``retry_after_max_seconds``, 300 s) apart from the backoff cap
(60 s). ``RetryTransport`` retries inside the transport, which returns before the body
is read: a body that breaks in transfer (what 15 MB pages did on the real API) is
never retried, and a breaker placed in a wrapped transport would have recorded that
attempt as a success. ``retry_request`` (client level) does retry body errors, but
runs ``client.send`` itself with no per-attempt hook, so the breaker could only learn
of a failure through a second transport plus a wrapped response stream; malformed
bodies would need decoding inside ``validate_response`` and again after it (~0.1 s
more per 100,000-sample, 13 MB page, measured here); and ``Retry`` caps ``Retry-After`` with the same
``max_backoff_wait`` as the backoff, so keeping both caps means subclassing it. The
retry and wait counts that ``FetchStats`` reports are not exposed when the retries
fail. Those three hooks and a subclass would replace one ~80-line loop that does all
of it in one place and is covered by tests/ace/test_ace_client_faults.py, so the
loop stays and the dependency is not added.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from vitals.ace.circuit_breaker import BreakerOpenError, SharedCircuitBreaker
from vitals.ace.rate_limit import SharedRateLimiter

T = TypeVar("T")
log = logging.getLogger("vitals.ace")

# Failures worth retrying: the server was busy, broken or unreachable, or the body broke.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)


class AceApiError(RuntimeError):
    """An ACE call failed; the message names the site, the window and the status."""

    def __init__(
        self,
        message: str,
        *,
        site: str | None = None,
        window: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.site = site
        self.window = window
        self.status = status


class CircuitOpenError(AceApiError):
    """ACE failed repeatedly; calls fail fast until the breaker's probe succeeds."""


class AceSiteNotFoundError(AceApiError):
    """ACE answered 404 for a site (the query layer's ``UnknownSiteError`` is another)."""


class MalformedBodyError(ValueError):
    """A 2xx answer whose body is not the JSON shape we expect (retried, then fatal)."""


@dataclass
class RequestCounters:
    """Running totals for one public call (frozen into ``FetchStats`` at the end)."""

    requests: int = 0
    retries: int = 0
    throttle_waits: int = 0
    throttle_wait_seconds: float = 0.0
    retry_wait_seconds: float = 0.0
    throttled_429: int = 0  # answers "429 Too Many Requests": ACE's own limit was hit


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; ``Retry-After`` wins when the server sends it."""

    max_retries: int = 6
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    retry_after_max_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry number ``attempt + 1`` (attempt counts from 0)."""
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.retry_after_max_seconds)
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * (2.0**attempt))
        return ceiling * random.uniform(0.5, 1.0)  # "equal jitter": never zero, never herd


def parse_retry_after(raw: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None if absent/bad."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def scrub(text: str, secret: str) -> str:
    """Remove a secret from text that may end up in a message (defence in depth)."""
    return text.replace(secret, "***") if secret else text


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if body.get(key):
                return str(body[key])[:200]
    return str(body)[:200]


class AceRequester:
    """Sends GETs to ACE through the shared limiter and breaker, retrying what is transient."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: str,
        limiter: SharedRateLimiter,
        breaker: SharedCircuitBreaker,
        policy: RetryPolicy,
        counters: RequestCounters,
    ) -> None:
        self.client = client
        self.api_key = api_key
        self.limiter = limiter
        self.breaker = breaker
        self.policy = policy
        self.counters = counters

    def _send(self, path: str, params: Mapping[str, Any]) -> httpx.Response:
        permit = self.limiter.acquire()
        if permit.waits:
            self.counters.throttle_waits += 1
            self.counters.throttle_wait_seconds += permit.waited_seconds
        self.counters.requests += 1
        return self.client.get(path, params=dict(params))

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        decode: Callable[[bytes], T],
        *,
        site: str | None,
        window: str | None,
        subject: str,
    ) -> T:
        """GET ``path`` and decode the body, or raise an :class:`AceApiError`.

        ``subject`` describes the call for messages (e.g. "site 'x' window [a, b)").
        """
        last_failure = ""
        last_status: int | None = None
        for attempt in range(self.policy.max_retries + 1):
            try:
                self.breaker.before_request()
            except BreakerOpenError as exc:
                raise CircuitOpenError(
                    f"ACE {subject}: not sent, {scrub(str(exc), self.api_key)}",
                    site=site,
                    window=window,
                    status=last_status,
                ) from None
            retry_after: float | None = None
            try:
                response = self._send(path, params)
            except _RETRY_TRANSPORT_ERRORS as exc:
                last_failure, last_status = f"{type(exc).__name__} ({exc})", None
                self.breaker.record_failure(scrub(last_failure, self.api_key)[:300])
            except httpx.HTTPError as exc:  # not transient (bad URL, unsupported scheme, ...)
                raise AceApiError(
                    f"ACE {subject}: request could not be sent: {type(exc).__name__} "
                    f"({scrub(str(exc), self.api_key)})",
                    site=site,
                    window=window,
                ) from exc
            else:
                status = response.status_code
                last_status = status
                if status in RETRY_STATUSES or status >= 500:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    last_failure = f"HTTP {status} {_error_detail(response)}".strip()
                    if status >= 500:
                        self.breaker.record_failure(scrub(last_failure, self.api_key)[:300])
                    else:
                        self.breaker.record_success()  # 429: the service is up, just busy
                        if status == 429:
                            self.counters.throttled_429 += 1
                elif status >= 400:
                    self.breaker.record_success()
                    self._raise_client_error(response, site=site, window=window, subject=subject)
                elif status >= 300:
                    location = response.headers.get("Location", "?")
                    raise AceApiError(
                        f"ACE {subject}: HTTP {status} redirect to {location!r}; check the ACE "
                        "base URL (the client does not follow redirects with the API key)",
                        site=site,
                        window=window,
                        status=status,
                    )
                else:
                    try:
                        decoded = decode(response.content)
                    except MalformedBodyError as exc:
                        last_failure = f"HTTP {status} with a malformed body: {exc}"
                        self.breaker.record_failure(scrub(last_failure, self.api_key)[:300])
                    else:
                        self.breaker.record_success()
                        return decoded
            if attempt == self.policy.max_retries:
                break
            delay = self.policy.delay(attempt, retry_after)
            log.warning(
                "ACE %s: %s; retry %d/%d in %.1f s",
                subject,
                scrub(last_failure, self.api_key),
                attempt + 1,
                self.policy.max_retries,
                delay,
            )
            self.counters.retries += 1
            self.counters.retry_wait_seconds += delay
            time.sleep(delay)
        raise AceApiError(
            f"ACE {subject} failed after {self.policy.max_retries + 1} attempts: "
            f"{scrub(last_failure, self.api_key)}",
            site=site,
            window=window,
            status=last_status,
        )

    def _raise_client_error(
        self, response: httpx.Response, *, site: str | None, window: str | None, subject: str
    ) -> None:
        status = response.status_code
        detail = scrub(_error_detail(response), self.api_key)
        if status in (401, 403):
            message = f"ACE {subject}: HTTP {status}, the API key was rejected ({detail})"
        elif status == 404 and site is not None:
            raise AceSiteNotFoundError(
                f"ACE {subject}: HTTP 404, ACE does not know site {site!r} ({detail})",
                site=site,
                window=window,
                status=status,
            )
        else:
            message = f"ACE {subject}: HTTP {status} ({detail})"
        raise AceApiError(message, site=site, window=window, status=status)
