"""A snapshot of a site's configured points, kept in the cold store beside the data.

``catalogue/{site}.json`` records each point's name and collection interval when
``ace_points`` last ran: pull planning reads the expected sample rate from it, and a
day can be rebuilt later without asking ACE what the points were.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from vitals.hot.store import HotStore
from vitals.names import validate_site_name

CATALOGUE_PREFIX = "catalogue/"


def catalogue_key(site: str) -> str:
    return f"{CATALOGUE_PREFIX}{validate_site_name(site)}.json"


def store_catalogue(cold_store, site: str, points: Sequence) -> str:
    """Write the snapshot (sorted, so an unchanged catalogue gives identical bytes)."""
    rows = sorted(
        ({"name": p.name, "collect_interval": p.collect_interval} for p in points),
        key=lambda row: row["name"],
    )
    key = catalogue_key(site)
    cold_store.put_bytes(key, json.dumps({"site": site, "points": rows}).encode())
    return key


def _catalogue_rows(cold_store, site: str) -> list[dict] | None:
    """The snapshot's point rows, or ``None`` without a readable snapshot."""
    key = catalogue_key(site)
    if not cold_store.exists(key):
        return None
    try:
        rows = json.loads(cold_store.get_bytes(key))["points"]
        return [row for row in rows if isinstance(row, dict) and isinstance(row.get("name"), str)]
    except (ValueError, KeyError, TypeError):
        return None


def catalogue_intervals(cold_store, site: str) -> list[int | None] | None:
    """Collection intervals of the site's points, or ``None`` without a snapshot."""
    rows = _catalogue_rows(cold_store, site)
    return None if rows is None else [row.get("collect_interval") for row in rows]


def catalogue_names(cold_store, site: str) -> set[str]:
    """Names of the site's configured points in the snapshot (empty without one)."""
    return {row["name"] for row in _catalogue_rows(cold_store, site) or []}


def configured_point_names(hot_store: HotStore, cold_store, site: str) -> set[str]:
    """Every point the site is known to have configured: the hot store's catalogue and
    the cold store's snapshot together.

    Archival keeps only these points' samples. Either source alone can be absent (a new
    hot store beside old cold files, or a snapshot never taken), so both are read; an
    empty answer means nobody has fetched the catalogue, which archival must refuse
    rather than read as "no configured points" (DESIGN.md invariant 1).
    """
    return {point.name for point in hot_store.list_points(site)} | catalogue_names(cold_store, site)
