"""The simulated estate (sites, points, sample generator) and its public test helpers.

``Building`` is what the HTTP server serves and what tests compare against:
``expected_samples`` returns exactly the samples a fault-free paginated export of a
window would hold, so a test can check that what landed equals what was served.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

from ace_simulator.catalog import SimPoint, SimSite, build_site, site_names
from ace_simulator.export import Chunk, SiteExport
from ace_simulator.render import chunk_table

DEFAULT_SEED = 20251012
DEFAULT_POINTS = 4600
EXPECTED_PAGE = 500_000


@dataclass(frozen=True)
class BuildingConfig:
    """Everything that determines the simulated data."""

    seed: int = DEFAULT_SEED
    sites: int = 1
    points: int = DEFAULT_POINTS
    interval: int | None = None  # every point reports at this many seconds (None: mixed)

    def __post_init__(self) -> None:
        if self.sites < 1:
            raise ValueError(f"sites={self.sites} must be at least 1")
        if self.points < 1:
            raise ValueError(f"points={self.points} must be at least 1")
        if self.interval is not None and not 1 <= self.interval <= 86_400:
            raise ValueError(f"interval={self.interval} must be between 1 and 86400 seconds")


@dataclass
class Building:
    """Sites, their point catalogues and sample generators, built lazily per site."""

    config: BuildingConfig = field(default_factory=BuildingConfig)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @cached_property
    def sites(self) -> dict[str, SimSite]:
        cfg = self.config
        return {
            name: build_site(i, name, seed=cfg.seed, points=cfg.points, interval=cfg.interval)
            for i, name in enumerate(site_names(cfg.sites))
        }

    @cached_property
    def _exports(self) -> dict[str, SiteExport]:
        return {}

    @cached_property
    def points_by_name(self) -> dict[str, tuple[str, int]]:
        """Point name -> (site, point index) over all sites, case twins included."""
        return {p.name: (s.name, p.index) for s in self.sites.values() for p in s.points}

    def site(self, name: str) -> SimSite:
        """The site called ``name``; KeyError names the site when there is none."""
        try:
            return self.sites[name]
        except KeyError:
            raise KeyError(f"site {name!r} not found") from None

    def export(self, site: str) -> SiteExport:
        """The site's sample generator (its templates are built on first use)."""
        with self._lock:  # server threads may ask for the same site at once
            if site not in self._exports:
                self._exports[site] = SiteExport(self.site(site))
            return self._exports[site]

    def listed_points(
        self, site: str, *, configured_only: bool, twin: bool = False
    ) -> list[SimPoint]:
        """Points as ``/points`` (all) or ``/configured_points`` (collect-enabled) list them."""
        return [
            p
            for p in self.site(site).points
            if (twin or not p.case_twin) and (p.collect_enabled or not configured_only)
        ]

    def expected_chunk(
        self, site: str, start_us: int, end_us: int, *, raw: bool = True, twin: bool = False
    ) -> Chunk:
        """Every sample a fault-free paginated export of ``[start_us, end_us)`` serves, in order."""
        export = self.export(site)
        chunks: list[Chunk] = []
        cursor: str | None = None
        while True:
            page = export.page(start_us, end_us, EXPECTED_PAGE, raw=raw, cursor=cursor, twin=twin)
            chunks.append(page.chunk)
            if page.next_cursor is None:
                return Chunk.concat(chunks)
            cursor = page.next_cursor

    def expected_samples(
        self, site: str, start_ms: int, end_ms: int, *, raw: bool = True, twin: bool = False
    ) -> pa.Table:
        """The samples served for a site window ``[start_ms, end_ms)``, in served order.

        Columns: ``name`` (as sent), ``time`` and ``value_text`` (wire text), ``ts_ms``
        (epoch ms, truncated), ``value`` (float64; binaries as 0/1), ``configured``
        (whether the point is collect-enabled; the export also carries a few that are not).
        """
        chunk = self.expected_chunk(site, start_ms * 1000, end_ms * 1000, raw=raw, twin=twin)
        export = self.export(site)
        table = chunk_table(export.signals, chunk)
        configured = pa.array([p.collect_enabled for p in export.site.points])
        ts_ms = pc.divide(table["ts_us"], 1000)
        return pa.table(
            {
                "name": table["name"],
                "time": table["time"],
                "value_text": table["value_text"],
                "ts_ms": ts_ms,
                "value": table["value"],
                "configured": pc.take(configured, chunk.pidx),
            }
        )


def expected_samples(
    site: str,
    start_ms: int,
    end_ms: int,
    *,
    seed: int = DEFAULT_SEED,
    sites: int = 1,
    points: int = DEFAULT_POINTS,
    interval: int | None = None,
    raw: bool = True,
) -> pa.Table:
    """Samples a simulator built with these settings serves for ``[start_ms, end_ms)``."""
    building = Building(BuildingConfig(seed=seed, sites=sites, points=points, interval=interval))
    return building.expected_samples(site, start_ms, end_ms, raw=raw)
