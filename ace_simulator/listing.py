"""Catalogue answers: the page envelope, point date filters, Site and Point objects."""

from __future__ import annotations

import math
from typing import Any

from ace_simulator.catalog import CLIENT, KINDS, SimPoint, SimSite
from ace_simulator.wire import BadRequest, parse_int, parse_time_us

PER_PAGE_CHOICES = (2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000)


def page_envelope(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of a list in ACE's envelope; ``per_page`` must be one of the listed values."""
    per_page = parse_int(query.get("per_page"), field="per_page", default=100)
    if per_page not in PER_PAGE_CHOICES:
        raise BadRequest(
            f"{per_page} is not a valid choice for 'per_page'; choices: {list(PER_PAGE_CHOICES)}"
        )
    page = parse_int(query.get("page"), field="page", default=1)
    if page < 1:
        raise BadRequest(f"page {page} must be at least 1")
    total = len(items)
    chunk = items[(page - 1) * per_page : page * per_page]
    pages = max(1, math.ceil(total / per_page))
    return {
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "total_pages": pages,
        "total_items": total,
        "items": chunk,
    }


def date_filter(points: list[SimPoint], query: dict[str, str]) -> list[SimPoint]:
    """created/updated after/before filters: inclusive, UTC, applied before paging."""
    bounds = {
        k: parse_time_us(query[k], field=k)
        for k in ("created_after", "created_before", "updated_after", "updated_before")
        if query.get(k)
    }
    for what in ("created", "updated"):
        lo, hi = bounds.get(f"{what}_after"), bounds.get(f"{what}_before")
        if lo is not None and hi is not None and lo > hi:
            raise BadRequest(
                f"{what}_after {query[what + '_after']!r} is after {what}_before {query[what + '_before']!r}"
            )
        if lo is not None or hi is not None:

            def keep(
                p: SimPoint, what: str = what, lo: int | None = lo, hi: int | None = hi
            ) -> bool:
                t = parse_time_us(getattr(p, what), field=what)
                return (lo is None or t >= lo) and (hi is None or t <= hi)

            points = [p for p in points if keep(p)]
    return points


def site_json(site: SimSite) -> dict[str, Any]:
    """A Site object (docs/ace_client.md)."""
    return {
        "id": site.site_id,
        "name": site.name,
        "nice_name": site.name.replace("_", " ").title(),
        "address": f"{100 + site.index * 10} Main St, Falls City, NE",
        "vtron_ip": f"10.8.0.{10 + site.index}",
        "vtron_user": "volttron",
        "ansible_user": "ansible",
        "mqtt_prefix": f"{CLIENT}/{site.name}",
        "latitude": 40.06 + site.index * 0.01,
        "longitude": -95.6 - site.index * 0.01,
        "geo_location": "",
        "client_id": 1,
        "client": CLIENT,
        "archived": False,
        "timezone": SITE_TIMEZONES[site.index % len(SITE_TIMEZONES)],
        "created": "2024-01-15T16:02:11.000000",
        "updated": "2025-10-01T09:30:00.000000",
    }


# Sites live in zones with whole-hour and half-hour offsets, as a fleet does.
SITE_TIMEZONES = ("America/Chicago", "Europe/Berlin", "Asia/Kolkata", "America/New_York", "UTC")


def _equipment(p: SimPoint) -> str:
    """The equipment a point belongs to, from how its name was built (catalog._equipment)."""
    if p.object_type == "weather":
        return "weather"
    for marker, equip in ((".AHU", "ahu"), (".Meters.", "meter"), (".Vav", "vav")):
        if marker in p.name:
            return equip
    if p.kind in ("chw_temp", "cw_temp", "hw_temp", "dp"):
        return "plant"
    return "plant" if p.device.startswith("10.0.20.") else "vav"


def point_tags(p: SimPoint) -> tuple[list[str], dict[str, str]]:
    """Haystack-style markers and kv tags as a BMS integrator would set them.

    Every point names its kind, unit (when it has one) and equipment; binaries carry a
    ``binary`` marker, totalisers ``hisMode: consumption``; most analogs state no
    ``hisMode`` (the platform infers it), as in the field.
    """
    kind = KINDS[p.kind]
    markers = {"point", "his", p.kind, _equipment(p)}
    if p.kind.endswith("_sp"):
        markers.add("sp")
    elif kind.binary:
        markers.update({"binary", "cmd" if "Cmd" in p.name else "sensor"})
    elif p.kind == "mode":
        markers.add("enum")
    else:
        markers.add("sensor")
    kv = {"kind": p.kind, "equip": _equipment(p)}
    if kind.unit:
        kv["unit"] = kind.unit
    if kind.counter:
        kv["hisMode"] = "consumption"
    return sorted(markers), kv


def point_json(site: SimSite, p: SimPoint) -> dict[str, Any]:
    """A Point object (docs/ace_client.md); BACnet points carry ``bacnet_data``."""
    bacnet = None
    if p.object_type not in ("weather", "niagara"):
        address, _, device_id = p.device.rpartition("-")
        bacnet = {
            "device_address": address,
            "device_id": int(device_id) if device_id.isdigit() else 0,
            "device_name": p.device,
            "device_description": "",
            "object_type": p.object_type,
            "object_index": int(p.name.rsplit("/", 1)[1]),
            "object_name": p.kind,
            "object_description": "",
            "object_units": KINDS[p.kind].unit,
            "present_value": "",
            "scrape_interval": p.interval_s,
            "scrape_enabled": p.collect_enabled,
            "additional_properties": {},
        }
    markers, kv = point_tags(p)
    return {
        "id": p.point_id,
        "name": p.name,
        "site_id": site.site_id,
        "client_id": 1,
        "site": site.name,
        "client": CLIENT,
        "marker_tags": markers,
        "kv_tags": kv,
        "bacnet_data": bacnet,
        "collect_config": {},
        "point_type": "bacnet" if bacnet else p.object_type,
        "collect_enabled": p.collect_enabled,
        "collect_interval": p.interval_s,
        "topic_id": p.point_id,
        "device_id": p.device,
        "created": p.created,
        "updated": p.updated,
    }
