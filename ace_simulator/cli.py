"""``vitals simulate``: run the ACE API simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from ace_simulator.building import DEFAULT_POINTS, DEFAULT_SEED
from ace_simulator.faults import KNOWN, FaultSpecError, parse_faults
from ace_simulator.server import DEFAULT_API_KEY, start_simulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitals simulate",
        description="Serve a deterministic simulated ACE IoT API on loopback (base URL .../api).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    parser.add_argument("--sites", type=int, default=1, help="number of sites (default 1)")
    parser.add_argument(
        "--points", type=int, default=DEFAULT_POINTS, help="points per site (default 4600)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the simulated building"
    )
    parser.add_argument(
        "--interval",
        type=int,
        default=None,
        help="every point reports each SECONDS (60 = full load, ~6.6 M samples/day); default: mixed 30-600 s",
    )
    parser.add_argument(
        "--faults",
        default="",
        help=f"comma-separated faults, e.g. rate_limit:every=5,bad_values:p=0.02 (known: {', '.join(KNOWN)})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted; returns a process exit code."""
    args = build_parser().parse_args(argv)
    try:
        parse_faults(args.faults)
        handle = start_simulator(
            args.host,
            args.port,
            seed=args.seed,
            sites=args.sites,
            points=args.points,
            interval=args.interval,
            faults=args.faults or None,
            warm=True,
        )
    except (FaultSpecError, ValueError, OSError) as exc:
        print(f"vitals simulate: {exc}", file=sys.stderr)
        return 2
    print(
        f"ACE simulator: {handle.url}  (sites: {', '.join(handle.site_names)}; "
        f"{args.points} points each; seed {args.seed})"
    )
    print(f"  ACE_API_URL={handle.url} ACE_API_KEY=<any non-empty key, e.g. {DEFAULT_API_KEY}>")
    print(
        f"  admin: {handle.root_url}/_sim/stats  {handle.root_url}/_sim/faults  {handle.root_url}/_sim/reset"
    )
    if args.faults:
        print(f"  faults: {args.faults}")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
