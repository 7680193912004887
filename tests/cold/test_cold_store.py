"""Contract suite for ColdStoreResource, run against a local folder and a real S3 endpoint.

The S3 backend talks HTTP to moto's server on loopback through boto3, the same
code path that talks to Cloudflare R2 in production.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from resources.cold_store import ColdStoreResource
from tests.support.cold_samples import DAY, SITE, point_names, samples
from vitals.cold.backends import ColdKeyMissingError, ColdStoreError
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.key_order import key_checksum
from vitals.cold.keys import InvalidKeyError, cold_day_key
from vitals.cold.read import read_cold_bytes
from vitals.cold.verify import verify_cold_bytes

HOSTILE_KEYS = [
    "../escape.parquet",
    "timeseries/../../escape",
    "a/../../../etc/passwd",
    "/etc/passwd",
    "~/escape",
    "a\\..\\b",
    "timeseries\\site",
    "a/\x00b",
    "a/b\nc",
    "a/\u202eb",
    "a//b",
    "",
    "a/",
    ".hidden",
    "a/./b",
    "a/..",
    "C:/windows",
    "x" * 1100,
]


@pytest.fixture(params=["local", "s3"])
def cold_store(request, tmp_path) -> ColdStoreResource:
    """The same resource over each backend; S3 uses a fresh bucket on the loopback server."""
    if request.param == "local":
        return ColdStoreResource(url=str(tmp_path / "cold"), cache_dir=str(tmp_path / "cache"))
    url = request.getfixturevalue("s3_cold_url")
    endpoint = request.getfixturevalue("s3_endpoint_url")
    return ColdStoreResource(url=url, s3_endpoint_url=endpoint, cache_dir=str(tmp_path / "cache"))


def test_put_get_round_trip_and_overwrite(cold_store):
    key = "timeseries/acme_hq/2026/10/01.parquet"
    cold_store.put_bytes(key, b"first version")
    assert cold_store.get_bytes(key) == b"first version"
    cold_store.put_bytes(key, b"second")
    assert cold_store.get_bytes(key) == b"second"
    cold_store.put_bytes("empty/object", b"")
    assert cold_store.get_bytes("empty/object") == b""


def test_missing_key_raises_named_error(cold_store):
    key = "timeseries/acme_hq/2026/10/02.parquet"
    missing = r"'timeseries/acme_hq/2026/10/02\.parquet' does not exist"
    with pytest.raises(ColdKeyMissingError, match=missing) as info:
        cold_store.get_bytes(key)
    assert isinstance(info.value, KeyError)
    assert info.value.key == key
    with pytest.raises(ColdKeyMissingError, match="does not exist"):
        cold_store.local_copy(key)
    assert cold_store.exists(key) is False


def test_a_prefix_is_not_an_object(cold_store):
    cold_store.put_bytes("timeseries/acme_hq/2026/10/01.parquet", b"x")
    assert cold_store.exists("timeseries/acme_hq") is False
    with pytest.raises(ColdKeyMissingError):
        cold_store.get_bytes("timeseries/acme_hq/2026")


def test_exists_and_delete_are_idempotent(cold_store):
    key = "raw/acme_hq/2026/10/01/0_100.parquet"
    assert not cold_store.exists(key)
    cold_store.put_bytes(key, b"raw")
    assert cold_store.exists(key)
    cold_store.delete(key)
    assert not cold_store.exists(key)
    cold_store.delete(key)  # deleting again is fine
    with pytest.raises(ColdKeyMissingError):
        cold_store.get_bytes(key)


def test_list_keys_by_string_prefix_sorted(cold_store):
    keys = [
        "timeseries/acme_hq/2026/10/02.parquet",
        "timeseries/acme_hq/2026/10/01.parquet",
        "timeseries/acme_hq/2026/11/01.parquet",
        "timeseries/acme_hqx/2026/10/01.parquet",
        "rollups/acme_hq/2026/10/01.parquet",
    ]
    for key in keys:
        cold_store.put_bytes(key, key.encode())
    assert cold_store.list_keys("timeseries/acme_hq/") == sorted(keys[:3])
    assert cold_store.list_keys("timeseries/acme_hq/2026/10/") == sorted(keys[:2])
    assert cold_store.list_keys("timeseries/acme_hq/2026/1") == sorted(keys[:3])
    assert cold_store.list_keys("timeseries/acme_hq") == sorted(keys[:4])
    assert cold_store.list_keys("") == sorted(keys)
    assert cold_store.list_keys("nothing/here/") == []


def test_identities_change_with_every_rewrite_and_come_from_one_listing(cold_store):
    one, two = "timeseries/acme_hq/2026/10/01.parquet", "timeseries/acme_hq/2026/10/02.parquet"
    cold_store.put_bytes(one, b"version 1")
    cold_store.put_bytes(two, b"other")
    first = cold_store.identities("timeseries/acme_hq/2026/10/")
    assert list(first) == [one, two] and len(set(first.values())) == 2
    assert cold_store.identity(one) == first[one]
    assert cold_store.identities("timeseries/acme_hq/2026/10/") == first  # stable
    cold_store.put_bytes(one, b"version 2")  # same size, other content
    assert cold_store.identity(one) != first[one]
    assert cold_store.identity(two) == first[two]
    cold_store.delete(two)
    assert cold_store.identity(two) is None
    assert cold_store.identity("timeseries/acme_hq/2026/10/0") is None  # a prefix is not a key
    with pytest.raises(InvalidKeyError):
        cold_store.identities("../escape")


def test_hostile_keys_are_refused_by_every_method(cold_store, tmp_path):
    cold_store.put_bytes("timeseries/acme_hq/2026/10/01.parquet", b"keep")
    for key in HOSTILE_KEYS:
        calls = [
            lambda key=key: cold_store.put_bytes(key, b"evil"),
            lambda key=key: cold_store.get_bytes(key),
            lambda key=key: cold_store.exists(key),
            lambda key=key: cold_store.delete(key),
            lambda key=key: cold_store.local_copy(key),
            lambda key=key: cold_store.uri(key),
        ]
        for call in calls:
            with pytest.raises(InvalidKeyError, match="cold store key"):
                call()
    escaped = [*tmp_path.rglob("escape*"), *tmp_path.parent.glob("escape*"), Path("/etc/escape")]
    assert not any(p.exists() for p in escaped)
    assert cold_store.list_keys("") == ["timeseries/acme_hq/2026/10/01.parquet"]


def test_hostile_prefixes_are_refused(cold_store):
    for prefix in ["../", "/abs/", "a/../", "a\\b", "a//", "\x01", "~/"]:
        with pytest.raises(InvalidKeyError, match="not allowed"):
            cold_store.list_keys(prefix)


def test_non_bytes_data_is_refused(cold_store):
    with pytest.raises(TypeError, match="must be bytes"):
        cold_store.put_bytes("a/b", "text")  # type: ignore[arg-type]


def test_local_copy_is_a_readable_file_refreshed_when_the_object_changes(cold_store):
    key = "timeseries/acme_hq/2026/10/01.parquet"
    cold_store.put_bytes(key, b"version one")
    first = cold_store.local_copy(key)
    assert first.read_bytes() == b"version one"
    assert cold_store.local_copy(key) == first  # unchanged object: same file, no download
    cold_store.put_bytes(key, b"version two, longer")
    second = cold_store.local_copy(key)
    assert second.read_bytes() == b"version two, longer"
    if cold_store.is_s3:
        assert not first.exists(), "the stale cached copy is removed"
    cold_store.put_bytes(key, b"version 2, LONGER!!")  # same size, new content (new ETag)
    assert cold_store.local_copy(key).read_bytes() == b"version 2, LONGER!!"


def test_readers_never_see_a_half_written_object(cold_store):
    key = "timeseries/acme_hq/2026/10/01.parquet"
    versions = [bytes([n]) * 300_000 for n in range(1, 4)]
    cold_store.put_bytes(key, versions[0])
    seen: list[bytes] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            seen.append(cold_store.get_bytes(key))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for _ in range(3):
            for version in versions:
                cold_store.put_bytes(key, version)
    finally:
        stop.set()
        reader.join()
    assert seen and all(data in versions for data in seen)
    assert cold_store.list_keys("timeseries/") == [key]  # no temp files left behind


def test_a_cold_day_file_round_trips_through_the_store(cold_store):
    hot = samples(point_names(12), per_point=50)
    cold = build_cold_table(SITE, DAY, [hot])
    checksum = key_checksum(hot)
    key = cold_day_key(SITE, DAY)
    cold_store.put_bytes(key, cold_file_bytes(cold, site=SITE, day=DAY, sources=["hot"]))
    verify_cold_bytes(
        cold_store.get_bytes(key),
        site=SITE,
        day=DAY,
        expected_rows=hot.num_rows,
        expected_checksum=checksum,
    )
    path = str(cold_store.local_copy(key))
    assert read_cold_bytes(cold_store.get_bytes(key)).equals(hot)
    duck = (
        duckdb.connect()
        .execute(
            "select count(*), count(distinct point_name), min(site_name) from read_parquet(?)",
            [path],
        )
        .fetchall()
    )
    assert duck == [(600, 12, SITE)]


def test_local_backend_writes_inside_its_root_and_hides_temp_files(tmp_path):
    store = ColdStoreResource(url=str(tmp_path / "cold"))
    store.put_bytes("timeseries/acme_hq/2026/10/01.parquet", b"day")
    path = tmp_path / "cold" / "timeseries" / "acme_hq" / "2026" / "10" / "01.parquet"
    assert path.read_bytes() == b"day"
    assert store.local_copy("timeseries/acme_hq/2026/10/01.parquet") == path
    assert store.uri("timeseries/acme_hq/2026/10/01.parquet") == str(path)
    (path.parent / ".01.parquet.abc.tmp").write_bytes(b"half")  # a crashed writer's leftover
    assert store.list_keys("") == ["timeseries/acme_hq/2026/10/01.parquet"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_local_key_under_an_existing_object_is_a_clear_error(tmp_path):
    store = ColdStoreResource(url=str(tmp_path / "cold"))
    store.put_bytes("a/b", b"x")
    with pytest.raises(ColdStoreError, match="cannot write cold store key 'a/b/c'"):
        store.put_bytes("a/b/c", b"y")


def test_s3_prefixes_isolate_stores_in_one_bucket(s3_bucket, s3_endpoint_url, tmp_path):
    one = ColdStoreResource(url=f"s3://{s3_bucket}/one", s3_endpoint_url=s3_endpoint_url)
    two = ColdStoreResource(url=f"s3://{s3_bucket}/two/", s3_endpoint_url=s3_endpoint_url)
    one.put_bytes("k/x", b"1")
    two.put_bytes("k/x", b"2")
    assert one.get_bytes("k/x") == b"1" and two.get_bytes("k/x") == b"2"
    assert one.list_keys("") == ["k/x"]
    assert one.uri("k/x") == f"s3://{s3_bucket}/one/k/x"
    whole = ColdStoreResource(url=f"s3://{s3_bucket}", s3_endpoint_url=s3_endpoint_url)
    assert whole.list_keys("") == ["one/k/x", "two/k/x"]


def test_s3_missing_bucket_is_a_clear_error(s3_endpoint_url, s3_credentials):
    store = ColdStoreResource(url="s3://no-such-bucket-vitals/p", s3_endpoint_url=s3_endpoint_url)
    with pytest.raises(ColdStoreError, match="no-such-bucket-vitals"):
        store.put_bytes("a/b", b"x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "no valid bucket"),
        ("s3:///prefix", "no valid bucket"),
        ("http://example.com/x", "only a folder path"),
        ("  ", "empty"),
        ("s3://bucket/../up", "could escape"),
    ],
)
def test_bad_store_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        ColdStoreResource(url=url).exists("a/b")


def test_resource_works_inside_a_dagster_run(cold_store):
    @dg.asset
    def written(context, store: ColdStoreResource) -> dg.MaterializeResult:
        store.put_bytes("checks/run.txt", context.run.run_id.encode())
        return dg.MaterializeResult(metadata={"keys": len(store.list_keys("checks/"))})

    result = dg.materialize([written], resources={"store": cold_store})
    assert result.success
    assert cold_store.get_bytes("checks/run.txt") == result.run_id.encode()
