"""Build and store one site-day's quality report from both tiers and the catalogue.

The day's samples are read as the query engine sees them: the cold file (if any) and
the hot rows of the day, hot winning on equal keys. Expectations per point come from
the catalogue snapshot (``collect_interval``, ACE tags: unit, markers) and the site
configuration (history modes). A day still running (hot days, built by the sync) is
measured up to ``now``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import pyarrow as pa

from vitals.cold.catalogue import catalogue_snapshot
from vitals.cold.key_order import merge_last_wins
from vitals.cold.keys import cold_day_key
from vitals.cold.read import read_cold_bytes
from vitals.cold.store import ColdStore
from vitals.config import SiteOverrides
from vitals.point_tags import PointTags
from vitals.quality.point_day import (
    PointExpectation,
    point_quality_table,
    quality_day_key,
    quality_file_bytes,
    site_summary,
)
from vitals.samples import day_bounds_ms

FLAT_OK_MARKERS = frozenset({"sp", "cmd", "enum"})


class DayReader(Protocol):
    """What building a report needs from the hot store."""

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None = None
    ) -> pa.Table:
        """Samples in [start_ms, end_ms) sorted by (point_name, ts)."""
        ...


@dataclass(frozen=True)
class QualityBuild:
    """What one report build did (asset metadata)."""

    key: str
    summary: dict[str, float | int]
    samples: int
    seconds: float
    tiers: tuple[str, ...]


def expectations(
    cold_store: ColdStore, site: str, overrides: SiteOverrides
) -> dict[str, PointExpectation]:
    """Per catalogued point: interval, unit, mode (config, else tags), and if flat is fine."""
    snapshot = catalogue_snapshot(cold_store, site) or {}
    out: dict[str, PointExpectation] = {}
    for row in snapshot.get("points") or []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        tags = _tags(row)
        mode = overrides.history_mode(site, row["name"]) or tags.history_mode() or "sampled"
        interval = row.get("collect_interval")
        flat_ok = bool(tags.markers & FLAT_OK_MARKERS) or (tags.kind or "").endswith("sp")
        out[row["name"]] = PointExpectation(
            interval if isinstance(interval, int) and interval > 0 else None,
            tags.unit,
            mode,
            flat_ok,
        )
    return out


def _tags(row: Mapping[str, Any]) -> PointTags:
    markers = row.get("marker_tags") or []
    kv = row.get("kv_tags") or {}
    units = row.get("object_units")
    return PointTags(
        tuple(m for m in markers if isinstance(m, str)) if isinstance(markers, list) else (),
        {k: v for k, v in kv.items() if isinstance(v, str)} if isinstance(kv, dict) else {},
        units if isinstance(units, str) else None,
    )


def day_samples(
    cold_store: ColdStore, hot: DayReader, site: str, day: date
) -> tuple[pa.Table, tuple[str, ...]]:
    """The site-day's samples over both tiers (hot wins), and the tiers that held rows."""
    start, end = day_bounds_ms(day)
    parts: list[pa.Table] = []
    tiers: list[str] = []
    key = cold_day_key(site, day)
    if cold_store.exists(key):
        parts.append(read_cold_bytes(cold_store.get_bytes(key)))
        tiers.append("cold")
    hot_rows = hot.read_samples(site, start, end).select(["point_name", "ts", "value"])
    if hot_rows.num_rows:
        tiers.append("hot")
    parts.append(hot_rows)
    schema = parts[-1].schema
    merged = merge_last_wins([p.select(["point_name", "ts", "value"]).cast(schema) for p in parts])
    if merged.num_columns == 0:
        merged = schema.empty_table()
    return merged, tuple(tiers)


def build_quality_day(
    cold_store: ColdStore,
    hot: DayReader,
    site: str,
    day: date,
    *,
    overrides: SiteOverrides | None = None,
    now_ms: int | None = None,
) -> QualityBuild:
    """Compute the site-day's report and write ``quality/{site}/{YYYY}/{MM}/{DD}.parquet``."""
    began = time.monotonic()
    samples, tiers = day_samples(cold_store, hot, site, day)
    points = expectations(cold_store, site, overrides or SiteOverrides())
    table = point_quality_table(samples, points, day, as_of_ms=now_ms)
    key = quality_day_key(site, day)
    cold_store.put_bytes(key, quality_file_bytes(table, site, day))
    return QualityBuild(
        key=key,
        summary=site_summary(table),
        samples=samples.num_rows,
        seconds=round(time.monotonic() - began, 3),
        tiers=tiers,
    )
