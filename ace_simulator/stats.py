"""Request accounting, so tests can check what a client really asked for.

Counts API requests by route and status, keeps the times of recent requests (a test
can check a client's rate limit over any sliding window) and the samples served in
complete, well-formed responses.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

RECENT = 5000


class Stats:
    """Thread-safe counters for the API (the admin endpoints are not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.epoch = 0
        self.reset()

    def reset(self) -> None:
        """Start afresh; requests already in flight (e.g. a slow page) are not counted."""
        with self._lock:
            self.epoch += 1
            self._total = 0
            self._by_route: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._by_route_status: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._recent: deque[tuple[float, str, int, str, float]] = deque(maxlen=RECENT)
            self._samples = 0
            self._pages = 0
            self._busy_s = 0.0

    def record(
        self,
        route: str,
        status: int,
        *,
        samples: int = 0,
        faults: tuple[str, ...] = (),
        seconds: float = 0.0,
        epoch: int | None = None,
        target: str = "",
        arrived: float | None = None,
    ) -> None:
        """Count one answered API request.

        ``samples`` only when the body went out whole; ``seconds`` the time spent building
        the answer, injected delays excluded; ``target`` the path and query asked, so a
        bench can replay a client's requests.
        """
        with self._lock:
            if epoch is not None and epoch != self.epoch:
                return  # began before a reset
            self._busy_s += seconds
            self._total += 1
            self._by_route[route] += 1
            self._by_status[str(status)] += 1
            self._by_route_status[f"{route} {status}"] += 1
            self._faults.update(faults)
            now = time.time()
            self._recent.append((now, route, status, target, now if arrived is None else arrived))
            self._samples += samples
            self._pages += 1 if samples else 0

    def snapshot(self, *, window_s: float = 60.0) -> dict[str, Any]:
        """Counters as plain JSON-able data; ``requests_last_window`` counts the last ``window_s``."""
        now = time.time()
        with self._lock:
            recent = list(self._recent)
            return {
                "requests_total": self._total,
                "requests_by_route": dict(self._by_route),
                "requests_by_status": dict(self._by_status),
                "requests_by_route_status": dict(self._by_route_status),
                "faults_fired": dict(self._faults),
                "samples_served": self._samples,
                "sample_pages_served": self._pages,
                "busy_seconds": round(self._busy_s, 3),
                "window_s": window_s,
                "requests_last_window": sum(1 for t, *_ in recent if t >= now - window_s),
                # t: when the answer was ready; arrived: when the request came in
                "recent_requests": [
                    {"t": t, "route": r, "status": s, "target": q, "arrived": a}
                    for t, r, s, q, a in recent
                ],
            }
