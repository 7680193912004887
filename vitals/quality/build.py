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
import pyarrow.compute as pc

from vitals.cold.catalogue import catalogue_snapshot
from vitals.cold.key_order import merge_last_wins
from vitals.cold.keys import cold_day_key
from vitals.cold.read import read_valid
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
from vitals.samples import DICTIONARY_SAMPLE_SCHEMA, day_bounds_ms

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


def cold_day_samples(data: bytes) -> pa.Table:
    """A day file's samples with dictionary-encoded names (``DICTIONARY_SAMPLE_SCHEMA``).

    Why: the report only compares names, and a full-load day's 6.6 M names decode as a
    dictionary in ~0.1 s against ~0.6 s as strings. Damaged bytes raise
    :class:`vitals.cold.read.ColdVerificationError` as every cold read does.
    """
    table = read_valid(data, ["point_name", "ts", "value"], read_dictionary=["point_name"])
    return pa.Table.from_arrays(
        [
            table.column("point_name"),
            pc.cast(table.column("ts"), pa.int64()),
            table.column("value"),
        ],
        schema=DICTIONARY_SAMPLE_SCHEMA,
    )


def day_samples(
    cold_store: ColdStore, hot: DayReader, site: str, day: date
) -> tuple[pa.Table, tuple[str, ...]]:
    """The site-day's samples over both tiers (hot wins), and the tiers that held rows.

    With one tier holding rows that tier's table is returned as read (names may be
    dictionary-encoded, order as stored: the report checks the order itself); both
    tiers are merged in key order with the hot row winning on an equal key.
    """
    start, end = day_bounds_ms(day)
    key = cold_day_key(site, day)
    cold_rows = cold_day_samples(cold_store.get_bytes(key)) if cold_store.exists(key) else None
    hot_rows = hot.read_samples(site, start, end).select(["point_name", "ts", "value"])
    tiers = (("cold",) if cold_rows is not None else ()) + (("hot",) if hot_rows.num_rows else ())
    if cold_rows is None or not cold_rows.num_rows:
        return hot_rows, tiers
    if not hot_rows.num_rows:
        return cold_rows, tiers
    schema = hot_rows.schema
    merged = merge_last_wins([cold_rows.cast(schema), hot_rows.cast(schema)])
    return merged, tiers


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
