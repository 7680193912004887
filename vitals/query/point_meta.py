"""Per-site facts a query needs beyond samples: time zone, point units, kinds, modes.

Sources, in order of precedence (docs/query.md "Where facts come from"):
- time zone: the ACE site record (kept in the catalogue snapshot), else the site's
  ``timezone`` in ``VITALS_SITE_CONFIG``, else UTC;
- history mode: ``VITALS_SITE_CONFIG`` ``history_modes``, else the point's tags
  (:mod:`vitals.point_tags`), else the mode the latest ``point_quality`` day inferred
  from the data, else ``sampled``;
- unit, kind, equipment: the point's ACE tags.

The catalogue snapshot (``catalogue/{site}.json``) is read once per version (its
identity from a listing, re-checked at most every 10 s), so a query pays a dict lookup.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vitals.cold.keys import CATALOGUE_PREFIX, catalogue_key
from vitals.config import SiteOverrides
from vitals.point_tags import PointTags

ModeLookup = Callable[[str], Mapping[str, str]]  # site -> point -> inferred mode
# How long a snapshot is used before its identity is listed again: a plan asks for it on
# every query, and ace_points rewrites it a few times a day at most.
SNAPSHOT_TTL_S = 10.0


class SnapshotReader(Protocol):
    """What reading the snapshot needs from the cold store."""

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes."""
        ...


@dataclass(frozen=True)
class PointInfo:
    """What the query layer knows of one point."""

    name: str
    unit: str | None
    kind: str | None
    equipment: str | None
    interval_s: int | None
    mode: str
    mode_source: str  # config | tags | data | default

    def as_json(self) -> dict[str, object]:
        """The fields point search and answers show."""
        return {
            "unit": self.unit,
            "kind": self.kind,
            "equipment": self.equipment,
            "interval_s": self.interval_s,
            "history_mode": self.mode,
            "history_mode_source": self.mode_source,
        }


@dataclass(frozen=True)
class _Snapshot:
    timezone: str | None
    tags: dict[str, tuple[PointTags, int | None]]


class SiteFacts:
    """Time zones and point facts of every site, from the snapshot and configuration."""

    def __init__(
        self,
        cold: SnapshotReader,
        overrides: SiteOverrides | None = None,
        inferred_modes: ModeLookup | None = None,
    ) -> None:
        self.cold = cold
        self.overrides = overrides or SiteOverrides()
        self.inferred_modes = inferred_modes
        self._cache: dict[str, tuple[str, _Snapshot]] = {}
        self._checked: dict[str, float] = {}
        self._inferred_at: dict[str, tuple[float, Mapping[str, str]]] = {}
        self._epoch = 0  # moved by any change of a snapshot or inferred modes (epoch())
        self._lock = threading.Lock()

    def _snapshot(self, site: str) -> _Snapshot:
        """The site's snapshot, re-checked against its identity at most every TTL."""
        with self._lock:
            cached = self._cache.get(site)
            checked = self._checked.get(site, 0.0)
        if cached is not None and time.monotonic() - checked < SNAPSHOT_TTL_S:
            return cached[1]
        key = catalogue_key(site)
        identity = self.cold.identities(CATALOGUE_PREFIX + site).get(key)
        if identity is None:
            snapshot = _Snapshot(None, {})
        elif cached is not None and cached[0] == identity:
            snapshot = cached[1]
        else:
            snapshot = _parse(self.cold.get_bytes(key))
        with self._lock:
            if cached is None or cached[0] != (identity or ""):
                self._epoch += 1  # what plans read of this site may have changed
            self._cache[site] = (identity or "", snapshot)
            self._checked[site] = time.monotonic()
        return snapshot

    def epoch(self, site: str) -> int:
        """A number that moves whenever the facts a plan of ``site`` reads may have moved.

        Re-checks the site's snapshot and inferred modes as a plan would (each at most
        every ``SNAPSHOT_TTL_S``), so a plan kept under an unchanged epoch equals a new one.
        """
        self._snapshot(site)
        self._inferred(site)
        return self._epoch

    def timezone(self, site: str) -> tuple[str, str]:
        """(zone, source): ``ace`` (site record), ``config`` or ``default`` (UTC)."""
        found = self._snapshot(site).timezone
        if found:
            return found, "ace"
        configured = self.overrides.timezone(site)
        if configured:
            return configured, "config"
        return "UTC", "default"

    def point(self, site: str, name: str, inferred: Mapping[str, str] | None = None) -> PointInfo:
        """Everything known of one point (a point without a snapshot row: tags empty)."""
        tags, interval = self._snapshot(site).tags.get(name, (PointTags(), None))
        mode, source = self._mode(site, name, tags, inferred)
        return PointInfo(name, tags.unit, tags.kind, tags.equipment, interval, mode, source)

    def points(self, site: str, names: list[str]) -> dict[str, PointInfo]:
        """:meth:`point` for many names (the inferred modes looked up once)."""
        inferred = self.inferred_modes(site) if self.inferred_modes else {}
        return {name: self.point(site, name, inferred) for name in names}

    def modes(self, site: str, names: list[str]) -> list[tuple[str, str]]:
        """(mode, source) per point, in order (the plan's view of :meth:`points`).

        Every plan asks this, cache hits included, so it computes only the modes (not
        units, kinds and equipment) and takes the data's inferred modes from a copy
        re-read at most every ``SNAPSHOT_TTL_S``, as the snapshot itself is.
        """
        tags_of = self._snapshot(site).tags
        inferred = self._inferred(site)
        untagged = (PointTags(), None)
        return [self._mode(site, name, tags_of.get(name, untagged)[0], inferred) for name in names]

    def _inferred(self, site: str) -> Mapping[str, str]:
        """The modes the newest quality day inferred, kept ``SNAPSHOT_TTL_S`` per site."""
        if self.inferred_modes is None:
            return {}
        with self._lock:
            held = self._inferred_at.get(site)
        if held is not None and time.monotonic() - held[0] < SNAPSHOT_TTL_S:
            return held[1]
        found = self.inferred_modes(site)
        with self._lock:
            if held is None or held[1] != found:
                self._epoch += 1
            self._inferred_at[site] = (time.monotonic(), found)
        return found

    def _mode(
        self, site: str, name: str, tags: PointTags, inferred: Mapping[str, str] | None
    ) -> tuple[str, str]:
        configured = self.overrides.history_mode(site, name)
        if configured:
            return configured, "config"
        tagged = tags.history_mode()
        if tagged:
            return tagged, "tags"
        if inferred is None and self.inferred_modes is not None:
            inferred = self.inferred_modes(site)
        found = (inferred or {}).get(name)
        if found:
            return found, "data"
        return "sampled", "default"


def _parse(raw: bytes) -> _Snapshot:
    try:
        body = json.loads(raw)
    except ValueError:
        return _Snapshot(None, {})
    if not isinstance(body, dict):
        return _Snapshot(None, {})
    zone = body.get("timezone")
    tags: dict[str, tuple[PointTags, int | None]] = {}
    for row in body.get("points") or []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        markers: Any = row.get("marker_tags") or []
        kv: Any = row.get("kv_tags") or {}
        units: Any = row.get("object_units")
        interval: Any = row.get("collect_interval")
        tags[row["name"]] = (
            PointTags(
                tuple(m for m in markers if isinstance(m, str))
                if isinstance(markers, list)
                else (),
                {k: v for k, v in kv.items() if isinstance(v, str)} if isinstance(kv, dict) else {},
                units if isinstance(units, str) else None,
            ),
            interval if isinstance(interval, int) and not isinstance(interval, bool) else None,
        )
    return _Snapshot(zone if isinstance(zone, str) and zone else None, tags)


def default_facts(cold: object, overrides: SiteOverrides | None = None) -> SiteFacts | None:
    """Facts from a cold store that can read the snapshot (a real ColdStore), else none.

    History modes the data suggests come from the newest ``point_quality`` day.
    """
    if hasattr(cold, "identities") and hasattr(cold, "get_bytes"):
        from vitals.quality.summary import latest_inferred_modes

        reader: Any = cold
        return SiteFacts(
            reader, overrides, inferred_modes=lambda site: latest_inferred_modes(reader, site)
        )
    return None
