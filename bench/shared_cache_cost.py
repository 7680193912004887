"""CPU cost of a shared response-cache hit against an in-memory one (and of a shared put).

    .venv/bin/python bench/shared_cache_cost.py [--rounds 2000]

Real SQLite (WAL) file in a temporary folder, bodies of typical answer sizes (a hot day
raw for a few points ~30 kB, a week at 5 min ~200 kB, a year at 1 h ~1 MB, each with a
gzip body of a ninth). Reports ``time.process_time`` per operation (CPU, so figures hold
on a loaded machine), the in-memory hit being ``ResponseCache.get``. A shared hit in the
API also costs one worker-thread hop (``asyncio.to_thread``), measured separately.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vitals.api.cache import CachedResponse, ResponseCache
from vitals.api.shared_cache import SharedCache

KEYS = 50  # distinct entries per size, so reads are not all one row
SIZES = {"30 kB": 30_000, "200 kB": 200_000, "1 MB": 1_000_000}


def per_op_us(func, rounds: int) -> float:
    began = time.process_time()
    for i in range(rounds):
        func(i)
    return (time.process_time() - began) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "api-responses.sqlite"
        writer = SharedCache(path, generation="bench")
        reader = SharedCache(path, generation="bench")  # another worker's handle
        print(f"{'body':<8}{'memory hit us':>15}{'shared hit us':>15}{'shared put us':>15}")
        for label, size in SIZES.items():
            value = CachedResponse(
                os.urandom(size), "application/json", 1, ("cold",), os.urandom(size // 9)
            )
            memory = ResponseCache()
            memory.put("k", value, 3600)
            put_us = per_op_us(
                lambda i, label=label, value=value: writer.put(
                    f"{label}-{i % KEYS}", value, time.time() + 3600
                ),
                rounds // 4,
            )
            hit_us = per_op_us(lambda i, label=label: reader.get(f"{label}-{i % KEYS}"), rounds)
            mem_us = per_op_us(lambda i, memory=memory: memory.get("k"), rounds * 10)
            print(f"{label:<8}{mem_us:>15.2f}{hit_us:>15.1f}{put_us:>15.1f}")
        claim_us = per_op_us(lambda i: writer.claim(f"claim-{i}"), rounds)
        release_us = per_op_us(lambda i: writer.release(f"claim-{i}"), rounds)
        print(f"claim of a missed key: {claim_us:.1f} us; release: {release_us:.1f} us")
        assert reader.stats.errors == 0 and writer.stats.errors == 0

        async def hops() -> float:
            began = time.process_time()
            for _ in range(rounds):
                await asyncio.to_thread(int)
            return (time.process_time() - began) / rounds * 1e6

        print(f"worker-thread hop (asyncio.to_thread): {asyncio.run(hops()):.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
