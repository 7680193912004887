"""QueryResource: works inside Dagster and constructed directly (as the HTTP API does)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from resources.query import QueryResource
from tests.support.query_data import QuerySite
from vitals.config import load_settings
from vitals.query.types import UnknownSiteError
from vitals.samples import MS_PER_DAY, day_bounds_ms

SITE = "res-site"
DAY0 = date(2026, 2, 1)
BASE = day_bounds_ms(DAY0)[0]


@pytest.fixture
def site(tmp_path: Path) -> QuerySite:
    site = QuerySite(tmp_path, SITE, ["Chiller 1/kW"])
    site.put_cold_day(DAY0, [("Chiller 1/kW", BASE + 1000, 10.0)])
    site.put_hot([("Chiller 1/kW", BASE + MS_PER_DAY + 1000, 20.0)])
    return site


def _resource(site: QuerySite) -> QueryResource:
    return QueryResource(hot_store_url=site.hot.url, cold_store_url=site.cold.url)


def test_direct_construction_answers_over_both_tiers(site: QuerySite) -> None:
    result = _resource(site).query(SITE, ["CHILLER 1/KW"], BASE, BASE + 2 * MS_PER_DAY)
    assert result.series[0].point == "Chiller 1/kW"
    assert result.series[0].values == {"v": [10.0, 20.0]}
    assert result.tiers == ("hot", "cold") and result.interval == "raw" and result.aggs == ()
    with pytest.raises(UnknownSiteError, match="elsewhere"):
        _resource(site).query("elsewhere", ["x"], BASE, BASE + 1)


def test_usable_as_a_dagster_resource(site: QuerySite) -> None:
    @dg.asset
    def daily_peak(query: QueryResource) -> dg.MaterializeResult:
        result = query.query(
            SITE, ["Chiller 1/kW"], BASE, BASE + 2 * MS_PER_DAY, interval="1d", aggs=["max"]
        )
        return dg.MaterializeResult(metadata={"peaks": str(result.series[0].values["max"])})

    outcome = dg.materialize([daily_peak], resources={"query": _resource(site)})
    assert outcome.success
    event = outcome.get_asset_materialization_events()[0]
    assert event.materialization.metadata["peaks"].value == "[10.0, 20.0]"


def test_from_settings_uses_the_one_settings_reader(site: QuerySite, monkeypatch) -> None:
    monkeypatch.setenv("VITALS_HOT_STORE", site.hot.url)
    monkeypatch.setenv("VITALS_COLD_STORE", site.cold.url)
    monkeypatch.setenv("HOT_STORAGE_DAYS", "7")
    resource = QueryResource.from_settings(load_settings())
    assert resource.hot_storage_days == 7
    day = resource.query(
        SITE, ["chiller 1/kw"], BASE, BASE + MS_PER_DAY + 1, interval="auto", aggs=["last"]
    )
    assert day.interval == "1m" and day.series[0].values == {"last": [10.0]}
    assert day.series[0].t == [BASE]
