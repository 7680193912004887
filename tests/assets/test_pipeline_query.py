"""The query resource used from a Dagster asset (the example asset)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from resources.hot_store import HotStoreResource
from tests.support.platform_helpers import (
    materialize_day,
    metadata_of,
    new_instance,
    point_platform_at,
)
from vitals.samples import day_bounds_ms
from vitals_assets.examples import point_hourly_summary

SITE = "acme_hq"
DAY = (datetime.now(UTC) - timedelta(days=3)).date()


def test_example_asset_reads_hourly_averages_through_the_query_resource(
    monkeypatch, simulator, tmp_path
):
    hot_url = str(tmp_path / "hot.sqlite")
    point_platform_at(monkeypatch, simulator, hot_store=hot_url, cold_store=str(tmp_path / "cold"))
    instance = new_instance([SITE])
    materialize_day(instance, SITE, DAY)
    result = materialize_day(instance, SITE, DAY, assets=[point_hourly_summary])
    meta = metadata_of(result, point_hourly_summary)
    assert meta["points"] == 5 and meta["tiers"] == "hot"

    hot = HotStoreResource(url=hot_url)
    first = hot.list_points(SITE, limit=5)[0].name
    start, end = day_bounds_ms(DAY)
    rows = hot.read_samples(SITE, start, end, [first])
    buckets: dict[int, list[float]] = defaultdict(list)
    for ts, value in zip(
        rows.column("ts").to_pylist(), rows.column("value").to_pylist(), strict=False
    ):
        buckets[ts // 3_600_000].append(value)
    expected = [sum(v) / len(v) for _, v in sorted(buckets.items())]
    got = meta["summary"][first]["avg"]
    assert len(got) == len(expected)
    assert all(abs(a - b) < 1e-9 for a, b in zip(got, expected, strict=False))
