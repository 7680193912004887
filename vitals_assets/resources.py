"""Resources built from the one set of settings (vitals.config)."""

from __future__ import annotations

import dagster as dg

from resources.ace import AceApiResource
from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from resources.query import QueryResource
from vitals.config import Settings, load_settings
from vitals.pull_plan import MAX_PAGE_SIZE


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """One resource per external system; the ACE key is bound only through EnvVar."""
    settings = settings or load_settings()
    return {
        "ace": AceApiResource(
            base_url=settings.ace_api_url,
            api_key=dg.EnvVar("ACE_API_KEY"),
            requests_per_minute=settings.ace_requests_per_minute,
            state_dir=str(settings.state_dir),
            # Sub-windows are planned by the assets from the catalogue (vitals/pull_plan.py).
            page_size=MAX_PAGE_SIZE,
            window_chunk_seconds=0,
        ),
        "hot_store": HotStoreResource(url=settings.hot_store),
        "cold_store": ColdStoreResource(
            url=settings.cold_store, s3_endpoint_url=settings.s3_endpoint_url
        ),
        "query": QueryResource(
            hot_store_url=settings.hot_store,
            cold_store_url=settings.cold_store,
            s3_endpoint_url=settings.s3_endpoint_url,
            hot_storage_days=settings.hot_storage_days,
        ),
    }
