"""A snapshot of a site's configured points, kept in the cold store beside the data.

``catalogue/{site}.json`` (:func:`vitals.cold.keys.catalogue_key`) records each point's
name and collection interval when ``ace_points`` last ran: pull planning reads the
expected sample rate from it, and a day can be rebuilt later without asking ACE what the
points were.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from vitals.cold.keys import catalogue_key
from vitals.cold.store import ColdStore
from vitals.hot.base import PointRecord


class CataloguedPoint(Protocol):
    """What the snapshot keeps of a configured point (an ACE point, read-only)."""

    @property
    def name(self) -> str:
        """The point's exact ACE name."""
        ...

    @property
    def collect_interval(self) -> int | None:
        """Seconds between samples, if ACE says."""
        ...


class PointLister(Protocol):
    """What the catalogue needs from the hot store: its points of a site."""

    def list_points(self, site: str) -> Sequence[PointRecord]:
        """The site's catalogued points."""
        ...


def _row(point: CataloguedPoint) -> dict[str, Any]:
    row: dict[str, Any] = {"name": point.name, "collect_interval": point.collect_interval}
    for tag in ("marker_tags", "kv_tags", "object_units"):
        value = getattr(point, tag, None)
        if value:
            row[tag] = dict(value) if tag == "kv_tags" else value
    return row


def store_catalogue(
    cold_store: ColdStore,
    site: str,
    points: Sequence[CataloguedPoint],
    *,
    timezone: str | None = None,
) -> str:
    """Write the snapshot (sorted, so an unchanged catalogue gives identical bytes).

    Rows keep each point's ACE tags (``marker_tags``, ``kv_tags``, BACnet
    ``object_units``) where ACE lists them, and the site record's ``timezone``.
    """
    rows = sorted((_row(p) for p in points), key=lambda row: str(row["name"]))
    key = catalogue_key(site)
    body: dict[str, Any] = {"site": site, "points": rows}
    if timezone:
        body["timezone"] = timezone
    cold_store.put_bytes(key, json.dumps(body, sort_keys=True).encode())
    return key


def catalogue_snapshot(cold_store: ColdStore, site: str) -> dict[str, Any] | None:
    """The whole snapshot (site, timezone, point rows with tags), or ``None``."""
    key = catalogue_key(site)
    if not cold_store.exists(key):
        return None
    try:
        found = json.loads(cold_store.get_bytes(key))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _catalogue_rows(cold_store: ColdStore, site: str) -> list[dict[str, Any]] | None:
    """The snapshot's point rows, or ``None`` without a readable snapshot."""
    key = catalogue_key(site)
    if not cold_store.exists(key):
        return None
    try:
        rows = json.loads(cold_store.get_bytes(key))["points"]
        return [row for row in rows if isinstance(row, dict) and isinstance(row.get("name"), str)]
    except (ValueError, KeyError, TypeError):
        return None


def catalogue_intervals(cold_store: ColdStore, site: str) -> list[int | None] | None:
    """Collection intervals of the site's points, or ``None`` without a snapshot."""
    rows = _catalogue_rows(cold_store, site)
    return None if rows is None else [row.get("collect_interval") for row in rows]


def catalogue_names(cold_store: ColdStore, site: str) -> set[str]:
    """Names of the site's configured points in the snapshot (empty without one)."""
    return {str(row["name"]) for row in _catalogue_rows(cold_store, site) or []}


def configured_point_names(hot_store: PointLister, cold_store: ColdStore, site: str) -> set[str]:
    """Every point the site is known to have configured, from the hot and the cold tier.

    The hot store's catalogue and the cold store's snapshot are read together. Archival keeps only these points' samples. Either source alone can be absent (a new
    hot store beside old cold files, or a snapshot never taken), so both are read; an
    empty answer means nobody has fetched the catalogue, which archival must refuse
    rather than read as "no configured points" (``docs/design.md`` invariant 1).
    """
    return {point.name for point in hot_store.list_points(site)} | catalogue_names(cold_store, site)
