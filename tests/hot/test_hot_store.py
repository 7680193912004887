"""Hot store contract suite: the same tests against SQLite and PostgreSQL."""

from __future__ import annotations

import math

import dagster as dg
import pyarrow as pa
import pytest

from resources.hot_store import HotStoreResource
from tests.support.hot_store_helpers import DAY_MS, T0, hot_url, points, rows_of, samples
from vitals.hot.base import UpsertResult
from vitals.hot.store import HotStore
from vitals.names import AmbiguousPointError, InvalidNameError, UnknownPointError
from vitals.query import types as query_types
from vitals.samples import SAMPLE_SCHEMA, day_of_ms

__all__ = ["hot_url"]  # the parametrised fixture (SQLite, PostgreSQL)

SITE = "site-a"
OTHER = "site-b"
HOSTILE_NAMES = [
    "AHU-1/SAT",
    "O'Brien's \"VAV\" 2",
    "x'; DROP TABLE samples; --",
    "Robert'); DELETE FROM points;--",
    "100%_done",
    "under_score",
    "percent%sign",
    "back\\slash\\%_",
    "Zone Temp ☃ Ωmega",
    "Straße/Süd",
    "emoji 🌡️ probe",
    "$1 $2 ? :name %(x)s",
    "    leading and trailing spaces   ",
]


@pytest.fixture
def store(hot_url: str) -> HotStore:
    return HotStore(hot_url)


def test_write_read_round_trip_sorted_by_point_and_ts(store: HotStore) -> None:
    store.upsert_points(SITE, points(["b", "a", "c"]))
    data = samples([("c", T0 + 5, 1.5), ("a", T0 + 9, 2.0), ("b", T0, -3.25), ("a", T0 + 1, 7.0)])
    assert store.upsert_samples(SITE, data) == UpsertResult(rows=4, unknown_points=0)

    table = store.read_samples(SITE, T0, T0 + DAY_MS)
    assert table.schema == SAMPLE_SCHEMA
    assert rows_of(table) == [
        ("a", T0 + 1, 7.0),
        ("a", T0 + 9, 2.0),
        ("b", T0, -3.25),
        ("c", T0 + 5, 1.5),
    ]


def test_read_filters_points_and_half_open_range(store: HotStore) -> None:
    store.upsert_points(SITE, points(["p1", "p2", "p3"]))
    store.upsert_samples(
        SITE, samples([(p, T0 + t, float(t)) for p in ("p1", "p2", "p3") for t in range(5)])
    )

    table = store.read_samples(SITE, T0 + 1, T0 + 3, point_names=["p3", "p1", "nope"])
    assert rows_of(table) == [
        ("p1", T0 + 1, 1.0),
        ("p1", T0 + 2, 2.0),
        ("p3", T0 + 1, 1.0),
        ("p3", T0 + 2, 2.0),
    ]
    assert store.read_samples(SITE, T0, T0 + 5, point_names=["nope"]).num_rows == 0
    assert store.read_samples(SITE, T0, T0 + 5, point_names=[]).schema == SAMPLE_SCHEMA
    assert store.read_samples(SITE, T0 + 5, T0 + 5).num_rows == 0
    with pytest.raises(ValueError, match="after its end"):
        store.read_samples(SITE, T0 + 5, T0)


def test_named_read_equals_the_full_read_of_those_points(store: HotStore) -> None:
    """Named points (any order, repeated, unknown, another site's) read as the full read.

    Names come back in code point order ("B" < "a" < "é"), each point's rows by ts,
    half-open at the window's edges.
    """
    names = ["a", "B", "é", "a b", "10", "9", *HOSTILE_NAMES[:4]]
    store.upsert_points(SITE, points(names))
    store.upsert_points(OTHER, points(["a", "B"]))
    rows = [
        (n, T0 + t * 7 - 3 * DAY_MS, float(i * 100 + t))
        for i, n in enumerate(names)
        for t in range(6)
    ]
    store.upsert_samples(SITE, samples(rows))
    store.upsert_samples(OTHER, samples([("a", T0, 1.0), ("B", T0 - 3 * DAY_MS, 2.0)]))
    start, end = T0 - 3 * DAY_MS + 7, T0 - 3 * DAY_MS + 35
    full = rows_of(store.read_samples(SITE, start, end))
    asked = ["é", "a", "nope", "B", "a", *HOSTILE_NAMES[:4], "9", "10"]
    table = store.read_samples(SITE, start, end, point_names=asked)
    assert table.schema == SAMPLE_SCHEMA
    assert rows_of(table) == [r for r in full if r[0] in asked]
    assert [r[0] for r in rows_of(table)] == sorted(r[0] for r in rows_of(table))
    assert len(rows_of(table)) == 9 * 4  # nine known names, four stamps in the window
    early = rows_of(store.read_samples(OTHER, T0 - 4 * DAY_MS, T0, point_names=["B", "a"]))
    assert early == [("B", T0 - 3 * DAY_MS, 2.0)]


def test_named_reads_see_each_later_write(store: HotStore) -> None:
    """A read leaves no snapshot open: the next read sees what was written meanwhile."""
    store.upsert_points(SITE, points(["p", "q"]))
    store.upsert_samples(SITE, samples([("p", T0, 1.0)]))
    assert rows_of(store.read_samples(SITE, T0, T0 + 10, ["p", "q"])) == [("p", T0, 1.0)]
    other = HotStore(store.url)  # another writer, as another process would be
    other.upsert_samples(SITE, samples([("p", T0, 5.0), ("q", T0 + 1, 2.0)]))
    assert rows_of(store.read_samples(SITE, T0, T0 + 10, ["q", "p"])) == [
        ("p", T0, 5.0),
        ("q", T0 + 1, 2.0),
    ]


def test_upsert_is_idempotent_and_last_write_wins(store: HotStore) -> None:
    store.upsert_points(SITE, points(["p1", "p2"]))
    first = samples(
        [("p1", T0 + t, 1.0) for t in range(10)] + [("p2", T0 + t, 2.0) for t in range(10)]
    )
    assert store.upsert_samples(SITE, first).rows == 20
    assert store.upsert_samples(SITE, first).rows == 20  # re-run: same state
    assert store.count_samples(SITE, T0, T0 + DAY_MS) == 20

    overlapping = samples([("p1", T0 + t, 9.0) for t in range(5, 15)])
    store.upsert_samples(SITE, overlapping)
    table = store.read_samples(SITE, T0, T0 + DAY_MS, point_names=["p1"])
    assert rows_of(table) == [("p1", T0 + t, 1.0 if t < 5 else 9.0) for t in range(15)]
    assert store.count_samples(SITE, T0, T0 + DAY_MS) == 25

    # duplicates inside one batch: the later row wins, each key written once
    dupes = samples([("p2", T0, 5.0), ("p2", T0, 6.0), ("p2", T0 + 1, 7.0), ("p2", T0, 8.0)])
    assert store.upsert_samples(SITE, dupes).rows == 2
    table = store.read_samples(SITE, T0, T0 + 2, point_names=["p2"])
    assert rows_of(table) == [("p2", T0, 8.0), ("p2", T0 + 1, 7.0)]


def test_unknown_points_are_counted_not_stored(store: HotStore) -> None:
    store.upsert_points(SITE, points(["known"]))
    store.upsert_points(OTHER, points(["elsewhere"]))
    data = samples(
        [("known", T0, 1.0), ("KNOWN", T0, 2.0), ("elsewhere", T0, 3.0), ("ghost", T0 + 1, 4.0)]
    )
    assert store.upsert_samples(SITE, data) == UpsertResult(rows=1, unknown_points=3)
    assert rows_of(store.read_samples(SITE, T0, T0 + 10)) == [("known", T0, 1.0)]
    assert store.count_samples(OTHER, T0, T0 + 10) == 0
    nothing_known = store.upsert_samples("site-c", samples([("known", T0, 1.0)]))
    assert nothing_known == UpsertResult(rows=0, unknown_points=1)


def test_bad_sample_tables_are_refused(store: HotStore) -> None:
    store.upsert_points(SITE, points(["p"]))
    wrong = pa.table({"point_name": ["p"], "ts": [1.5], "value": [1.0]})
    with pytest.raises(ValueError, match="sample schema"):
        store.upsert_samples(SITE, wrong)
    with pytest.raises(ValueError, match=r"non-finite value.*'p'"):
        store.upsert_samples(SITE, samples([("p", T0, 1.0), ("p", T0 + 1, math.nan)]))
    assert store.count_samples(SITE, 0, 2**62) == 0


def test_case_folded_resolution(store: HotStore) -> None:
    store.upsert_points(SITE, points(["AHU-1/SAT", "ahu-1/sat", "VAV-2/ZoneTemp", "Straße"]))
    store.upsert_points(OTHER, points(["vav-2/zonetemp"]))

    [vav] = store.resolve_points(SITE, ["vav-2/ZONETEMP"])
    assert (vav.site, vav.name, vav.folded) == (SITE, "VAV-2/ZoneTemp", "vav-2/zonetemp")
    assert [r.name for r in store.resolve_points(SITE, ["STRASSE", "strasse"])] == ["Straße"]
    exact = store.resolve_points(SITE, ["ahu-1/sat", "AHU-1/SAT"])
    assert [r.name for r in exact] == ["ahu-1/sat", "AHU-1/SAT"]

    with pytest.raises(AmbiguousPointError) as ambiguous:
        store.resolve_points(SITE, ["Ahu-1/Sat"])
    assert "'AHU-1/SAT'" in str(ambiguous.value) and "'ahu-1/sat'" in str(ambiguous.value)
    assert isinstance(ambiguous.value, query_types.AmbiguousPointError)
    assert ambiguous.value.status == 409

    with pytest.raises(UnknownPointError) as unknown:
        store.resolve_points(SITE, ["VAV-2/zonetemp", "nope-1", "Nope 2"])
    assert "'nope-1'" in str(unknown.value) and "'Nope 2'" in str(unknown.value)
    assert isinstance(unknown.value, query_types.UnknownPointError)
    assert unknown.value.status == 404


def test_hostile_names_round_trip_exactly(store: HotStore) -> None:
    assert store.upsert_points(SITE, points(HOSTILE_NAMES)) == len(HOSTILE_NAMES)
    data = samples([(name, T0 + i, float(i)) for i, name in enumerate(HOSTILE_NAMES)])
    assert store.upsert_samples(SITE, data).rows == len(HOSTILE_NAMES)

    table = store.read_samples(SITE, T0, T0 + DAY_MS)
    assert sorted(rows_of(table)) == sorted(rows_of(data))
    assert table.column("point_name").to_pylist() == sorted(HOSTILE_NAMES)  # code point order
    subset = store.read_samples(SITE, T0, T0 + DAY_MS, point_names=HOSTILE_NAMES[1:4])
    assert sorted(subset.column("point_name").to_pylist()) == sorted(HOSTILE_NAMES[1:4])
    for name in HOSTILE_NAMES:
        assert [r.name for r in store.resolve_points(SITE, [name.upper()])] == [name]
    assert {r.name for r in store.list_points(SITE)} == set(HOSTILE_NAMES)
    assert store.count_samples(SITE, T0, T0 + DAY_MS) == len(HOSTILE_NAMES)  # tables intact


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%", ["$1 $2 ? :name %(x)s", "100%_done", "back\\slash\\%_", "percent%sign"]),
        ("_", ["100%_done", "back\\slash\\%_", "under_score"]),
        ("\\", ["back\\slash\\%_"]),
        (
            "'",
            [
                "O'Brien's \"VAV\" 2",
                "Robert'); DELETE FROM points;--",
                "x'; DROP TABLE samples; --",
            ],
        ),
        ("sat", ["AHU-1/SAT"]),
        ("STRASSE", ["Straße/Süd"]),
        ("ωMEGA", ["Zone Temp ☃ Ωmega"]),
        ("no such thing", []),
    ],
)
def test_list_points_search_is_a_literal_case_insensitive_substring(
    store: HotStore, q: str, expected: list[str]
) -> None:
    store.upsert_points(SITE, points(HOSTILE_NAMES))
    assert [r.name for r in store.list_points(SITE, q=q)] == expected


def test_list_points_limit_sites_and_catalogue_updates(store: HotStore) -> None:
    assert store.list_sites() == []
    store.upsert_points(SITE, points(["b", "a", "c"], point_type="analog"))
    store.upsert_points(OTHER, points(["z"]))
    assert store.list_sites() == [SITE, OTHER]
    assert [r.name for r in store.list_points(SITE, limit=2)] == ["a", "b"]
    store.upsert_points(SITE, points(["a"], point_type="binary"))
    [a] = store.list_points(SITE, q="a")
    assert a.data_type == "binary"
    assert len(store.list_points(SITE)) == 3
    with pytest.raises(ValueError, match="limit must be a positive int, got 0"):
        store.list_points(SITE, limit=0)


@pytest.mark.parametrize("bad_site", ["../etc", "a/b", "", "x\x00y", ".hidden", "semi;colon"])
def test_hostile_site_names_are_refused(store: HotStore, bad_site: str) -> None:
    with pytest.raises(InvalidNameError, match="site name"):
        store.upsert_points(bad_site, points(["p"]))
    with pytest.raises(InvalidNameError, match="site name"):
        store.read_samples(bad_site, 0, 1)


def test_hostile_point_names_with_control_characters_are_refused(store: HotStore) -> None:
    with pytest.raises(InvalidNameError, match="control characters"):
        store.upsert_points(SITE, points(["ok", "bad\nname"]))
    assert store.list_points(SITE) == []


def test_watermark_per_site(store: HotStore) -> None:
    assert store.get_watermark(SITE) is None
    store.set_watermark(SITE, T0 + 123)
    store.set_watermark(OTHER, T0)
    assert store.get_watermark(SITE) == T0 + 123
    store.set_watermark(SITE, T0 + 50)  # moving back is allowed (re-sync is idempotent)
    assert (store.get_watermark(SITE), store.get_watermark(OTHER)) == (T0 + 50, T0)


def test_archive_records(store: HotStore) -> None:
    day = day_of_ms(T0)
    assert store.get_archive(SITE, day) is None
    store.record_archive(SITE, day, rows=10, checksum="abc", key="timeseries/site-a/x.parquet")
    record = store.get_archive(SITE, day)
    assert record is not None
    assert (record.site, record.day, record.rows, record.checksum, record.key) == (
        SITE,
        day,
        10,
        "abc",
        "timeseries/site-a/x.parquet",
    )
    assert record.verified_at.utcoffset() is not None
    store.record_archive(SITE, day, rows=12, checksum="def", key="k2")
    again = store.get_archive(SITE, day)
    assert again is not None and (again.rows, again.checksum, again.key) == (12, "def", "k2")
    assert store.get_archive(OTHER, day) is None
    with pytest.raises(ValueError, match="non-negative"):
        store.record_archive(SITE, day, rows=-1, checksum="a", key="k")


def test_delete_touches_only_the_half_open_range(store: HotStore) -> None:
    for site in (SITE, OTHER):
        store.upsert_points(site, points(["p", "q"]))
    start, end = T0 + DAY_MS, T0 + 2 * DAY_MS
    stamps = [start - 1, start, start + 1, end - 1, end, end + 1]
    data = samples([(p, t, 1.0) for p in ("p", "q") for t in stamps])
    for site in (SITE, OTHER):
        store.upsert_samples(site, data)

    assert store.delete_samples(SITE, start, end) == 6
    left = store.read_samples(SITE, 0, 2**62)
    assert sorted(set(left.column("ts").to_pylist())) == [start - 1, end, end + 1]
    assert store.count_samples(OTHER, 0, 2**62) == 12
    assert store.delete_samples(SITE, start, end) == 0


def test_days_with_samples_and_latest(store: HotStore) -> None:
    assert store.days_with_samples(SITE, T0 + 100 * DAY_MS) == []
    assert store.latest_sample_ms(SITE) is None
    store.upsert_points(SITE, points(["p", "q"]))
    store.upsert_points(OTHER, points(["p"]))
    stamps = [T0, T0 + DAY_MS - 1, T0 + 3 * DAY_MS, T0 + 7 * DAY_MS + 5]
    store.upsert_samples(
        SITE, samples([("p", t, 1.0) for t in stamps] + [("q", T0 + 5 * DAY_MS, 1.0)])
    )
    store.upsert_samples(OTHER, samples([("p", T0 + 4 * DAY_MS, 1.0), ("p", T0 + 9 * DAY_MS, 1.0)]))

    days = store.days_with_samples(SITE, T0 + 7 * DAY_MS)
    assert days == [day_of_ms(T0 + n * DAY_MS) for n in (0, 3, 5)]
    assert store.days_with_samples(SITE, T0 + 7 * DAY_MS + 6)[-1] == day_of_ms(T0 + 7 * DAY_MS)
    assert store.days_with_samples(SITE, T0) == []
    assert store.latest_sample_ms(SITE) == T0 + 7 * DAY_MS + 5
    assert store.latest_sample_ms(OTHER) == T0 + 9 * DAY_MS
    assert store.count_samples(SITE, T0, T0 + DAY_MS) == 2


def test_resource_in_a_dagster_run(tmp_path) -> None:
    """The resource binds by config and is usable from an asset in a real run."""

    @dg.asset
    def hot_rows(hot_store: HotStoreResource) -> dg.MaterializeResult:
        hot_store.upsert_points(SITE, points(["p"]))
        result = hot_store.upsert_samples(SITE, samples([("p", T0, 1.0), ("ghost", T0, 2.0)]))
        return dg.MaterializeResult(
            metadata={"rows": result.rows, "unknown_points": result.unknown_points}
        )

    url = str(tmp_path / "dagster-hot.sqlite")
    outcome = dg.materialize([hot_rows], resources={"hot_store": HotStoreResource(url=url)})
    assert outcome.success
    [event] = outcome.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["rows"].value, metadata["unknown_points"].value) == (1, 1)
    assert HotStoreResource(url=url).count_samples(SITE, T0, T0 + 1) == 1


def test_full_site_read_split_into_name_ranges_keeps_order(
    store: HotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full-site reads run as parallel name ranges; the result is still whole and sorted."""
    import vitals.hot.arrow

    monkeypatch.setattr(vitals.hot.arrow, "MIN_POINTS_PER_PART", 1)
    store.upsert_points(SITE, points(HOSTILE_NAMES))
    data = samples([(n, T0 + t, float(t)) for n in HOSTILE_NAMES for t in range(3)])
    store.upsert_samples(SITE, data)
    assert rows_of(store.read_samples(SITE, T0, T0 + 3)) == sorted(rows_of(data))


def test_catalogue_accepts_the_ace_client_points(store: HotStore) -> None:
    """The ACE client's own AcePoint records go straight into the catalogue."""
    from vitals.ace.client import AcePoint

    listed = [
        AcePoint(
            name="Bldg/AHU-1/SAT",
            point_id=101,
            point_type="analog",
            collect_enabled=True,
            collect_interval=300,
            created="2024-01-02T03:04:05",
            updated=None,
        ),
        AcePoint(
            name="Bldg/AHU-1/Fan Status",
            point_id=None,
            point_type=None,
            collect_enabled=False,
            collect_interval=None,
            created=None,
            updated=None,
        ),
    ]
    assert store.upsert_points(SITE, listed) == 2
    records = {r.name: r for r in store.list_points(SITE)}
    assert records["Bldg/AHU-1/SAT"].data_type == "analog"
    assert records["Bldg/AHU-1/Fan Status"].data_type is None
    assert records["Bldg/AHU-1/SAT"].folded == "bldg/ahu-1/sat"


def test_resource_hands_over_one_library_store(tmp_path) -> None:
    """Code that takes a HotStore gets the resource's own (one backend, opened once)."""
    resource = HotStoreResource(url=str(tmp_path / "hot.sqlite"))
    assert isinstance(resource.store, HotStore)
    assert resource.store is resource.store
    resource.upsert_points(SITE, points(["p"]))
    assert [r.name for r in resource.store.list_points(SITE)] == ["p"]
