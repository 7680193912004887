"""A real two-tier site for the HTTP API tests, and apps built over it.

The site lives in a real SQLite hot store and real cold Parquet day files (through
``tests.support.query_data.QuerySite``), with days placed relative to today so the
hot/cold split and the cache's hot window are the real ones:

- cold days D-40 and D-39 (D-40 also has a stored rollup), a day D-21 held in both
  tiers (hot values differ: hot must win), and hot days D-2 and D-1;
- points in production style, one with a comma in its name, two names that differ
  only in case (``AHU-2/Fan`` and ``AHU-2/FAN``: asking ``ahu-2/fan`` is ambiguous).

Use: build it once per test module with ``build_api_site(tmp_path_factory.mktemp(...))``
in a module-scoped fixture; ``make_client(site, **create_app_kwargs)`` returns a
``TestClient`` over a fresh app (fresh cache and metrics) on the real engine and stores.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

with warnings.catch_warnings():  # Starlette nudges towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.support.query_data import QuerySite
from vitals.api.app import create_app
from vitals.config import Settings, load_settings
from vitals.samples import MS_PER_DAY, day_bounds_ms

SITE = "bldg_a"
POINTS = (
    "acme/bldg_a/192.168.1.10/n4/AHU-1/SAT",
    "acme/bldg_a/192.168.1.10/n4/AHU-1/RAT",
    "acme/bldg_a/2000:43-2043/analogValue/6",
    "acme/bldg_a/vav,Zone1/temp",
    "AHU-2/Fan",
    "AHU-2/FAN",
)
API_KEYS = ("key-one-0123456789", "key-two-abcdefghij")
ALLOWED_ORIGIN = "https://charts.example.com"
STEP_MS = 300_000
OFFSET_MS = 36_055


def value_at(point_index: int, ts: int, tier: str) -> float:
    """Deterministic values; the hot copy of a shared day differs from the cold one."""
    base = ((ts // STEP_MS) * 7 + point_index * 13) % 1000 / 10.0
    return base + (1000.0 if tier == "hot" else 0.0)


def day_rows(
    day: date, tier: str, points: tuple[str, ...] = POINTS
) -> list[tuple[str, int, float]]:
    start, end = day_bounds_ms(day)
    return [
        (name, ts, value_at(i, ts, tier))
        for i, name in enumerate(points)
        for ts in range(start + OFFSET_MS, end, STEP_MS)
    ]


@dataclass(frozen=True)
class ApiSite:
    """Where the data lives and which days hold what."""

    root: Path
    data: QuerySite
    today: date
    cold_days: tuple[date, ...]
    shared_day: date
    hot_days: tuple[date, ...]

    def settings(
        self, *, keys: tuple[str, ...] = API_KEYS, origins: tuple[str, ...] = (ALLOWED_ORIGIN,)
    ) -> Settings:
        return load_settings(
            {
                "VITALS_DATA_DIR": str(self.root),
                "VITALS_HOT_STORE": str(self.root / "hot.sqlite"),
                "VITALS_COLD_STORE": str(self.root / "cold"),
                "VITALS_API_KEYS": ",".join(keys),
                "VITALS_ALLOWED_ORIGINS": ",".join(origins),
            }
        )

    def day_ms(self, day: date) -> tuple[int, int]:
        return day_bounds_ms(day)


def build_api_site(root: Path) -> ApiSite:
    today = date.fromordinal(int(time.time() * 1000) // MS_PER_DAY + date(1970, 1, 1).toordinal())
    data = QuerySite(root, SITE, POINTS)
    cold_days = (today - timedelta(days=40), today - timedelta(days=39))
    shared_day = today - timedelta(days=21)
    hot_days = (today - timedelta(days=2), today - timedelta(days=1))
    rollup_source = data.put_cold_day(cold_days[0], day_rows(cold_days[0], "cold"))
    data.put_rollup_from_cold(cold_days[0], rollup_source)
    data.put_cold_day(cold_days[1], day_rows(cold_days[1], "cold"))
    data.put_cold_day(shared_day, day_rows(shared_day, "cold"))
    data.put_hot(day_rows(shared_day, "hot"))
    for day in hot_days:
        data.put_hot(day_rows(day, "hot"))
    return ApiSite(root, data, today, cold_days, shared_day, hot_days)


def make_app(
    site: ApiSite,
    *,
    keys: tuple[str, ...] = API_KEYS,
    origins: tuple[str, ...] = (ALLOWED_ORIGIN,),
    **kwargs,
):
    """A fresh app over the site's real stores and the real query engine."""
    settings = site.settings(keys=keys, origins=origins)
    engine = site.data.engine()
    return create_app(
        settings, engine, hot_store=site.data.hot, cold_store=site.data.cold, **kwargs
    )


def make_client(
    site: ApiSite, *, key: str | None = API_KEYS[0], client_host: str = "testclient", **kwargs
) -> TestClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return TestClient(
        make_app(site, **kwargs),
        headers=headers,
        client=(client_host, 50000),
        raise_server_exceptions=False,
    )
