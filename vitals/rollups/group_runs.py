"""Where each point's rows lie in a rollup row group, learned once per file version.

Why: a month file's 1 h group holds ~12 points; to cut one point's rows by position
(:mod:`vitals.rollups.sorted_slices`) a read decoded the group's ``point_name`` column
and run-length encoded its codes every time: ~0.2 ms of a ~0.8 ms read of 3 points (the
names are a quarter of the columns decoded). A group's run layout (names of its runs in
row order, and where each run ends) is a few hundred bytes and never changes for one file
version, so it is kept: a later read of any point of that group decodes no names.

The key is (path, mtime_ns, size, group), the footer cache's version key, so a
rewritten file's groups are learned anew. A layout is only ever taken from decoding that
exact group, so a kept one says what a decode would.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cachetools import LRUCache

# names of the runs in row order, and each run's end (exclusive) within the group
GroupRuns = tuple[tuple[str, ...], tuple[int, ...]]
GroupKey = tuple[str, int, int, int]  # (path, mtime_ns, size, group)
# ~1,230 groups a month file (15 min, 1 h, 1 d), ~750 bytes a kept layout (12 runs):
# 30,000 hold two site-years of month files in ~22 MB
RUN_CACHE_GROUPS = 30_000


def group_runs(chunk: pa.Array[Any]) -> GroupRuns | None:
    """The run layout of one group's ``point_name`` chunk; ``None`` if not one dictionary.

    A chunk with nulls has no layout (the caller takes the generic read).
    """
    if not isinstance(chunk, pa.DictionaryArray) or chunk.null_count:
        return None
    dictionary = [sys.intern(str(name)) for name in chunk.dictionary.to_pylist()]
    if len(chunk) == 0:
        return (), ()
    if len(dictionary) == 1:
        return (dictionary[0],), (len(chunk),)
    encoded = pc.run_end_encode(chunk.indices)  # type: ignore[attr-defined]  # not in pyarrow-stubs
    codes: list[int] = encoded.values.to_pylist()
    ends: list[int] = encoded.run_ends.to_pylist()
    return tuple(dictionary[code] for code in codes), tuple(ends)


class _RunCache:
    """Process-wide LRU of group run layouts (thread-safe: reads run in a pool)."""

    def __init__(self, groups: int) -> None:
        self._layouts: LRUCache[GroupKey, GroupRuns] = LRUCache(maxsize=groups)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_all(
        self, version: tuple[str, int, int], groups: Sequence[int]
    ) -> list[GroupRuns] | None:
        """Layouts of all ``groups`` of one file version, or ``None`` unless all are kept."""
        found: list[GroupRuns] = []
        with self._lock:
            for group in groups:
                layout = self._layouts.get((*version, group))
                if layout is None:
                    self.misses += 1
                    return None
                found.append(layout)
            self.hits += 1
        return found

    def put(self, version: tuple[str, int, int], group: int, layout: GroupRuns) -> None:
        """Keep one group's layout."""
        with self._lock:
            self._layouts[(*version, group)] = layout

    def clear(self) -> None:
        """Forget every layout and reset the counters."""
        with self._lock:
            self._layouts.clear()
            self.hits = self.misses = 0


GROUP_RUNS = _RunCache(RUN_CACHE_GROUPS)
