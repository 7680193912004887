"""The stores the API serves from, built from the library (no Dagster resources)."""

from __future__ import annotations

from pathlib import Path

from vitals.cold.store import ColdStore
from vitals.hot.store import HotStore


def open_hot_store(url: str) -> HotStore:
    """The hot store at ``url`` (a SQLite path or a postgresql:// URL), opened on first use."""
    return HotStore(url)


def open_cold_store(url: str, *, s3_endpoint_url: str | None, cache_dir: Path) -> ColdStore:
    """The cold store at ``url``: a folder, ``file://`` or ``s3://bucket/prefix``."""
    return ColdStore(url, s3_endpoint_url=s3_endpoint_url, cache_dir=cache_dir)
