"""Archival against a real S3 HTTP endpoint (moto server on loopback): the same code
path that talks to Cloudflare R2 in production."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from tests.archive.test_archival import OLD_DAY, SITE, seed_day
from tests.support.helpers import catalogue
from vitals.archive import archive_site_day, restore_site_day
from vitals.samples import day_bounds_ms


def test_archive_verify_delete_and_restore_over_s3(tmp_path, s3_cold_url, s3_endpoint_url):
    hot = HotStoreResource(url=str(tmp_path / "hot.sqlite"))
    cold = ColdStoreResource(url=s3_cold_url, s3_endpoint_url=s3_endpoint_url)
    hot.upsert_points(SITE, catalogue(SITE, 12))
    expected = seed_day(hot, cold)
    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    assert outcome.verified and outcome.rows == len(expected)
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 0
    assert cold.list_keys("timeseries/") == [outcome.key]

    local = cold.local_copy(outcome.key)  # a plain file: any Parquet reader opens it
    assert pq.read_table(local).num_rows == len(expected)
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{local}')").fetchall()[0][0]
    assert count == len(expected)

    again = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    assert not again.rewritten and again.checksum == outcome.checksum
    assert restore_site_day(hot, cold, SITE, OLD_DAY) == len(expected)
