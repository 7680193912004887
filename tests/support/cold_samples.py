"""Small deterministic sample tables for cold-file tests (fixed seeds, ACE-style names)."""

from __future__ import annotations

import random
from datetime import date

import pyarrow as pa

from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

DAY = date(2026, 10, 1)
SITE = "ses_falls_city"


def point_names(count: int, *, seed: int = 3) -> list[str]:
    """Long production-style names whose first 60+ characters are identical."""
    rng = random.Random(seed)
    base = f"ses/{SITE}/192.168.96.3/n4/FallsCity_CMC/C.Drivers.LonNetwork1."
    names = {f"{base}AHU_{rng.randint(1, 99)}.points.Damper_{i:03d}" for i in range(count)}
    return sorted(names)


def samples(
    names: list[str], *, per_point: int, day: date = DAY, seed: int = 5, step_ms: int = 60_000
) -> pa.Table:
    """Quantised analog samples for each point, sorted by (point_name, ts)."""
    rng = random.Random(seed)
    start, _ = day_bounds_ms(day)
    rows_name, rows_ts, rows_value = [], [], []
    for name in names:
        phase = 35_000 + rng.randrange(2_500)
        level = rng.uniform(50, 80)
        for k in range(per_point):
            level += rng.choice((-0.1, 0.0, 0.0, 0.1))
            rows_name.append(name)
            rows_ts.append(start + phase + k * step_ms)
            rows_value.append(round(level, 1))
    return table(rows_name, rows_ts, rows_value)


def table(names: list[str], stamps: list[int], values: list[float]) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(names, pa.string()),
            pa.array(stamps, pa.int64()),
            pa.array(values, pa.float64()),
        ],
        schema=SAMPLE_SCHEMA,
    )
