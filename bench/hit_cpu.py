"""In-process CPU per cached chart answer (a response-cache hit), through the whole ASGI app.

    .venv/bin/python bench/hit_cpu.py --data-dir DIR [--requests 300] [--rounds 10]
        [--code-tree PATH]

Builds the app as ``vitals serve`` does, fills its response cache with the dashboard
mix of ``bench/api_load.py`` (its ``make_request``, point searches left out), then
answers the same requests again ``--rounds`` times by calling the ASGI app directly:
middleware, routing, parameter parsing, planning (name resolution), cache look-up,
metrics and the response, without sockets or uvicorn's HTTP parsing. Time is
``time.process_time``, so the figure does not depend on what else the machine runs.
``--code-tree`` measures another checkout on the same data and requests (a ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--code-tree", type=Path, default=HERE)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE / "bench"))
    from code_tree import load_vitals_from, point_at_site

    point_at_site(args.data_dir)
    from api_load import data_anchor, make_request, make_workload

    load_vitals_from(args.code_tree)
    from vitals.api.app import create_app
    from vitals.config import load_settings

    app = create_app(load_settings(), allow_anonymous=True)
    state = app.state.vitals
    site, today, hot_days = data_anchor(args.data_dir)
    names = [p.name for p in state.hot_store.list_points(site, None, 10_000)]
    load = make_workload(names, site, hot_days, seed=7, unique=False, today=today)
    rng = random.Random(args.seed)
    requests: list[tuple[str, bytes]] = []
    while len(requests) < args.requests:
        kind, path, params = make_request(rng, load)
        if kind == "point-search":
            continue
        pairs = [
            (k, str(i)) for k, v in params.items() for i in (v if isinstance(v, list) else [v])
        ]
        requests.append((path, urllib.parse.urlencode(pairs).encode()))

    async def call(path: str, query: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", b"gzip")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def run() -> list[float]:
        for path, query in requests:  # fill the cache (these are the misses)
            status = await call(path, query)
            if status != 200:
                raise SystemExit(f"{path}?{query.decode()[:120]} answered {status}")
        per_round: list[float] = []
        for _ in range(args.rounds):
            began = time.process_time()
            for path, query in requests:
                await call(path, query)
            per_round.append((time.process_time() - began) / len(requests) * 1e6)
        return per_round

    per_round = asyncio.run(run())
    hits = state.metrics.cache_hits._value.get()
    print(f"load average: {os.getloadavg()}")
    print(f"answers: {len(requests)} x {args.rounds} rounds, cache hits counted: {hits:.0f}")
    print(
        f"CPU per cached answer: median {statistics.median(per_round):.0f} us "
        f"(rounds: {', '.join(f'{v:.0f}' for v in per_round)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
