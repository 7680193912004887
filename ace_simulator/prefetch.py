"""Build the next export page while the client is still reading the current one.

A client paging through a window asks for the page at ``next_cursor`` right after the
previous one, so rendering it in the background overlaps generation with transfer and
the client's own parsing. Pages are pure functions of their request, so a prefetched
page is byte-identical to one built on demand; only fault-free pages are prefetched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
MAX_PENDING = 4


class PagePrefetcher:
    """A few pages rendered ahead, keyed by their request; unused ones are evicted oldest first."""

    def __init__(self, *, max_pending: int = MAX_PENDING) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ace-sim-prefetch")
        self._pending: OrderedDict[Hashable, Future[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_pending
        self.hits = 0

    def schedule(self, key: Hashable, build: Callable[[], T]) -> None:
        """Start building the answer for ``key`` unless it is already pending."""
        with self._lock:
            if key in self._pending:
                return
            self._pending[key] = self._pool.submit(build)
            while len(self._pending) > self._max:
                _, stale = self._pending.popitem(last=False)
                stale.cancel()

    def take(self, key: Hashable) -> T | None:
        """The prefetched answer for ``key`` (waiting for it if still building), or None."""
        with self._lock:
            future = self._pending.pop(key, None)
        if future is None or future.cancelled():
            return None
        try:
            result: T = future.result()
        except Exception:
            return None
        self.hits += 1
        return result

    def close(self) -> None:
        with self._lock:
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
