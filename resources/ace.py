"""The ACE IoT API as a Dagster resource: config fields, delegating to vitals.ace.client.

The protocol, paging, retries and request discipline live in the library
(``vitals.ace.client.AceClient``); this resource only holds the settings Dagster binds
(``api_key`` as ``dg.EnvVar("ACE_API_KEY")``) and builds a client per call. How a day
is cut into sub-windows is planned by the assets (``vitals.ace.plan.plan_pull``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from vitals.ace.client import AceClient, AcePoint, RawPull
from vitals.redact import redact_url


class AceApiResource(dg.ConfigurableResource["AceApiResource"]):
    """Client for the ACE IoT API (FlightDeck): one resource per external system.

    Built in Dagster as ``AceApiResource(base_url=..., api_key=dg.EnvVar("ACE_API_KEY"),
    requests_per_minute=..., state_dir=..., state_url=dg.EnvVar("VITALS_STATE_URL"))``; outside Dagster the same constructor
    with a plain key works, and the methods can be called directly.
    """

    base_url: str  # ACE_API_URL, e.g. https://flightdeck.aceiot.cloud/api
    api_key: str  # secret: bind as dg.EnvVar("ACE_API_KEY"); never logged
    sites: list[str] = Field(default_factory=list)  # VITALS_SITES; empty: every site listed
    requests_per_minute: int = 30  # shared by every process using the same state
    state_dir: str  # folder of the shared limiter / breaker SQLite file
    # VITALS_STATE_URL: postgresql:// URL shared by every host; empty: SQLite in state_dir.
    # May carry a password: bind as dg.EnvVar (vitals_assets.bindings does).
    state_url: str = ""
    timeout_seconds: float = 30.0  # per request (connect, read, write, pool)
    max_retries: int = 6  # retries after the first attempt (429, 5xx, network, bad body)
    breaker_failure_threshold: int = 5  # consecutive failed attempts that open the breaker
    breaker_cooldown_seconds: float = 60.0  # open -> half-open (one probe)
    page_size: int = 50000  # samples per cursor page; one of ACE's accepted values
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
            if name == "api_key" and value:
                value = "***"
            elif name == "state_url" and isinstance(value, str):
                value = redact_url(value)
            yield name, value

    def with_transport(self, transport: httpx.BaseTransport) -> AceApiResource:
        """Send requests through ``transport`` (e.g. ``httpx.MockTransport`` in tests)."""
        self._transport = transport
        return self

    def _client(self) -> AceClient:
        """The library client for these settings (raises ``AceConfigError`` if unusable)."""
        return AceClient(
            base_url=self.base_url,
            api_key=self.api_key,
            state_dir=self.state_dir,
            state_url=self.state_url or None,
            requests_per_minute=self.requests_per_minute,
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            breaker_failure_threshold=self.breaker_failure_threshold,
            breaker_cooldown_seconds=self.breaker_cooldown_seconds,
            page_size=self.page_size,
            per_page=self.per_page,
            max_pages=self.max_pages,
            rate_limit_window_seconds=self.rate_limit_window_seconds,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            retry_after_max_seconds=self.retry_after_max_seconds,
            transport=self._transport,
        )

    def list_sites(self) -> list[str]:
        """Names of the sites ACE lists; names that are unsafe as paths are skipped (logged)."""
        return self._client().list_sites()

    def fetch_configured_points(self, site: str) -> list[AcePoint]:
        """The site's collect-enabled points; unusable items are skipped and logged."""
        return self._client().fetch_configured_points(site)

    def fetch_site_timezone(self, site: str) -> str | None:
        """The ``timezone`` of ACE's site record, when it carries one."""
        return self._client().fetch_site_timezone(site)

    def fetch_site_window(self, site: str, start_ms: int, end_ms: int) -> RawPull:
        """Every raw sample of the site in [start_ms, end_ms), as received (one cursor)."""
        return self._client().fetch_site_window(site, start_ms, end_ms)
