"""Property tests: every query over a random two-tier site equals a plain-Python reference.

Random samples are split across the real SQLite hot store and real Parquet day files,
with keys held by both tiers (different values: hot must win), duplicates inside a tier
(later write wins), days without a cold file (archival late), and rollup files (day and
month files, across a month boundary) that are fresh, stale (built from an older version
of the cold file) or missing.
"""

from __future__ import annotations

import math
import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.query_data import QuerySite, reference_query, reference_tiers
from vitals.samples import MS_PER_DAY, day_bounds_ms, day_of_ms

BASIC_AGGREGATES = ("avg", "min", "max", "last")

SITE = "prop-site"
POINTS = ["AHU-1/SAT", "ahu-1/RAT", "VAV 3.Zone Temp"]
DAY0 = date(2026, 2, 27)  # Feb 27 - Mar 1: two month rollup files
BASE = day_bounds_ms(DAY0)[0]
DAYS = 3
STEP = 1_297_000  # ~21.6 min, not minute aligned: buckets get 0..n samples
SLOTS = DAYS * MS_PER_DAY // STEP

slot = st.one_of(st.integers(0, SLOTS - 1), st.sampled_from([0, 66, 67, 133, 199]))
value = st.integers(-40, 40).map(lambda v: v / 4)
entry = st.tuples(
    st.integers(0, len(POINTS) - 1),
    slot,
    value,
    st.sampled_from(["cold", "cold", "cold", "hot", "both"]),
    value,
    st.integers(0, 999),
)
# runs of consecutive slots make buckets dense enough for gaps, fills and rollups to matter
run = st.tuples(
    st.integers(0, len(POINTS) - 1),
    st.integers(0, SLOTS - 1),
    st.integers(1, 60),
    st.sampled_from(["cold", "cold", "hot", "both"]),
    st.integers(0, 6),
)
site_data = st.fixed_dictionaries(
    {
        "entries": st.lists(entry, min_size=5, max_size=60),
        "runs": st.lists(run, min_size=1, max_size=4),
        "cold_days": st.sets(st.integers(0, DAYS - 1), min_size=1),
        "hot_days": st.sets(
            st.integers(0, DAYS - 1), max_size=DAYS - 1
        ),  # others: hot rows deleted
        "rollups": st.lists(
            st.sampled_from(["none", "fresh", "stale", "asset", "asset", "stale-month"]),
            min_size=DAYS,
            max_size=DAYS,
        ),
        "compact_at_end": st.booleans(),
    }
)
boundary = st.sampled_from([BASE + d * MS_PER_DAY for d in range(-1, DAYS + 2)])
query = st.fixed_dictionaries(
    {
        "start": st.one_of(
            boundary, boundary, st.integers(BASE - MS_PER_DAY, BASE + DAYS * MS_PER_DAY)
        ),
        "length": st.one_of(
            st.sampled_from([MS_PER_DAY, 2 * MS_PER_DAY, 3 * MS_PER_DAY]),
            st.integers(1, 4 * MS_PER_DAY),
        ),
        "points": st.lists(
            st.sampled_from(range(len(POINTS))), min_size=1, max_size=3, unique=True
        ),
        "case": st.sampled_from(["exact", "upper", "lower"]),
        "interval": st.sampled_from(["raw", "1m", "5m", "15m", "15m", "1h", "1h", "1d", "1d"]),
        "aggs": st.lists(st.sampled_from(BASIC_AGGREGATES), min_size=1, max_size=4, unique=True),
        "fill": st.sampled_from([None, None, "previous", "linear"]),
        "max_gap": st.one_of(st.none(), st.integers(1, 6 * 3_600_000)),
    }
)


def _build(root: Path, data: dict) -> dict[tuple[str, int], float]:
    site = QuerySite(root, SITE, POINTS)
    cold_rows: list[tuple[str, int, float]] = []
    hot_rows: list[tuple[str, int, float]] = []
    entries = list(data["entries"])
    for point, first, length, tier, seed in data["runs"]:
        for k in range(first, min(first + length, SLOTS)):
            entries.append((point, k, ((k * seed) % 9) / 2, tier, ((k + seed) % 5) / 4, 0))
    for point, k, cold_value, tier, hot_value, ms in entries:
        key = (POINTS[point], BASE + k * STEP + ms)
        if (key[1] - BASE) // MS_PER_DAY not in data["hot_days"]:
            tier = "cold"
        if tier in ("cold", "both"):
            cold_rows.append((*key, cold_value))
        if tier in ("hot", "both"):
            hot_rows.append((*key, hot_value))
    kept_cold: list[tuple[str, int, float]] = []
    for d in sorted(data["cold_days"]):
        day = DAY0 + timedelta(days=d)
        rows = [r for r in cold_rows if day_of_ms(r[1]) == day]
        kept_cold += rows
        mode = data["rollups"][d]
        if mode == "stale":  # rollup of an older cold file: other values, then rewritten
            older = site.put_cold_day(day, [(n, t, v + 1000) for n, t, v in rows[:-1]])
            site.put_rollup_from_cold(day, older)
        if mode == "stale-month":  # day and month rollups of an older cold file, then rewritten
            site.put_cold_day(day, [(n, t, v + 1000) for n, t, v in rows[:-1]])
            site.rollup_day(day)
            site.compact_month(day)
        data_bytes = site.put_cold_day(day, rows)
        if mode == "fresh":
            site.put_rollup_from_cold(day, data_bytes)
        if mode == "asset":  # the asset's path: day rollup with the cold identity + month file
            site.rollup_day(day)
            site.compact_month(day)
    if data["compact_at_end"]:
        for d in sorted(data["cold_days"]):
            site.compact_month(DAY0 + timedelta(days=d))
    site.put_hot(hot_rows)
    data["site"] = site
    return reference_tiers(kept_cold, hot_rows)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=site_data, queries=st.lists(query, min_size=1, max_size=6))
def test_every_query_equals_plain_python_reference(data: dict, queries: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        merged = _build(Path(tmp), data)
        engine = data["site"].engine()
        for q in queries:
            names = [POINTS[i] for i in q["points"]]
            asked = [getattr(n, q["case"])() if q["case"] != "exact" else n for n in names]
            fill = q["fill"] if q["interval"] != "raw" else None
            gap = q["max_gap"] if fill else None
            result = engine.query(
                SITE,
                asked,
                q["start"],
                q["start"] + q["length"],
                interval=q["interval"],
                aggs=q["aggs"],
                fill=fill,
                max_gap_ms=gap,
            )
            expected = reference_query(
                merged,
                names,
                q["start"],
                q["start"] + q["length"],
                q["interval"],
                result.aggs,
                fill,
                gap,
            )
            assert [s.point for s in result.series] == names
            assert result.samples == sum(len(s.t) for s in result.series)
            for series in result.series:
                want_t, want_values = expected[series.point]
                assert series.t == want_t, (q, series.point)
                assert series.values.keys() == want_values.keys()
                for agg, got in series.values.items():
                    want = want_values[agg]
                    assert len(got) == len(want)
                    if agg in ("v", "min", "max", "last") and fill is None:
                        assert got == want, (q, series.point, agg)
                    else:
                        assert all(_close(a, b) for a, b in zip(got, want, strict=True)), (
                            q,
                            series.point,
                            agg,
                            got,
                            want,
                        )
