"""Keep each worker's share of kept-alive connections even: close the excess after a response.

Why: clients keep their connection, so a worker's queue is as long as the number of
clients it holds. The kernel spreads new connections over the workers' sockets by a hash
(:mod:`vitals.api.listeners`), which leaves splits such as 57/43 of 100 clients, and the
clients of the fuller worker wait ~1.3x longer for the whole run. Here each worker
publishes how many connections it holds (a file named by its pid in a folder the workers
share) and, while it holds more than its share plus one, answers that many requests with
``Connection: close``. Those clients reconnect (HTTP/1.1 allows a server to close after a
response; browsers and the load generator open a new connection), the kernel hashes the
new connection again, and the split converges within seconds. No request is refused or
lost: only the connection after a complete response is closed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

SHARES_ENV = "VITALS_WORKER_SHARES_DIR"
# connections above its share a worker keeps (no churn at a split of 51/49)
SLACK = 1
REFRESH_S = 0.25  # a shed client lands on either worker: ~a round per halving of the excess


class WorkerShares:
    """This worker's connections against the others', refreshed at most every REFRESH_S."""

    def __init__(
        self,
        folder: Path | None,
        *,
        pid: int | None = None,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.pid = pid if pid is not None else os.getpid()
        self.refresh_s = refresh_s
        self.clock = clock
        self.closed = 0  # connections closed to rebalance (exported as a metric)
        self._next = 0.0
        self._excess = 0

    def should_close(self, open_connections: int) -> bool:
        """Whether the connection of the request just begun should close after its answer."""
        if self.folder is None:
            return False
        now = self.clock()
        if now >= self._next:
            self._next = now + self.refresh_s
            self._excess = self._refresh(open_connections)
        if self._excess <= 0:
            return False
        self._excess -= 1
        self.closed += 1
        return True

    def _refresh(self, mine: int) -> int:
        """Publish ``mine``; how many connections this worker holds above its share + slack."""
        assert self.folder is not None
        try:
            own = self.folder / str(self.pid)
            scratch = self.folder / f".{self.pid}.tmp"
            scratch.write_text(str(mine))
            os.replace(scratch, own)
            counts = [mine]
            for entry in os.scandir(self.folder):
                if entry.name.startswith(".") or entry.name == own.name:
                    continue
                count = _live_count(Path(entry.path))
                if count is not None:
                    counts.append(count)
        except OSError:
            return 0  # the folder went away (shutdown): nothing to balance
        share = math.ceil(sum(counts) / len(counts))
        return max(0, mine - share - SLACK)


def _live_count(path: Path) -> int | None:
    """The count another worker published, or ``None`` (its file removed if it exited).

    Anything in the folder not named by a pid is ignored.
    """
    if not path.name.isdigit():
        return None
    try:
        os.kill(int(path.name), 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    except (PermissionError, OverflowError):
        return None  # not a worker of ours
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return None  # being replaced right now: counted at the next refresh


def shares_from_environment() -> WorkerShares:
    """This worker's shares, in the folder ``vitals serve --workers N`` set (else inert)."""
    folder = os.environ.get(SHARES_ENV)
    return WorkerShares(Path(folder) if folder else None)
