"""The hot store as a Dagster resource: its URL as config, everything else in the library.

The store itself is :class:`vitals.hot.store.HotStore`; this resource holds the URL
(bound as ``dg.EnvVar`` when it carries a password), keeps it out of reprs, and hands
each call to one HotStore built on first use.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import PrivateAttr

from vitals.config import DEFAULT_HOT_STORAGE_DAYS
from vitals.hot.base import AcePointLike, ArchiveRecord, PointRecord, UpsertResult
from vitals.hot.store import HotStore
from vitals.redact import redact_url


def resolved_setting(value: str, field: str) -> str:
    """The value behind a field bound as ``dg.EnvVar`` when the resource is used directly.

    Inside a run Dagster resolves the variable; called outside Dagster (the CLI, the
    HTTP API, tests) the field still holds the variable's name, which must never be
    taken for the value (a SQLite file called ``VITALS_HOT_STORE``).
    """
    if not isinstance(value, dg.EnvVar):
        return value
    resolved = value.get_value()
    if not resolved:
        raise ValueError(f"{field} is bound to ${value.env_var_name}, which is not set")
    return resolved


class HotStoreResource(dg.ConfigurableResource["HotStoreResource"]):
    """Recent samples per site in SQL (SQLite file or PostgreSQL), one interface."""

    url: str  # may hold a password: bind as dg.EnvVar("VITALS_HOT_STORE")
    # The one archive threshold (HOT_STORAGE_DAYS, read once by vitals.config and bound
    # here): days that ended more than this long ago leave the hot store.
    hot_storage_days: int = DEFAULT_HOT_STORAGE_DAYS

    _hot_store: HotStore | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Never show the URL's password (reprs end up in logs and tracebacks)."""
        for name, value in super().__repr_args__():
            masked = name == "url" and isinstance(value, str) and not isinstance(value, dg.EnvVar)
            yield name, (redact_url(value) if masked else value)

    @property
    def store(self) -> HotStore:
        """The library store behind this resource, for code that takes a HotStore."""
        if self._hot_store is None:
            self._hot_store = HotStore(resolved_setting(self.url, "hot store url"))
        return self._hot_store

    def schema_version(self) -> int:
        """See :meth:`HotStore.schema_version`."""
        return self.store.schema_version()

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """See :meth:`HotStore.upsert_points`."""
        return self.store.upsert_points(site, points)

    def list_sites(self) -> list[str]:
        """See :meth:`HotStore.list_sites`."""
        return self.store.list_sites()

    def list_points(
        self, site: str, q: str | None = None, limit: int | None = None
    ) -> list[PointRecord]:
        """See :meth:`HotStore.list_points`."""
        return self.store.list_points(site, q, limit)

    def resolve_points(self, site: str, names: Sequence[str]) -> list[PointRecord]:
        """See :meth:`HotStore.resolve_points`."""
        return self.store.resolve_points(site, names)

    @property
    def is_local(self) -> bool:
        """See :attr:`HotStore.is_local`."""
        return self.store.is_local

    def catalogue_token(self) -> Hashable | None:
        """See :meth:`HotStore.catalogue_token`."""
        return self.store.catalogue_token()

    def warm_catalogue_probe(self) -> None:
        """See :meth:`HotStore.warm_catalogue_probe`."""
        self.store.warm_catalogue_probe()

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """See :meth:`HotStore.upsert_samples`."""
        return self.store.upsert_samples(site, samples)

    def read_samples(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        point_names: Sequence[str] | None = None,
    ) -> pa.Table:
        """See :meth:`HotStore.read_samples`."""
        return self.store.read_samples(site, start_ms, end_ms, point_names)

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """See :meth:`HotStore.count_samples`."""
        return self.store.count_samples(site, start_ms, end_ms)

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """See :meth:`HotStore.delete_samples`."""
        return self.store.delete_samples(site, start_ms, end_ms)

    def days_with_samples(self, site: str, before_ms: int) -> list[date]:
        """See :meth:`HotStore.days_with_samples`."""
        return self.store.days_with_samples(site, before_ms)

    def latest_sample_ms(self, site: str) -> int | None:
        """See :meth:`HotStore.latest_sample_ms`."""
        return self.store.latest_sample_ms(site)

    def get_watermark(self, site: str) -> int | None:
        """See :meth:`HotStore.get_watermark`."""
        return self.store.get_watermark(site)

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """See :meth:`HotStore.set_watermark`."""
        self.store.set_watermark(site, ts_ms)

    def record_archive(self, site: str, day: date, *, rows: int, checksum: str, key: str) -> None:
        """See :meth:`HotStore.record_archive`."""
        self.store.record_archive(site, day, rows=rows, checksum=checksum, key=key)

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """See :meth:`HotStore.get_archive`."""
        return self.store.get_archive(site, day)
