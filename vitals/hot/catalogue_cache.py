"""Per-site point catalogues held in memory while the store says they are unchanged.

Every chart request resolves its point names (``HotStore.resolve_points``), cache hits
included, because the response cache is keyed by stored names (case twins are distinct
points). One SQL round trip per request cost ~0.7 ms of CPU through ADBC and was 40% of
a cached answer's server time. A backend that can tell cheaply whether its catalogue may
have changed (:meth:`vitals.hot.base.HotBackend.catalogue_version`: SQLite's
``PRAGMA data_version``, ~20 us) lets names resolve against a snapshot of the site's
points instead; a backend that cannot (``None``) is asked every time, as before.

A snapshot is taken *after* reading the version it is filed under, so a write landing
in between leaves a snapshot newer than its version: the next call sees a new version
and reloads. Nothing stale is ever served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from vitals.hot.base import PointRecord

# Sites whose catalogues stay in memory (4,600 points take ~1.5 MB); the least recently
# resolved beyond this are dropped and reloaded on their next request.
MAX_SITES = 64


@dataclass(frozen=True)
class SiteCatalogue:
    """A site's points grouped by folded name, each group in name order (as SQL gives)."""

    version: Hashable
    by_folded: dict[str, tuple[PointRecord, ...]]

    def matches(self, folded: Sequence[str]) -> dict[str, list[PointRecord]]:
        """The points of each folded name asked (absent when none), like ``points_by_folded``."""
        return {f: list(self.by_folded[f]) for f in folded if f in self.by_folded}


def snapshot(version: Hashable, records: Sequence[PointRecord]) -> SiteCatalogue:
    """A :class:`SiteCatalogue` of ``records`` (sorted by name, as ``list_points`` returns)."""
    groups: dict[str, list[PointRecord]] = {}
    for record in records:
        groups.setdefault(record.folded, []).append(record)
    return SiteCatalogue(version, {f: tuple(group) for f, group in groups.items()})


class CatalogueCache:
    """Site -> :class:`SiteCatalogue`, reloaded whenever the store's version moves."""

    def __init__(self, max_sites: int = MAX_SITES) -> None:
        self.max_sites = max_sites
        self._sites: OrderedDict[str, SiteCatalogue] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # snapshots taken (tests and metrics read it)

    def site(
        self, site: str, version: Hashable, load: Callable[[], Sequence[PointRecord]]
    ) -> SiteCatalogue:
        """The site's snapshot at ``version``, loaded with ``load`` when missing or older."""
        with self._lock:
            held = self._sites.get(site)
            if held is not None and held.version == version:
                self._sites.move_to_end(site)
                return held
        fresh = snapshot(version, load())  # outside the lock: other sites keep resolving
        with self._lock:
            self.loads += 1
            self._sites[site] = fresh
            self._sites.move_to_end(site)
            while len(self._sites) > self.max_sites:
                self._sites.popitem(last=False)
        return fresh
