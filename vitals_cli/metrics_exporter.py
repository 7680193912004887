"""``vitals metrics-exporter``: the pipeline's Prometheus figures, read from DAGSTER_HOME.

The query API serves its own ``/metrics``; this serves the pipeline's (ACE pulls, the
hot store, archival, backfills), read from the Dagster instance that records them
(vitals_cli/pipeline_metrics.py says why that survives restarts).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from vitals_cli.pipeline_metrics import PipelineCollector, pipeline_registry

DEFAULT_PORT = 9466


def serve_pipeline_metrics(
    collector: PipelineCollector, host: str, port: int
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` of ``collector`` on a background thread (``port=0``: any)."""
    return start_http_server(port, addr=host, registry=pipeline_registry(collector))


def main(argv: list[str]) -> int:
    """Read the instance's history, then serve ``/metrics`` until interrupted."""
    import dagster as dg

    from vitals.config import load_settings
    from vitals.hot.store import HotStore

    parser = argparse.ArgumentParser(prog="vitals metrics-exporter")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--hot-store-every",
        type=float,
        default=60.0,
        help="seconds between hot-store row counts (default 60)",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        raise RuntimeError("DAGSTER_HOME is not set: point it at the Dagster instance to read")
    settings = load_settings()
    collector = PipelineCollector(
        dg.DagsterInstance.get(),
        hot_store=HotStore(settings.hot_store),
        hot_storage_days=settings.hot_storage_days,
        hot_store_every_s=args.hot_store_every,
    )
    began = time.monotonic()
    # Counters are totals over the instance's history: read it all before the first
    # scrape, so Prometheus never sees them climb from zero (a false rate spike).
    read = collector.catch_up()
    print(f"read {read} materialisations in {time.monotonic() - began:.1f} s", flush=True)
    server, thread = serve_pipeline_metrics(collector, args.host, args.port)
    print(f"serving http://{args.host}:{server.server_port}/metrics (Ctrl-C stops)", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0
