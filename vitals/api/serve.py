"""``vitals serve [--host 127.0.0.1] [--port N] [--workers N] [--shared-cache auto|on|off]``: the query API.

Refuses to listen on a non-loopback address when ``VITALS_API_KEYS`` is empty, unless
``--insecure-no-auth`` says so explicitly (then every client is served without a key).
A connection whose request headers do not arrive within ``--header-timeout`` seconds
is answered 408 and closed (uvicorn alone would keep it open for ever).
With more than one worker (or ``--shared-cache on``) the workers share a response cache
file in the data folder (:mod:`vitals.api.shared_cache`), stamped with this run's
generation so no answer cached by an earlier run is served.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vitals.api.auth import is_loopback
from vitals.api.balance import SHARES_ENV
from vitals.api.cache import DEFAULT_HOT_TTL_S
from vitals.api.header_timeout import DEFAULT_HEADER_TIMEOUT_S, PROTOCOL_PATH
from vitals.api.shared_cache import DEFAULT_SHARED_MAX_BYTES, SharedCache, default_path
from vitals.cold.point_reads import READ_THREADS_ENV
from vitals.config import Settings, load_settings

if TYPE_CHECKING:
    from vitals.api.redis_cache import RedisSharedCache

DEFAULT_HOST = "127.0.0.1"
# --engine-slots handed to worker processes (they build their app from the environment)
ENGINE_SLOTS_ENV = "VITALS_SERVE_ENGINE_SLOTS"
HOT_TTL_ENV = "VITALS_SERVE_HOT_TTL_S"
# the shared response cache handed to workers: file, this run's generation, bound
SHARED_CACHE_ENV = "VITALS_SERVE_SHARED_CACHE"
SHARED_GENERATION_ENV = "VITALS_SERVE_SHARED_CACHE_GENERATION"
SHARED_MAX_BYTES_ENV = "VITALS_SERVE_SHARED_CACHE_MAX_BYTES"
DEFAULT_PORT = 8080
# Longer than clients' keep-alive (httpx and browsers: 5 s or less), so the server does not
# close an idle connection at the moment a client reuses it.
KEEP_ALIVE_S = 30


def per_core_share(workers: int, cores: int | None = None) -> int:
    """Cores / workers, at least 1: each worker's engine slots and cold-read threads.

    Measured on 2 cores, 100 clients of the unique mix (docs/benchmarks.md): 1 worker
    with 2 slots served 86 requests/s at 12.7 ms of CPU each, against 80/s and 15.2 ms
    with 4 (more queries at once only share the cores, and each one runs longer); 2
    workers with 1 slot each 90/s at 15.1 ms against 78/s and 17.8 ms with 4.
    """
    if cores is None:  # the cores this process may run on (a container's share, not the host's)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    available = cores or os.cpu_count() or 1
    return max(1, available // max(1, workers))


def build_parser() -> argparse.ArgumentParser:
    """The ``vitals serve`` command line."""
    parser = argparse.ArgumentParser(prog="vitals serve", description="Run the Vitals query API.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve every client without an API key when VITALS_API_KEYS is empty",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (and, by default, one response cache "
        "file: --shared-cache); default 1",
    )
    parser.add_argument(
        "--shared-cache",
        choices=["auto", "on", "off"],
        default="auto",
        help="response cache shared by the workers (SQLite file in the data folder) behind "
        "each worker's in-memory one; auto = on with more than one worker",
    )
    parser.add_argument(
        "--shared-cache-mb",
        type=int,
        default=DEFAULT_SHARED_MAX_BYTES // (1024 * 1024),
        help="bound of the shared response cache in MB, least recently used evicted "
        f"(default {DEFAULT_SHARED_MAX_BYTES // (1024 * 1024)})",
    )
    parser.add_argument(
        "--hot-ttl",
        type=float,
        default=DEFAULT_HOT_TTL_S,
        help="seconds an answer reaching into the hot window stays cached "
        f"(default {DEFAULT_HOT_TTL_S:g})",
    )
    parser.add_argument(
        "--engine-slots",
        type=int,
        default=None,
        help="most engine queries run at once per worker (default: CPU cores / workers, "
        "at least 1)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        help="seconds a client has to send its request headers "
        f"(default {DEFAULT_HEADER_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def auth_problem(host: str, has_keys: bool, insecure_no_auth: bool) -> str | None:
    """Why this bind must be refused, or ``None`` when it is safe (or explicitly insecure)."""
    if has_keys or insecure_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host!r} without API keys: set VITALS_API_KEYS, bind 127.0.0.1, "
        "or pass --insecure-no-auth"
    )


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
    **options: Any,
) -> Any:
    """A uvicorn config whose HTTP protocol bounds the time to receive request headers."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        http=PROTOCOL_PATH,
        **options,
    )
    # read by the protocol, also in worker processes (uvicorn copies the config object)
    # uvicorn.Config declares no such field: set it on the instance.
    vars(config)["header_timeout_s"] = header_timeout_s
    return config


def run_server(config: Any) -> None:
    """Run ``config`` in this process, or in ``config.workers`` worker processes."""
    import uvicorn

    if config.workers > 1:
        from vitals.api.listeners import run_workers

        run_workers(config)  # a listening socket per worker (SO_REUSEPORT)
    else:
        uvicorn.Server(config).run()


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    startup_timeout_s: float = 10.0,
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread; yields its base URL, then stops it.

    For ``vitals dev``, tests and the load bench (port 0 picks a free port).
    """
    import uvicorn

    config = uvicorn_config(
        app,
        host=host,
        port=port,
        header_timeout_s=header_timeout_s,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="vitals-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"query API did not start on {host}:{port}")
        time.sleep(0.02)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CACHE_URL_ENV = "VITALS_API_CACHE_URL"  # redis://...: one shared cache for several hosts
CACHE_GENERATION_ENV = "VITALS_API_CACHE_GENERATION"  # with Redis: shared by the hosts


def is_redis_url(url: str) -> bool:
    """True for the Redis URLs ``VITALS_API_CACHE_URL`` accepts."""
    return url.startswith(("redis://", "rediss://", "unix://"))


def open_shared_cache(
    settings: Settings, max_bytes: int, url: str | None = None
) -> SharedCache | RedisSharedCache:
    """This run's shared cache.

    The host's file gets a new generation and is cleared of older runs' entries; Redis
    (several hosts) keeps the generation the hosts share.
    """
    if url:
        return _redis(url, os.environ.get(CACHE_GENERATION_ENV) or "0")
    shared = SharedCache(
        default_path(settings.data_dir), generation=secrets.token_hex(8), max_bytes=max_bytes
    )
    shared.prepare()
    return shared


def _redis(url: str, generation: str) -> RedisSharedCache:
    from vitals.api.redis_cache import RedisSharedCache

    return RedisSharedCache(url, generation=generation)


def shared_cache_from_environment() -> SharedCache | RedisSharedCache | None:
    """The shared cache ``vitals serve`` handed this worker process, if any."""
    path = os.environ.get(SHARED_CACHE_ENV)
    generation = os.environ.get(SHARED_GENERATION_ENV)
    if not path or not generation:
        return None
    if is_redis_url(path):
        return _redis(path, generation)
    max_bytes = os.environ.get(SHARED_MAX_BYTES_ENV, "")
    return SharedCache(
        Path(path),
        generation=generation,
        max_bytes=int(max_bytes) if max_bytes.isdigit() else DEFAULT_SHARED_MAX_BYTES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vitals serve``; returns the process exit code."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if not 0 <= args.port <= 65535:
        print(f"vitals serve: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"vitals serve: {exc}", file=sys.stderr)
        return 2
    problem = auth_problem(args.host, bool(settings.api_keys), args.insecure_no_auth)
    if problem:
        print(f"vitals serve: {problem}", file=sys.stderr)
        return 2
    if not 1 <= args.workers <= 64:
        print(f"vitals serve: --workers {args.workers} must be 1-64", file=sys.stderr)
        return 2
    if args.engine_slots is None:
        args.engine_slots = per_core_share(args.workers)
    if not 1 <= args.engine_slots <= 64:
        print(f"vitals serve: --engine-slots {args.engine_slots} must be 1-64", file=sys.stderr)
        return 2
    if not 0 < args.header_timeout <= 3600:
        print(
            f"vitals serve: --header-timeout {args.header_timeout:g} must be more than 0 and at most 3600",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.shared_cache_mb <= 1024 * 1024:
        print(
            f"vitals serve: --shared-cache-mb {args.shared_cache_mb} must be 1-1048576",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.hot_ttl <= 3600:
        print(f"vitals serve: --hot-ttl {args.hot_ttl:g} must be 0-3600", file=sys.stderr)
        return 2
    if args.workers > 1 and args.insecure_no_auth:
        print("vitals serve: --insecure-no-auth works with one worker only", file=sys.stderr)
        return 2
    from vitals.api.app import create_app

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mode = (
        "API keys required"
        if settings.api_keys
        else ("NO AUTH (insecure)" if args.insecure_no_auth else "no keys: loopback clients only")
    )
    where = (
        f"http://{args.host}:{args.port}/" if args.port else f"{args.host}, a free port (see below)"
    )
    url = os.environ.get(CACHE_URL_ENV, "").strip() or None
    if url and not is_redis_url(url):
        print(f"vitals serve: {CACHE_URL_ENV} must be a redis:// URL", file=sys.stderr)
        return 2
    use_shared = args.shared_cache == "on" or (
        args.shared_cache == "auto" and (args.workers > 1 or url is not None)
    )
    shared = (
        open_shared_cache(settings, args.shared_cache_mb * 1024 * 1024, url) if use_shared else None
    )
    where_cached = shared.path if isinstance(shared, SharedCache) else f"Redis {url}"
    cache_note = f"shared response cache {where_cached}" if shared else "in-memory response cache"
    print(
        f"vitals serve: {where} ({mode}, {args.workers} worker(s) x {args.engine_slots} "
        f"engine slot(s), {cache_note}); "
        "OpenAPI at /openapi.json",
        flush=True,
    )
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "header_timeout_s": args.header_timeout,
    }
    shares: str | None = None
    if args.workers > 1:  # each worker process builds its app from the environment
        os.environ[ENGINE_SLOTS_ENV] = str(args.engine_slots)  # inherited by the workers
        # one cold-read thread per core across the workers, unless the operator chose
        os.environ.setdefault(READ_THREADS_ENV, str(per_core_share(args.workers)))
        os.environ[HOT_TTL_ENV] = repr(args.hot_ttl)
        for name in (SHARED_CACHE_ENV, SHARED_GENERATION_ENV, SHARED_MAX_BYTES_ENV):
            os.environ.pop(name, None)
        if shared is not None:
            if isinstance(shared, SharedCache):
                os.environ[SHARED_CACHE_ENV] = str(shared.path)
                os.environ[SHARED_MAX_BYTES_ENV] = str(shared.max_bytes)
            else:
                os.environ[SHARED_CACHE_ENV] = shared.url
            os.environ[SHARED_GENERATION_ENV] = shared.generation
        # each worker publishes its connection count here (vitals.api.balance)
        shares = tempfile.mkdtemp(prefix="vitals-workers-")
        os.environ[SHARES_ENV] = shares
        config = uvicorn_config(
            "vitals.api.app:app_from_environment", factory=True, workers=args.workers, **common
        )
    else:
        config = uvicorn_config(
            create_app(
                settings,
                allow_anonymous=args.insecure_no_auth,
                engine_slots=args.engine_slots,
                hot_ttl_s=args.hot_ttl,
                shared_cache=shared,
            ),
            **common,
        )
    try:
        run_server(config)
    finally:
        if shares is not None:
            shutil.rmtree(shares, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
