"""The ACE IoT API client: sites, configured points, and the raw samples of one window.

Protocol (docs/design.md): list endpoints use a page envelope ``{page, pages, per_page,
total, items}``; the bulk export ``GET /sites/{site}/timeseries/paginated`` uses a
cursor (``point_samples``, ``has_more``, ``next_cursor``) with ``raw_data=True``.
Every request goes through the machine-wide rate limit and circuit breaker (state in
``state_dir``) and retries transient failures (vitals/ace/http.py).

A call pulls exactly the window it is given, as one cursor: cutting a day into
sub-windows the real API serves inside its timeout is the planner's job
(vitals/ace/plan.py), and the only place that arithmetic lives.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pyarrow as pa

from vitals.ace.circuit_breaker import SharedCircuitBreaker
from vitals.ace.http import AceApiError, AceRequester, RequestCounters, RetryPolicy
from vitals.ace.pages import (
    VALID_PAGE_SIZES,
    VALID_PER_PAGE,
    EnvelopePage,
    SamplePage,
    decode_envelope_page,
    decode_page_body,
    point_from_item,
)
from vitals.ace.parse import concat_raw_tables, filter_raw_window, raw_to_samples
from vitals.ace.rate_limit import SharedRateLimiter
from vitals.ace.state import is_postgres_state
from vitals.names import InvalidNameError, validate_site_name
from vitals.redact import redact_url
from vitals.samples import ParsedSamples, ms_to_iso
from vitals.windows import check_window

log = logging.getLogger("vitals.ace")
STATE_FILE = "ace_client.sqlite"  # under state_dir when no state_url is set


class AceConfigError(ValueError):
    """The client is configured so that no request could succeed (e.g. no API key)."""


@dataclass(frozen=True)
class AcePoint:
    """One configured point as ACE lists it (name stored exactly as sent)."""

    name: str
    point_id: int | None = None
    point_type: str | None = None
    collect_enabled: bool = True
    collect_interval: int | None = 300  # ACE's BACnet default
    created: str | None = None
    updated: str | None = None
    # tags as ACE lists them (units, kinds, equipment: vitals.point_tags reads them)
    marker_tags: tuple[str, ...] = ()
    kv_tags: tuple[tuple[str, str], ...] = ()
    object_units: str | None = None


@dataclass(frozen=True)
class FetchStats:
    """What one pull cost: figures recorded as Dagster metadata."""

    requests: int
    retries: int
    throttle_waits: int
    throttle_wait_seconds: float
    pages: int
    samples_received: int
    seconds: float
    retry_wait_seconds: float = 0.0
    samples_outside_window: int = 0  # sent by ACE but outside [start, end): not kept
    throttled_429: int = 0  # answers "429 Too Many Requests" (each retried)


@dataclass(frozen=True)
class RawPull:
    """One site window exactly as received (RAW_SCHEMA), filtered to [start_ms, end_ms).

    ``times`` holds each row's epoch ms as parsed for that filter (null where the text
    cannot be read), so :meth:`to_samples` does not parse the timestamps again.
    """

    site: str
    start_ms: int
    end_ms: int
    table: pa.Table
    times: pa.ChunkedArray[Any]
    stats: FetchStats

    def to_samples(self) -> ParsedSamples:
        """The pull as a sample table with drop counts (``raw_to_samples``, times reused)."""
        return raw_to_samples(self.table, times=self.times)


def state_location(state_dir: str | Path, state_url: str | None) -> str | Path:
    """Where the limiter and breaker keep state: ``state_url``, else a file in ``state_dir``."""
    return state_url or Path(state_dir) / STATE_FILE


def window_label(start_ms: int, end_ms: int) -> str:
    """A window as messages show it: ``[2025-10-12T00:00:00.000Z, ...)``."""
    return f"[{ms_to_iso(start_ms)}, {ms_to_iso(end_ms)})"


def budget_key(base_url: str) -> str:
    """The name of the vendor's request budget (rate limit and breaker) for ``base_url``.

    Two hosts spelling one API differently (``HTTPS://Flightdeck.aceiot.cloud:443/api/``
    and ``https://flightdeck.aceiot.cloud/api``) must share one budget, or together they
    send twice the vendor's limit: scheme and host are case-folded, a default port and
    trailing slashes dropped. The path keeps its case (servers may distinguish it).
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True, kw_only=True)
class AceClient:
    """Client for the ACE IoT API (FlightDeck); the settings are checked on construction.

    Outside Dagster build it directly (``AceClient(base_url=..., api_key=...,
    state_dir=...)``); in Dagster ``resources.ace.AceApiResource`` builds one per call.
    """

    base_url: str  # ACE_API_URL, e.g. https://flightdeck.aceiot.cloud/api
    api_key: str = field(repr=False)  # secret: never logged, never in a repr or a URL
    state_dir: str | Path  # folder of the shared limiter / breaker SQLite file
    requests_per_minute: int = 30  # shared by every process using the same state
    # A postgresql:// URL shared by every host (VITALS_STATE_URL); None: SQLite in state_dir.
    state_url: str | None = field(default=None, repr=False)
    timeout_seconds: float = 30.0  # per request (connect, read, write, pool)
    max_retries: int = 6  # retries after the first attempt (429, 5xx, network, bad body)
    breaker_failure_threshold: int = 5  # consecutive failed attempts that open the breaker
    breaker_cooldown_seconds: float = 60.0  # open -> half-open (one probe)
    page_size: int = 50000  # samples per cursor page; one of ACE's accepted values
    per_page: int = 1000  # items per page of list endpoints
    max_pages: int = 5000  # loop guard per cursor / list
    rate_limit_window_seconds: float = 60.0  # the "minute" of requests_per_minute
    backoff_base_seconds: float = 1.0  # first retry waits 0.5-1x this, doubling per retry
    backoff_max_seconds: float = 60.0  # backoff cap
    retry_after_max_seconds: float = 300.0  # longest Retry-After honoured as sent
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Refuse settings with which no request could succeed, before any is sent."""
        if not self.api_key or not self.api_key.strip():
            raise AceConfigError(
                "ACE API key is missing: set ACE_API_KEY (bound as dg.EnvVar('ACE_API_KEY'))"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise AceConfigError(f"ACE base_url {self.base_url!r} must start with http(s)://")
        if self.page_size not in VALID_PAGE_SIZES:
            raise AceConfigError(
                f"ACE page_size {self.page_size} is not one ACE accepts: {sorted(VALID_PAGE_SIZES)}"
            )
        if self.per_page not in VALID_PER_PAGE:
            raise AceConfigError(
                f"ACE per_page {self.per_page} is not one ACE accepts: {sorted(VALID_PER_PAGE)}"
            )
        if self.state_url and not is_postgres_state(self.state_url):
            raise AceConfigError(
                f"ACE state_url {redact_url(self.state_url)!r} must be a postgresql:// URL "
                "(or empty for SQLite files under state_dir)"
            )
        if self.requests_per_minute <= 0:
            raise AceConfigError(
                f"requests_per_minute must be positive, got {self.requests_per_minute}"
            )

    # ------------------------------------------------------------------ plumbing

    def _requester(self, client: httpx.Client, counters: RequestCounters) -> AceRequester:
        state = state_location(self.state_dir, self.state_url)
        bucket = budget_key(self.base_url)
        limiter = SharedRateLimiter(
            state,
            limit=self.requests_per_minute,
            window_seconds=self.rate_limit_window_seconds,
            bucket=bucket,
        )
        breaker = SharedCircuitBreaker(
            state,
            name=bucket,
            failure_threshold=self.breaker_failure_threshold,
            cooldown_seconds=self.breaker_cooldown_seconds,
            probe_timeout_seconds=max(4 * self.timeout_seconds, 60.0),
        )
        policy = RetryPolicy(
            max_retries=self.max_retries,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            retry_after_max_seconds=self.retry_after_max_seconds,
        )
        return AceRequester(
            client,
            api_key=self.api_key,
            limiter=limiter,
            breaker=breaker,
            policy=policy,
            counters=counters,
        )

    def _http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url.rstrip("/") + "/",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": "vitals-ace-client",
            },
            timeout=httpx.Timeout(self.timeout_seconds),
            transport=self.transport,
            follow_redirects=False,
        )

    def _paged_items(self, path: str, *, site: str | None, subject: str) -> list[Any]:
        """Every item of a page-envelope list, with a guard against endless paging."""
        items: list[Any] = []
        with self._http() as client:
            requester = self._requester(client, RequestCounters())
            page = 1
            while True:
                if page > self.max_pages:
                    raise AceApiError(
                        f"ACE {subject}: more than {self.max_pages} pages; stopping (loop guard)",
                        site=site,
                    )
                envelope: EnvelopePage = requester.get(
                    path,
                    {"page": page, "per_page": self.per_page},
                    decode_envelope_page,
                    site=site,
                    window=None,
                    subject=f"{subject} page {page}",
                )
                if envelope.pages > self.max_pages:
                    raise AceApiError(
                        f"ACE {subject}: ACE reports {envelope.pages} pages, more than "
                        f"max_pages={self.max_pages}; refusing (loop guard)",
                        site=site,
                    )
                items.extend(envelope.items)
                if not envelope.items or page >= envelope.pages:
                    return items
                page += 1

    # ------------------------------------------------------------------ public API

    def list_sites(self) -> list[str]:
        """Names of the sites ACE lists; names that are unsafe as paths are skipped (logged)."""
        names: list[str] = []
        for item in self._paged_items("sites", site=None, subject="site list"):
            name = item.get("name") if isinstance(item, dict) else None
            try:
                names.append(validate_site_name(name))
            except InvalidNameError as exc:
                log.warning("ACE site list: skipping a site: %s", exc)
        return names

    def fetch_site_timezone(self, site: str) -> str | None:
        """The ``timezone`` of ACE's site record (optional there), or ``None``."""
        validate_site_name(site)
        with self._http() as client:
            record = self._requester(client, RequestCounters()).get(
                f"sites/{quote(site, safe='')}",
                {},
                _decode_json,
                site=site,
                window=None,
                subject=f"site {site!r} record",
            )
        zone = record.get("timezone") if isinstance(record, dict) else None
        return zone.strip() if isinstance(zone, str) and zone.strip() else None

    def fetch_configured_points(self, site: str) -> list[AcePoint]:
        """The site's collect-enabled points; unusable items are skipped and logged."""
        validate_site_name(site)
        path = f"sites/{quote(site, safe='')}/configured_points"
        points: list[AcePoint] = []
        for item in self._paged_items(path, site=site, subject=f"site {site!r} configured points"):
            point, problem = point_from_item(item)
            if point is None:
                log.warning("ACE site %r configured points: skipping an item: %s", site, problem)
            else:
                points.append(AcePoint(**point))
        return points

    def fetch_site_window(self, site: str, start_ms: int, end_ms: int) -> RawPull:
        """Every raw sample of the site in [start_ms, end_ms), as received, in one cursor.

        Rows whose time cannot be read are kept (the parse step counts them). A bad
        site name or window raises before any request.
        """
        validate_site_name(site)
        check_window(start_ms, end_ms, subject=f"ACE site {site!r}")
        began = time.monotonic()
        window = window_label(start_ms, end_ms)
        path = f"sites/{quote(site, safe='')}/timeseries/paginated"
        # Ask from 1 ms early: whether ACE's start bound is inclusive is undocumented, and
        # the client-side filter below restores the exact half-open window.
        params: dict[str, Any] = {
            "start_time": ms_to_iso(start_ms - 1),
            "end_time": ms_to_iso(end_ms),
            "page_size": self.page_size,
            "raw_data": "True",
        }
        counters = RequestCounters()
        with self._http() as client:
            tables = self._follow_cursor(
                self._requester(client, counters), path, params, site=site, window=window
            )
        received = concat_raw_tables(tables)
        windowed = filter_raw_window(received, start_ms, end_ms)
        stats = FetchStats(
            requests=counters.requests,
            retries=counters.retries,
            throttle_waits=counters.throttle_waits,
            throttle_wait_seconds=counters.throttle_wait_seconds,
            pages=len(tables),
            samples_received=received.num_rows,
            seconds=time.monotonic() - began,
            retry_wait_seconds=counters.retry_wait_seconds,
            samples_outside_window=windowed.outside,
            throttled_429=counters.throttled_429,
        )
        return RawPull(site, start_ms, end_ms, windowed.table, windowed.times, stats)

    def _follow_cursor(
        self,
        requester: AceRequester,
        path: str,
        params: Mapping[str, Any],
        *,
        site: str,
        window: str,
    ) -> list[pa.Table]:
        """Every page of one cursor, refusing a cursor that repeats or never ends."""
        subject = f"site {site!r} window {window}"
        tables: list[pa.Table] = []
        seen_cursors: set[str] = set()
        cursor: str | None = None
        while True:
            if len(tables) >= self.max_pages:
                raise AceApiError(
                    f"ACE {subject}: more than {self.max_pages} pages; stopping (loop guard)",
                    site=site,
                    window=window,
                )
            page_params = dict(params, cursor=cursor) if cursor else params
            page: SamplePage = requester.get(
                path,
                page_params,
                decode_page_body,
                site=site,
                window=window,
                subject=f"{subject} page {len(tables) + 1}",
            )
            tables.append(page.table)
            if not page.has_more:
                return tables
            if not page.next_cursor:
                raise AceApiError(
                    f"ACE {subject}: page {len(tables)} says has_more but gives no "
                    "next_cursor; refusing to stop early and lose samples",
                    site=site,
                    window=window,
                )
            if page.next_cursor in seen_cursors:
                raise AceApiError(
                    f"ACE {subject}: cursor repeated after page {len(tables)}; stopping "
                    "(loop guard)",
                    site=site,
                    window=window,
                )
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor


def _decode_json(body: bytes) -> object:
    """A JSON body as Python (a non-JSON body decodes to ``None``)."""
    try:
        return json.loads(body)
    except ValueError:
        return None
