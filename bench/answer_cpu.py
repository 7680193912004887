"""In-process CPU per uncached chart answer of the ``api_load.py --unique`` mix, by kind.

    .venv/bin/python bench/answer_cpu.py --data-dir DIR [--requests 200] [--seed 11]
        [--code-tree PATH]

Runs what the API runs for a ``/v1/timeseries`` cache miss (parameters parsed by
``vitals.api.params``, ``engine.plan``, ``engine.execute``, JSON rendering, gzip level 1),
without HTTP and without the response cache, over the same random requests
``bench/api_load.py`` makes (its ``make_request``; point search and the legacy endpoint
are skipped). Time is ``time.process_time`` (every thread of the process: the read pool
too), so it is a load-independent figure on a shared machine.

``--code-tree`` measures another checkout of Vitals (e.g. a ``git worktree`` of the
starting commit) on the same data and requests: run both in one session for a ratio.
``--baseline-data-dir`` answers every request over two data folders of the same site
(e.g. month files written with other row groups) in one process, back to back in
alternating order, and prints the paired ratio: on a machine whose speed drifts by a
quarter between minutes, only pairs taken milliseconds apart compare two layouts.
A warm-up pass of other requests first parses the footers, as a running server has.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
CHARTS = ("hot-day-raw", "week-5m", "year-1h", "cross-tier-15m")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--code-tree", type=Path, default=HERE)
    parser.add_argument(
        "--baseline-data-dir",
        type=Path,
        default=None,
        help="a second data folder of the same site: each request is answered over both",
    )
    parser.add_argument(
        "--kinds",
        default=",".join(CHARTS),
        help="comma-separated chart kinds to measure (e.g. year-1h, to profile one kind)",
    )
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(CHARTS))
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {unknown or 'none given'}; choose from {', '.join(CHARTS)}")
    sys.path.insert(0, str(HERE / "bench"))
    from code_tree import load_vitals_from, point_at_site

    point_at_site(args.data_dir)
    from api_load import data_anchor, make_request, make_workload

    load_vitals_from(args.code_tree)
    from vitals.api.app import create_app
    from vitals.api.params import query_from_params
    from vitals.api.render import render
    from vitals.api.service import gzip_if_worth
    from vitals.arrow_memory import configure_arrow_memory
    from vitals.config import load_settings
    from vitals.rollups.month import warm_month_files

    site, today, hot_days = data_anchor(args.data_dir)
    state = create_app(load_settings()).state.vitals
    names = [p.name for p in state.hot_store.list_points(site, None, 10_000)]
    warm_month_files(state.cold_store)  # as the server's start-up does
    engines = {"data": state.engine}
    if args.baseline_data_dir is not None:
        if data_anchor(args.baseline_data_dir) != (site, today, hot_days):
            parser.error("--baseline-data-dir must hold the same site, days and hot days")
        point_at_site(args.baseline_data_dir)
        baseline = create_app(load_settings()).state.vitals
        warm_month_files(baseline.cold_store)
        engines["baseline"] = baseline.engine
    # ditto: the app's lifespan sets Arrow's pool (jemalloc) where the tree's server does
    # (older trees' servers did not: their figures are mimalloc's, unless
    # ARROW_DEFAULT_MEMORY_POOL is set for both runs)
    if hasattr(sys.modules["vitals.api.app"], "configure_arrow_memory"):
        configure_arrow_memory()

    def answer(path: str, params: dict, engine: Any = state.engine) -> tuple[int, int]:
        pairs = [
            (k, str(item))
            for k, v in params.items()
            for item in (v if isinstance(v, list) else [v])
        ]
        query = query_from_params(pairs, None)
        plan = engine.plan(
            query.site,
            list(query.points),
            query.start_ms,
            query.end_ms,
            interval=query.interval,
            aggs=query.aggs,
            fill=query.fill,
            max_gap_ms=query.max_gap_ms,
            tz=query.tz,
            max_points=query.max_points,
            unit=query.unit,
            quality=query.quality,
        )
        result = engine.execute(plan)
        body, _media = render(result, plan.points, query.format)
        packed = gzip_if_worth(body)
        return len(packed if packed is not None else body), hash(body)

    def requests(seed: int, count: int) -> list[tuple[str, str, dict]]:
        load = make_workload(names, site, hot_days, seed=seed, unique=True, today=today)
        rng = random.Random(seed)
        out: list[tuple[str, str, dict]] = []
        while len(out) < count:
            kind, path, params = make_request(rng, load)
            if kind in kinds:
                out.append((kind, path, params))
        return out

    for _kind, path, params in requests(args.seed + 1000, args.warm_up):  # of the same kinds
        for engine in engines.values():
            answer(path, params, engine)
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    base_cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    sizes: dict[str, tuple[int, int]] = {}  # (bytes sent, hash of the body)
    for number, (kind, path, params) in enumerate(requests(args.seed, args.requests)):
        order = list(engines.items()) if number % 2 == 0 else list(engines.items())[::-1]
        for label, engine in order:
            began = time.process_time()
            sizes[label] = answer(path, params, engine)
            (cpu if label == "data" else base_cpu)[kind].append(
                (time.process_time() - began) * 1000
            )
        if len(set(sizes.values())) > 1:
            raise SystemExit(f"{kind} {params}: the two data folders gave different answers")
    print(f"load average: {os.getloadavg()}")
    if args.baseline_data_dir is not None:
        print(f"{'kind':16} {'n':>4} {'data ms':>8} {'base ms':>8} {'ratio':>6} {'paired':>7}")
        for kind in kinds:
            new, old = cpu[kind], base_cpu[kind]
            if new:
                paired = statistics.median(n / o for n, o in zip(new, old, strict=True) if o)
                print(
                    f"{kind:16} {len(new):4d} {statistics.fmean(new):8.1f} "
                    f"{statistics.fmean(old):8.1f} {statistics.fmean(new) / statistics.fmean(old):6.2f} "
                    f"{paired:7.2f}"
                )
        print("(ratio: of the means, data / baseline; paired: median of per-request ratios)")
    print(f"{'kind':16} {'n':>4} {'mean ms':>8} {'p50 ms':>8}")
    for kind in kinds:
        values = cpu[kind]
        if values:
            print(
                f"{kind:16} {len(values):4d} {statistics.fmean(values):8.1f} "
                f"{statistics.median(values):8.1f}"
            )
    # the --unique mix's weights of these kinds (30/20/15/15 of 80 chart answers)
    weights = {"hot-day-raw": 30, "week-5m": 20, "year-1h": 15, "cross-tier-15m": 15}
    mix = sum(weights[k] * statistics.fmean(v) for k, v in cpu.items() if v) / sum(
        weights[k] for k, v in cpu.items() if v
    )
    print(f"{'chart mix (weighted mean)':26} {mix:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
