"""Resources built from the one set of settings (vitals.config).

Whatever is bound here as a plain value is stored in every run's job snapshot and shown
in the UI's resource view, so a setting that can hold a secret (the ACE key, a hot
store URL with a password) reaches Dagster only as ``dg.EnvVar``. S3/R2 credentials are
not settings at all: boto3 reads its own ``AWS_*`` environment; query API keys are used
by the HTTP API only.
"""

from __future__ import annotations

import os

import dagster as dg

from resources.ace import AceApiResource
from resources.alert_webhook import AlertWebhookResource
from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from resources.query import QueryResource
from vitals.ace.plan import MAX_PAGE_SIZE
from vitals.config import Settings, load_settings
from vitals.redact import redact_url, url_password

HOT_STORE_ENV = "VITALS_HOT_STORE"
STATE_URL_ENV = "VITALS_STATE_URL"
ALERT_WEBHOOK_ENV = "VITALS_ALERT_WEBHOOK_URL"


def _hot_store_binding(settings: Settings) -> str:
    """``dg.EnvVar(VITALS_HOT_STORE)`` when the URL came from there, else the default path.

    A URL with a password that did not come from the environment cannot be bound
    without storing the password, so it is refused (use the variable, or PGPASSWORD).
    """
    if os.environ.get(HOT_STORE_ENV) == settings.hot_store:
        return dg.EnvVar(HOT_STORE_ENV)
    if url_password(settings.hot_store) is not None:
        raise ValueError(
            f"hot store {redact_url(settings.hot_store)!r} carries a password but is not "
            f"${HOT_STORE_ENV}: set it there (bound as dg.EnvVar) or put the password in "
            "PGPASSWORD, so it is never stored in Dagster's run snapshots"
        )
    return settings.hot_store


def _state_url_binding(settings: Settings) -> str:
    """The limiter/breaker state URL as the variable it came from (it may hold a password).

    ``VITALS_STATE_URL`` when set; by default the state is the PostgreSQL hot store, so
    ``VITALS_HOT_STORE``; empty for the embedded SQLite files. A URL with a password
    from neither variable is refused, as for the hot store.
    """
    url = settings.state_url
    if url is None:
        return ""
    for name in (STATE_URL_ENV, HOT_STORE_ENV):
        if os.environ.get(name) == url:
            return dg.EnvVar(name)
    if url_password(url) is not None:
        raise ValueError(
            f"state URL {redact_url(url)!r} carries a password but is not ${STATE_URL_ENV}: "
            "set it there (bound as dg.EnvVar) or put the password in PGPASSWORD"
        )
    return url


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """One resource per external system; secrets are bound only through EnvVar."""
    settings = settings or load_settings()
    hot_store = _hot_store_binding(settings)
    return {
        "ace": AceApiResource(
            base_url=settings.ace_api_url,
            api_key=dg.EnvVar("ACE_API_KEY"),
            requests_per_minute=settings.ace_requests_per_minute,
            breaker_cooldown_seconds=settings.ace_breaker_cooldown_seconds,
            state_dir=str(settings.state_dir),
            state_url=_state_url_binding(settings),
            # Sub-windows are planned by the assets from the catalogue (vitals/ace/plan.py).
            page_size=MAX_PAGE_SIZE,
            sites=list(settings.sites),
        ),
        "hot_store": HotStoreResource(url=hot_store, hot_storage_days=settings.hot_storage_days),
        "cold_store": ColdStoreResource(
            url=settings.cold_store, s3_endpoint_url=settings.s3_endpoint_url
        ),
        "query": QueryResource(
            hot_store_url=hot_store,
            cold_store_url=settings.cold_store,
            s3_endpoint_url=settings.s3_endpoint_url,
            hot_storage_days=settings.hot_storage_days,
        ),
        # A webhook URL is a secret: bound as EnvVar when set; unset means no channel.
        "alert_webhook": AlertWebhookResource(
            url=dg.EnvVar(ALERT_WEBHOOK_ENV) if os.environ.get(ALERT_WEBHOOK_ENV) else ""
        ),
    }
