"""A snapshot of a site's configured points, kept in the cold store beside the data.

``catalogue/{site}.json`` records each point's name and collection interval when
``ace_points`` last ran: pull planning reads the expected sample rate from it, and a
day can be rebuilt later without asking ACE what the points were.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

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


def catalogue_intervals(cold_store, site: str) -> list[int | None] | None:
    """Collection intervals of the site's points, or ``None`` without a snapshot."""
    key = catalogue_key(site)
    if not cold_store.exists(key):
        return None
    try:
        data = json.loads(cold_store.get_bytes(key))
        return [row.get("collect_interval") for row in data["points"]]
    except (ValueError, KeyError, TypeError):
        return None
