"""`hot_data_fresh`, run by Dagster against a real SQLite hot store: a site that has never
synced is awaiting its first sync (passes, WARN), a synced site that fell behind fails."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pytest

from resources.hot_store import HotStoreResource
from tests.support.helpers import catalogue
from vitals.config import load_settings
from vitals.samples import SAMPLE_SCHEMA
from vitals_assets.bindings import build_resources
from vitals_assets.checks import hot_data_fresh
from vitals_assets.ingest import hot_samples
from vitals_assets.partitions import SITE_PARTITIONS_NAME


def _now_ms() -> int:
    """Now, read when the test runs: a constant taken at import went stale when collection
    ran (much) earlier than the test, as in a long or parallel suite."""
    return int(datetime.now(UTC).timestamp() * 1000)


@pytest.fixture
def instance(monkeypatch):
    monkeypatch.setenv("ACE_API_KEY", "unused")
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _evaluate(instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [hot_samples, hot_data_fresh],
        selection=dg.AssetSelection.checks(hot_data_fresh),
        resources=build_resources(load_settings()),
        instance=instance,
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _synced(site: str, newest_ms: int) -> None:
    """A site whose sync stored points, one sample at ``newest_ms`` and its watermark."""
    hot = HotStoreResource(url=load_settings().hot_store)
    points = catalogue(site, 2)
    hot.upsert_points(site, points)
    hot.upsert_samples(
        site,
        pa.Table.from_pylist(
            [{"point_name": points[0].name, "ts": newest_ms, "value": 1.0}], schema=SAMPLE_SCHEMA
        ),
    )
    hot.set_watermark(site, newest_ms)


def test_never_synced_sites_await_their_first_sync(instance):
    """A fresh start: sites registered (and one with its catalogue only), nothing synced."""
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, ["acme_hq", "beta_site"])
    HotStoreResource(url=load_settings().hot_store).upsert_points(
        "beta_site", catalogue("beta_site", 2)
    )
    evaluation = _evaluate(instance)
    assert evaluation.passed
    assert evaluation.metadata["awaiting_first_sync"].value == "acme_hq, beta_site"
    assert evaluation.metadata["severity"].value == "WARN"
    assert evaluation.metadata["stale_sites"].value == "none"


def test_no_sites_at_all_is_not_a_failure(instance):
    assert _evaluate(instance).passed


def test_a_synced_site_with_stale_data_fails(instance):
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, ["acme_hq", "beta_site", "new_site"])
    now_ms = _now_ms()
    _synced("acme_hq", now_ms - 16 * 60_000)  # one minute past the limit
    _synced("beta_site", now_ms - 60_000)
    evaluation = _evaluate(instance)
    assert not evaluation.passed
    assert evaluation.metadata["stale_sites"].value == "acme_hq"
    assert evaluation.metadata["awaiting_first_sync"].value == "new_site"
    assert "severity" not in evaluation.metadata


def test_fresh_synced_sites_pass(instance):
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, ["acme_hq"])
    _synced("acme_hq", _now_ms() - 60_000)
    evaluation = _evaluate(instance)
    assert evaluation.passed
    assert evaluation.metadata["awaiting_first_sync"].value == "none"
