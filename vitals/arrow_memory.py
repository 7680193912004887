"""Which allocator Arrow uses in Vitals processes, and why.

pyarrow's default on Linux is mimalloc, which hands freed pages back to the OS after
~10 ms. Archival and queries allocate and free buffers of hundreds of MB in quick
succession (a full-load site-day is 6.6 M rows, ~350 MB of names alone), so every
step paid page faults again: measured on one site-day's archive, 3.3 s with mimalloc's
defaults against 2.3 s with jemalloc (Arrow's other bundled allocator, which keeps freed
pages for reuse for a while). ``ARROW_DEFAULT_MEMORY_POOL`` set by the operator wins.
"""

from __future__ import annotations

import os

import pyarrow as pa


def configure_arrow_memory() -> str:
    """Make jemalloc Arrow's default pool unless the operator chose one.

    Returns:
        The name of the memory pool backend in use afterwards.
    """
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except (NotImplementedError, pa.ArrowNotImplementedError):
            pass  # a pyarrow build without jemalloc: keep its default
    return pa.default_memory_pool().backend_name
