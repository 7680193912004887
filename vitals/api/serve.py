"""``vitals serve [--host 127.0.0.1] [--port N] [--insecure-no-auth]``: the query API alone.

Refuses to listen on a non-loopback address when ``VITALS_API_KEYS`` is empty, unless
``--insecure-no-auth`` says so explicitly (then every client is served without a key).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from vitals.api.auth import is_loopback
from vitals.config import load_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitals serve", description="Run the Vitals query API.")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="serve every client without an API key when VITALS_API_KEYS is empty")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def auth_problem(host: str, has_keys: bool, insecure_no_auth: bool) -> str | None:
    """Why this bind must be refused, or ``None`` when it is safe (or explicitly insecure)."""
    if has_keys or insecure_no_auth or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host!r} without API keys: set VITALS_API_KEYS, bind 127.0.0.1, "
        "or pass --insecure-no-auth"
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
    import uvicorn

    from vitals.api.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, allow_anonymous=args.insecure_no_auth)
    mode = "API keys required" if settings.api_keys else (
        "NO AUTH (insecure)" if args.insecure_no_auth else "no keys: loopback clients only")
    print(f"vitals serve: http://{args.host}:{args.port}/ ({mode}); OpenAPI at /openapi.json", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
