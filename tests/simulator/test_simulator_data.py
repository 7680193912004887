"""The simulated building looks like production data (docs/simulator.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import httpx
import pyarrow.compute as pc
import pytest

from ace_simulator.building import Building, BuildingConfig, expected_samples

DAY_MS = 1_760_227_200_000  # 2025-10-12T00:00:00Z (a Sunday)
MON_MS = DAY_MS + 86_400_000
HOUR_MS = 3_600_000
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture(scope="module")
def full_site() -> Building:
    return Building(BuildingConfig(seed=7))


def test_full_site_names_and_intervals(full_site):
    points = full_site.listed_points("acme_hq", configured_only=False)
    assert len(points) == 4600
    names = [p.name for p in points]
    assert len(set(names)) == 4600
    assert any(re.fullmatch(r"acme/acme_hq/\d+:\d+-\d+/analogValue/\d+", n) for n in names)
    assert any("/192.168.96." in n and "/n4/" in n and ".points." in n for n in names)
    assert "acme/acme_hq/weather/temp" in names
    intervals = Counter(p.interval_s for p in points)
    assert intervals[300] > 0.8 * 4600 and {30, 60, 600} <= set(intervals)
    slow_marks = [p.phase_us for p in points if p.interval_s == 300]
    assert all(35_000_000 <= ph < 37_500_000 for ph in slow_marks)
    unconfigured = [p for p in points if not p.collect_enabled]
    assert 40 <= len(unconfigured) <= 100 and any(p.exported for p in unconfigured)


def test_full_site_hour_of_samples(full_site):
    table = full_site.expected_samples("acme_hq", MON_MS + 15 * HOUR_MS, MON_MS + 16 * HOUR_MS)
    per_5min = table.num_rows / 12
    assert 4000 < per_5min < 6500  # production: ~4,500-4,600 samples per 5 minutes
    times = table["time"].to_pylist()
    assert all(TIME_RE.match(t) for t in times[:2000])
    assert times == sorted(times)
    texts = table["value_text"].to_pylist()
    assert Counter(t for t in texts if t in ("0", "1", "true", "false"))
    decimals = {len(t.split(".")[1]) for t in texts if "." in t}
    assert decimals <= {1, 2, 3, 4}
    assert all(
        float(t) == v
        for t, v in zip(texts, table["value"].to_pylist(), strict=False)
        if t not in ("true", "false")
    )
    assert not any(re.search(r"\de[+-]?\d", t) for t in texts)  # no exponent notation


def test_stuck_sensors_and_gaps(full_site):
    site = full_site.site("acme_hq")
    hours = 8
    table = full_site.expected_samples(
        "acme_hq", MON_MS + 8 * HOUR_MS, MON_MS + (8 + hours) * HOUR_MS
    )
    grouped = table.group_by("name").aggregate(
        [("value_text", "count_distinct"), ("value_text", "count")]
    )
    distinct = dict(
        zip(
            grouped["name"].to_pylist(),
            grouped["value_text_count_distinct"].to_pylist(),
            strict=False,
        )
    )
    counts = dict(
        zip(grouped["name"].to_pylist(), grouped["value_text_count"].to_pylist(), strict=False)
    )
    stuck = [p for p in site.points if p.stuck and p.exported and not p.case_twin]
    assert stuck and all(distinct[p.name] == 1 for p in stuck)
    lively = [p for p in site.points if p.kind == "zone_temp" and not p.stuck]
    assert all(distinct[p.name] > 3 for p in lively[:20])
    nominal = {
        p.name: hours * 3600 // p.interval_s for p in site.points if p.exported and not p.case_twin
    }
    short = {n for n, c in nominal.items() if counts.get(n, 0) < c}
    gappy = {p.name for p in site.points if p.gappy}
    assert short & gappy  # gappy points lose whole hours
    assert len(short) < 0.1 * len(nominal)


def test_full_load_interval_is_one_sample_per_point_minute():
    building = Building(BuildingConfig(seed=7, interval=60))
    chunk = building.expected_chunk("acme_hq", DAY_MS * 1000, (DAY_MS + HOUR_MS) * 1000)
    exported = sum(1 for p in building.site("acme_hq").points if p.exported and not p.case_twin)
    assert 0.9 * exported * 60 < len(chunk) <= exported * 60  # ~6.6 M a day
    per_point = Counter(chunk.pidx.to_pylist())
    assert max(per_point.values()) == 60


def test_any_day_same_window_same_samples():
    first = expected_samples(
        "acme_hq",
        DAY_MS - 400 * 86_400_000,
        DAY_MS - 400 * 86_400_000 + HOUR_MS,
        seed=3,
        points=300,
    )
    again = expected_samples(
        "acme_hq",
        DAY_MS - 400 * 86_400_000,
        DAY_MS - 400 * 86_400_000 + HOUR_MS,
        seed=3,
        points=300,
    )
    assert first.num_rows > 0 and first.equals(again)
    assert pc.min(first["ts_ms"]).as_py() >= DAY_MS - 400 * 86_400_000


def test_several_sites():
    building = Building(BuildingConfig(sites=3, points=50))
    assert list(building.sites) == ["acme_hq", "acme_plant", "acme_annex"]
    names = [p.name for s in building.sites.values() for p in s.points]
    assert len(set(names)) == len(names)


def test_cli_serves_until_terminated(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ace_simulator",
            "--port",
            "0",
            "--points",
            "60",
            "--sites",
            "2",
            "--faults",
            "bad_values:p=0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/api)", line).group(1)
        sites = httpx.get(url + "/sites", headers={"Authorization": "Bearer x"}, timeout=10).json()
        assert [s["name"] for s in sites["items"]] == ["acme_hq", "acme_plant"]
        faults = httpx.get(url.removesuffix("/api") + "/_sim/faults", timeout=10).json()
        assert faults["bad_values"]["p"] == 0.1
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_fault_spec():
    done = subprocess.run(
        [sys.executable, "-m", "ace_simulator", "--faults", "gremlins"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown fault 'gremlins'" in done.stderr


@pytest.mark.parametrize("page_size", [3, 10, 100, 1000, 5000])
def test_pages_tile_the_window_exactly(page_size):
    building = Building(BuildingConfig(seed=11, points=80))
    export = building.export("acme_hq")
    start_us, end_us = (DAY_MS + 7 * 60_000) * 1000 + 123, (DAY_MS + 40 * 60_000) * 1000 + 456
    whole = building.expected_chunk("acme_hq", start_us, end_us)
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        page = export.page(start_us, end_us, page_size, raw=True, cursor=cursor)
        assert 0 < len(page.chunk) <= page_size
        assert page.next_cursor is None or len(page.chunk) == page_size
        seen += zip(page.chunk.emit_us.to_pylist(), page.chunk.pidx.to_pylist(), strict=False)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(zip(whole.emit_us.to_pylist(), whole.pidx.to_pylist(), strict=False))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert all(start_us <= t < end_us for t, _ in seen)
