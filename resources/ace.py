"""The ACE IoT API as a Dagster resource: sites, configured points, raw site windows.

Protocol (ACE_API.md): list endpoints use a page envelope ``{page, pages, per_page,
total, items}``; the bulk export ``GET /sites/{site}/timeseries/paginated`` uses a
cursor (``point_samples``, ``has_more``, ``next_cursor``) with ``raw_data=True``.
Every request goes through a machine-wide rate limit and circuit breaker (state in
``state_dir``) and retries transient failures (vitals/ace/http.py).

Request arithmetic (one site-day; requests = pages, each page one request):
- full load, ~4,600 points x 1,440 samples = ~6.6 M samples: at ``page_size`` 50,000
  that is 133 pages unsplit; split into four 6-hour sub-windows of ~1.66 M samples,
  4 x 34 = 136 requests. At the default 30 requests/minute: ~4.5 minutes per site-day,
  ~28 hours for a year of one site. With ``page_size`` 100,000: 4 x 17 = 68 requests.
- production, ~4,600 points at 5-minute samples = ~1.3 M samples: 4 x 7 = 28
  requests at 50,000 (4 x 4 = 16 at 100,000), about a minute per site-day.
- a 5-minute incremental sync (~4,600 samples) is one request.
Sub-windows exist because whole-day windows timed out on the real API while
windows of hours worked (ACE_API.md section 11); a page of 100,000 samples is ~15 MB
of JSON and took ~10 s, and pages of 100k+ sometimes broke mid-transfer, hence
``page_size`` 50,000 by default (one of ACE's accepted values).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import httpx
import pyarrow as pa
from pydantic import PrivateAttr

from vitals.ace.circuit_breaker import SharedCircuitBreaker
from vitals.ace.http import (
    AceApiError,
    AceRequester,
    CircuitOpenError,
    MalformedBodyError,
    RequestCounters,
    RetryPolicy,
    UnknownSiteError,
)
from vitals.ace.pages import (
    VALID_PAGE_SIZES,
    VALID_PER_PAGE,
    EnvelopePage,
    SamplePage,
    decode_envelope_page,
    decode_page_body,
    point_from_item,
)
from vitals.ace.parse import concat_raw_tables, filter_raw_window
from vitals.ace.rate_limit import SharedRateLimiter
from vitals.names import InvalidNameError, validate_site_name
from vitals.samples import ms_to_iso

__all__ = [
    "AceApiError",
    "AceApiResource",
    "AceConfigError",
    "AcePoint",
    "CircuitOpenError",
    "FetchStats",
    "MalformedBodyError",
    "RawPull",
    "UnknownSiteError",
    "decode_page_body",
    "window_label",
]

log = logging.getLogger("vitals.ace")
_STATE_FILE = "ace_client.sqlite"


class AceConfigError(ValueError):
    """The resource is configured so that no request could succeed (e.g. no API key)."""


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
    sub_windows: int = 1


@dataclass(frozen=True)
class RawPull:
    """One site window exactly as received (RAW_SCHEMA), filtered to [start_ms, end_ms)."""

    site: str
    start_ms: int
    end_ms: int
    table: pa.Table
    stats: FetchStats


def window_label(start_ms: int, end_ms: int) -> str:
    return f"[{ms_to_iso(start_ms)}, {ms_to_iso(end_ms)})"


class AceApiResource(dg.ConfigurableResource):
    """Client for the ACE IoT API (FlightDeck): one resource per external system.

    Built in Dagster as ``AceApiResource(base_url=..., api_key=dg.EnvVar("ACE_API_KEY"),
    requests_per_minute=..., state_dir=...)``; outside Dagster the same constructor
    with a plain key works, and the methods can be called directly.
    """

    base_url: str  # ACE_API_URL, e.g. https://flightdeck.aceiot.cloud/api
    api_key: str  # secret: bind as dg.EnvVar("ACE_API_KEY"); never logged
    requests_per_minute: int = 30  # shared by every process using the same state_dir
    state_dir: str  # folder of the shared limiter / breaker SQLite file
    timeout_seconds: float = 30.0  # per request (connect, read, write, pool)
    max_retries: int = 6  # retries after the first attempt (429, 5xx, network, bad body)
    breaker_failure_threshold: int = 5  # consecutive failed attempts that open the breaker
    breaker_cooldown_seconds: float = 60.0  # open -> half-open (one probe)
    page_size: int = 50000  # samples per cursor page; one of ACE's accepted values
    window_chunk_seconds: int = 6 * 3600  # sub-window length; 0 = one cursor per window
    per_page: int = 1000  # items per page of list endpoints
    max_pages: int = 5000  # loop guard per cursor / list
    rate_limit_window_seconds: float = 60.0  # the "minute" of requests_per_minute (tests shorten)
    backoff_base_seconds: float = 1.0  # first retry waits 0.5-1x this, doubling per retry
    backoff_max_seconds: float = 60.0  # backoff cap
    retry_after_max_seconds: float = 300.0  # longest Retry-After honoured as sent

    _transport: httpx.BaseTransport | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Never show the API key (reprs end up in logs and tracebacks)."""
        for name, value in super().__repr_args__():
            yield name, ("***" if name == "api_key" and value else value)

    def with_transport(self, transport: httpx.BaseTransport) -> AceApiResource:
        """Send requests through ``transport`` (e.g. ``httpx.MockTransport`` in tests)."""
        self._transport = transport
        return self

    # ------------------------------------------------------------------ plumbing

    def _check_config(self) -> None:
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
        if self.requests_per_minute <= 0:
            raise AceConfigError(
                f"requests_per_minute must be positive, got {self.requests_per_minute}"
            )

    def _requester(self, client: httpx.Client, counters: RequestCounters) -> AceRequester:
        state = Path(self.state_dir) / _STATE_FILE
        bucket = self.base_url.rstrip("/")
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

    def _client(self) -> httpx.Client:
        self._check_config()
        return httpx.Client(
            base_url=self.base_url.rstrip("/") + "/",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "User-Agent": "vitals-ace-client",
            },
            timeout=httpx.Timeout(self.timeout_seconds),
            transport=self._transport,
            follow_redirects=False,
        )

    def _paged_items(self, path: str, *, site: str | None, subject: str) -> list[Any]:
        """Every item of a page-envelope list, with a guard against endless paging."""
        items: list[Any] = []
        with self._client() as client:
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
        """Every raw sample of the site in [start_ms, end_ms), as received (one table).

        The window is fetched in sub-windows of ``window_chunk_seconds``; rows whose
        time cannot be read are kept (the parse step counts them).
        """
        began = time.monotonic()
        pulls = list(self.fetch_site_window_chunks(site, start_ms, end_ms))
        table = concat_raw_tables(pull.table for pull in pulls)
        stats = [pull.stats for pull in pulls]
        total = FetchStats(
            requests=sum(s.requests for s in stats),
            retries=sum(s.retries for s in stats),
            throttle_waits=sum(s.throttle_waits for s in stats),
            throttle_wait_seconds=sum(s.throttle_wait_seconds for s in stats),
            pages=sum(s.pages for s in stats),
            samples_received=sum(s.samples_received for s in stats),
            seconds=time.monotonic() - began,
            retry_wait_seconds=sum(s.retry_wait_seconds for s in stats),
            samples_outside_window=sum(s.samples_outside_window for s in stats),
            sub_windows=len(pulls),
        )
        return RawPull(site, start_ms, end_ms, table, total)

    def fetch_site_window_chunks(
        self, site: str, start_ms: int, end_ms: int, *, chunk_ms: int | None = None
    ) -> Iterator[RawPull]:
        """Yield one :class:`RawPull` per sub-window of [start_ms, end_ms), in time order.

        Why: a whole day in one cursor times out on the real API; sub-windows also let a
        caller store or parse as it goes instead of holding a full-load day of JSON.
        Bad names, windows and settings raise here, before iteration starts.
        """
        validate_site_name(site)
        _check_window(site, start_ms, end_ms)
        self._check_config()
        step = chunk_ms if chunk_ms is not None else self.window_chunk_seconds * 1000
        if step <= 0:
            step = end_ms - start_ms
        return (
            self._fetch_one_window(site, sub_start, min(sub_start + step, end_ms))
            for sub_start in range(start_ms, end_ms, step)
        )

    def _fetch_one_window(self, site: str, start_ms: int, end_ms: int) -> RawPull:
        began = time.monotonic()
        window = window_label(start_ms, end_ms)
        subject = f"site {site!r} window {window}"
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
        tables: list[pa.Table] = []
        seen_cursors: set[str] = set()
        cursor: str | None = None
        with self._client() as client:
            requester = self._requester(client, counters)
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
                    break
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
        received = concat_raw_tables(tables)
        kept, outside = filter_raw_window(received, start_ms, end_ms)
        stats = FetchStats(
            requests=counters.requests,
            retries=counters.retries,
            throttle_waits=counters.throttle_waits,
            throttle_wait_seconds=counters.throttle_wait_seconds,
            pages=len(tables),
            samples_received=received.num_rows,
            seconds=time.monotonic() - began,
            retry_wait_seconds=counters.retry_wait_seconds,
            samples_outside_window=outside,
        )
        return RawPull(site, start_ms, end_ms, kept, stats)


def _check_window(site: str, start_ms: object, end_ms: object) -> None:
    for label, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"ACE site {site!r}: {label} must be epoch ms (int), got {value!r}")
    assert isinstance(start_ms, int) and isinstance(end_ms, int)
    if start_ms >= end_ms:
        raise ValueError(
            f"ACE site {site!r}: window start {start_ms} must be before end {end_ms} "
            "(windows are half-open [start, end))"
        )
