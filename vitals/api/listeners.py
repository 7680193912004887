"""One listening socket per worker process, joined by ``SO_REUSEPORT``.

Why: uvicorn's workers share the supervisor's one listening socket, and an event loop
that wakes for it accepts every connection waiting there. Clients that keep their
connection (browsers, the load generator) then stay wherever that burst landed: 100
clients split 69/31 between two workers, and the clients of the busier worker waited
twice as long for the whole run (docs/benchmarks.md, issue 11). With a socket of its own
in a ``SO_REUSEPORT`` group per worker, the kernel spreads new connections over the
workers by a hash of their addresses, so each worker gets its share whatever it was
doing when they arrived.

The supervisor binds the port with ``SO_REUSEPORT`` and never listens on it (it holds
the port, and with port 0 picks it); each worker binds its own socket to that address
and listens. Linux admits to the group only sockets of the same user, so another user's
process cannot take a share of the connections.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from uvicorn.supervisors import multiprocess

LOGGER = logging.getLogger("uvicorn.error")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with ``SO_REUSEPORT`` (not listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def supervisor_socket(host: str, port: int) -> socket.socket:
    """The supervisor's bound socket, announced as uvicorn announces its own.

    Tests and ``bench/api_load.py`` read the port from this line.
    """
    sock = reuse_port_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    LOGGER.info(
        "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, sock.getsockname()[1]
    )
    sock.set_inheritable(True)
    return sock


class OwnListenerProcess(multiprocess.Process):
    """A uvicorn worker that listens on a socket of its own in the port's group."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        """Runs in the worker: swap the inherited socket for one of this worker's own."""
        own = []
        for inherited in sockets or []:
            host, port = inherited.getsockname()[:2]
            own.append(reuse_port_socket(host, port))
            inherited.close()  # this worker's copy only: the supervisor keeps the port
        super().target(own)


def run_workers(config: Any) -> None:
    """Run ``config.workers`` uvicorn workers, each on its own listening socket."""
    sock = supervisor_socket(config.host, config.port)
    # uvicorn's supervisor builds its workers from this module global (at start and on
    # every restart); only this process's supervisor reads it
    multiprocess.Process = OwnListenerProcess  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
