"""Child-process body for the hot store concurrency test.

Lives in its own module, importing no Dagster, so a spawned worker starts in about a
second instead of paying Dagster's import time.
"""

from __future__ import annotations

import traceback

from tests.support.hot_store_helpers import T0, points, samples
from vitals.hot.store import HotStore

SITE = "site-a"
POINTS = [f"Building/AHU-{i}/SupplyAirTemp" for i in range(12)]
SLICE = 120  # worker k writes ts offsets [k*60, k*60 + 120): neighbours overlap by half
BATCHES = 8


def expected_value(point_index: int, offset: int) -> float:
    return point_index * 1000.0 + offset / 4


def upsert_overlapping_slices(url: str, worker: int, barrier, errors) -> None:
    """Open the store (racing the first-use migration), then upsert in small batches."""
    try:
        store = HotStore(url)
        store.upsert_points(SITE, points(POINTS))  # concurrent catalogue upserts, same rows
        barrier.wait(timeout=60)
        offsets = list(range(worker * SLICE // 2, worker * SLICE // 2 + SLICE))
        per_batch = len(offsets) // BATCHES
        for b in range(BATCHES):
            chunk = offsets[b * per_batch : (b + 1) * per_batch]
            rows = [
                (name, T0 + o, expected_value(i, o)) for o in chunk for i, name in enumerate(POINTS)
            ]
            result = store.upsert_samples(SITE, samples(rows))
            assert result.rows == len(rows) and result.unknown_points == 0, result
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")
