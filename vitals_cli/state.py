"""``vitals state``: where the ACE limiter and breaker share their state, and what it holds.

Why: on a multi-host install every host (webserver, daemon, each run worker) must
share one state, or each host sends its own full rate limit. Run it on each host:
all must print the same location. The clock line shows how far this host's clock is
from the database's; only the database's is used, so a skewed host is harmless, but
the figure tells the operator which host to fix.
"""

from __future__ import annotations

import argparse
import time

from vitals.ace.circuit_breaker import SCHEMAS as BREAKER_SCHEMAS
from vitals.ace.client import state_location
from vitals.ace.rate_limit import SCHEMAS as LIMITER_SCHEMAS
from vitals.ace.state import open_state
from vitals.config import load_settings


def main(argv: list[str]) -> int:
    """Print the state's location, the clock offset, recent sends and every breaker."""
    parser = argparse.ArgumentParser(
        prog="vitals state",
        description="Show the ACE rate limiter and circuit breaker state (VITALS_STATE_URL).",
    )
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds of recent sends to count (60)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    backend = open_state(state_location(settings.state_dir, settings.state_url))
    backend.ensure_schema(LIMITER_SCHEMAS[backend.kind])
    backend.ensure_schema(BREAKER_SCHEMAS[backend.kind])
    with backend.locked("vitals-state-report") as tx:
        host_now = time.time()
        sends = tx.execute(
            "SELECT bucket, COUNT(*) FROM rate_limit_sends WHERE sent_at > ? "
            "GROUP BY bucket ORDER BY bucket",
            (tx.now - args.window,),
        )
        breakers = tx.execute(
            "SELECT name, state, failures, opened_at, last_error FROM circuit_breakers "
            "ORDER BY name"
        )
    print(f"state: {backend.kind} {backend.location}")
    print(f"database clock minus this host's clock: {tx.now - host_now:+.3f} s")
    print(
        f"sends in the last {args.window:g} s: "
        + (", ".join(f"{b} {n}" for b, n in sends) or "none")
    )
    if not breakers:
        print("breakers: none recorded (closed)")
    for name, state, failures, opened_at, last_error in breakers:
        opened = f", opened {tx.now - opened_at:.0f} s ago" if opened_at is not None else ""
        error = f", last error: {last_error}" if last_error else ""
        print(f"breaker {name}: {state}, {failures} consecutive failures{opened}{error}")
    return 0
