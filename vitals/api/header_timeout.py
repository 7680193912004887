"""uvicorn's HTTP protocol with a bound on how long a request's headers may take.

uvicorn times out idle keep-alive connections, but not a client that opens a
connection and then sends its request headers slowly or never (slowloris): each such
socket stays open for ever, and enough of them exhaust the server's file descriptors.
Here a timer is armed when a connection opens and whenever a new request starts
arriving on it; the headers completing cancels it. When it fires, the client gets a
408 and the connection is closed. Request bodies and responses are not bounded here.

uvicorn takes the class by import path (``http=PROTOCOL_PATH``), so worker processes
load it too; the bound travels in the config as ``header_timeout_s``. With several
workers it also closes, after their answer, the connections a worker holds above its
share (:mod:`vitals.api.balance`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from vitals.api.balance import WorkerShares, shares_from_environment

DEFAULT_HEADER_TIMEOUT_S = 10.0
PROTOCOL_PATH = "vitals.api.header_timeout:HeaderTimeoutProtocol"
_TIMEOUT_BODY = b'{"error": "request_timeout", "detail": "request headers took too long"}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


_SHARES: WorkerShares | None = None


def worker_shares() -> WorkerShares:
    """This process's :class:`WorkerShares` (made on first use, from the environment)."""
    global _SHARES
    if _SHARES is None:
        _SHARES = shares_from_environment()
    return _SHARES


class HeaderTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """httptools' (or h11's) protocol, closing connections whose headers do not arrive in time."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout_s = float(getattr(config, "header_timeout_s", DEFAULT_HEADER_TIMEOUT_S))
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Arm the timer: the first request's headers are due."""
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """Re-arm for a new request on a kept-alive connection; cancel once headers are in."""
        if self._header_timer is None and self._between_requests():
            self._arm_header_timer()  # the next request on a keep-alive connection begins
        super().data_received(data)
        if not self._between_requests():
            self._cancel_header_timer()

    def on_headers_complete(self) -> None:
        """A request began: close its connection after the answer if this worker holds too many."""
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and worker_shares().should_close(len(self.connections)):
            cycle.keep_alive = False  # the answer says "Connection: close", then it closes

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel the timer of a closed connection."""
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        """No request whose headers have been read is in progress on this connection."""
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._between_requests():
            return
        self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
