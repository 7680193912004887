"""Build the data folder docs/query.md's worked requests run against.

One simulated site (``acme_hq``, 120 points, the ACE simulator's data, tags and site
record) over 2026-10-31 .. 2026-11-02 UTC, around the US DST end of 2026-11-01: the
first two days as verified cold files with day and month rollups, the third in the
SQLite hot store, a catalogue snapshot with the points' ACE tags and the site's zone
(America/Chicago), and a point_quality report per day. Then serve it with
``vitals serve`` (see docs/query.md).

Run: .venv/bin/python scripts/query_demo_site.py /tmp/vitals-query-demo
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.compute as pc

from ace_simulator.building import Building, BuildingConfig
from ace_simulator.listing import point_json, site_json
from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.client import AcePoint
from vitals.ace.pages import point_from_item
from vitals.cold.catalogue import store_catalogue
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.keys import cold_day_key
from vitals.quality.build import build_quality_day
from vitals.rollups.month import compact_rollup_month
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms
from vitals_assets.rollups import _rollup_site_day

SITE = "acme_hq"
COLD_DAYS = (date(2026, 10, 31), date(2026, 11, 1))
HOT_DAY = date(2026, 11, 2)
SETPOINT = "acme/acme_hq/2000:1-2001/analogValue/1"  # made a COV point by configuration


def main() -> None:
    """Build the folder named on the command line (default /tmp/vitals-query-demo)."""
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vitals-query-demo")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    building = Building(BuildingConfig(points=120))
    site = building.site(SITE)
    listed = building.listed_points(SITE, configured_only=True)
    points = [AcePoint(**point_from_item(point_json(site, p))[0]) for p in listed]
    hot = HotStoreResource(url=str(root / "hot.sqlite"))
    cold = ColdStoreResource(url=str(root / "cold"))
    hot.upsert_points(SITE, points)
    store_catalogue(cold.store, SITE, points, timezone=site_json(site)["timezone"])
    names = {p.name for p in points}
    for day in (*COLD_DAYS, HOT_DAY):
        start, end = day_bounds_ms(day)
        served = building.expected_samples(SITE, start, end)
        table = served.filter(served["configured"]).select(["name", "ts_ms", "value"])
        table = table.rename_columns(["point_name", "ts", "value"]).cast(SAMPLE_SCHEMA)
        table = table.filter(pc.is_in(table["point_name"], value_set=pa.array(sorted(names))))
        if day == HOT_DAY:
            hot.upsert_samples(SITE, table)
        else:
            cold_table = build_cold_table(SITE, day, [table])
            cold.put_bytes(
                cold_day_key(SITE, day),
                cold_file_bytes(cold_table, site=SITE, day=day, sources=["simulator"]),
            )
            _rollup_site_day(cold, SITE, day)
        print(f"{day}: {table.num_rows} samples -> {'hot' if day == HOT_DAY else 'cold'}")
    compact_rollup_month(cold.store, SITE, 2026, 10)
    compact_rollup_month(cold.store, SITE, 2026, 11)
    for day in (*COLD_DAYS, HOT_DAY):
        built = build_quality_day(cold.store, hot, SITE, day)
        print(f"quality {day}: {built.summary}")
    config = root / "site-config.json"
    config.write_text(json.dumps({"sites": {SITE: {"history_modes": {SETPOINT: "cov"}}}}))
    print(f"serve: VITALS_DATA_DIR={root} VITALS_SITE_CONFIG={config} .venv/bin/vitals serve")


if __name__ == "__main__":
    main()
