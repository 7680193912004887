"""Fixtures shared by the tests that run the real assets."""

from __future__ import annotations

import pytest

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from tests.support.platform_helpers import point_platform_at


@pytest.fixture
def stores(monkeypatch, simulator, tmp_path) -> tuple[HotStoreResource, ColdStoreResource]:
    """A fresh SQLite hot store and local cold folder, with the platform pointed at them."""
    point_platform_at(
        monkeypatch,
        simulator,
        hot_store=str(tmp_path / "hot.sqlite"),
        cold_store=str(tmp_path / "cold"),
    )
    return HotStoreResource(url=str(tmp_path / "hot.sqlite")), ColdStoreResource(
        url=str(tmp_path / "cold")
    )
