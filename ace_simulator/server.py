"""The simulator's HTTP server (stdlib ``ThreadingHTTPServer``) and its Python handle.

The stdlib server was chosen over uvicorn because fault injection needs the raw
socket (send headers and half a body, then close) and routing needs the raw path;
page generation is pyarrow kernels that release the GIL, so threads serve concurrent
clients. The API lives under ``/api``; ``/_sim/...`` is the admin side (no auth):
``GET /_sim/stats``, ``GET|POST /_sim/faults``, ``GET|POST /_sim/clock``, ``POST /_sim/reset``,
``GET /_sim/health``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pyarrow as pa

from ace_simulator.api import (
    SAMPLE_ROUTES,
    AceApi,
    ApiResponse,
    error_response,
    route_of,
    split_target,
)
from ace_simulator.building import DEFAULT_POINTS, DEFAULT_SEED, Building, BuildingConfig
from ace_simulator.faults import FaultSpecError, FaultState
from ace_simulator.stats import Stats

API_PREFIX = "api"
DEFAULT_API_KEY = "simulator-key"


class SimulatorServer(ThreadingHTTPServer):
    """The HTTP server plus the state every request handler shares."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], building: Building, faults: FaultState) -> None:
        super().__init__(address, _Handler)
        self.building = building
        self.api = AceApi(building)
        self.faults = faults
        self.stats = Stats()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-answer are normal here; anything else is still printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: /_sim/stats is the request log

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:  # the router answers 405, as JSON
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: ApiResponse, *, drop_fraction: float | None = None) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if drop_fraction is None:
            self.wfile.write(response.body)
            return
        self.wfile.write(response.body[: int(len(response.body) * drop_fraction)])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        epoch = self.server.stats.epoch
        arrived = time.time()  # a request's place in a rate window: when it came in
        body = self._body()
        segments, query = split_target(self.path)
        if segments[:1] == ["_sim"]:
            self._send(self._admin(method, segments[1:], body))
            return
        if segments[:1] != [API_PREFIX]:
            self._send(
                error_response(
                    404, f"no route for {method} {self.path.split('?')[0]}; the API is under /api"
                )
            )
            return
        segments = segments[1:]
        route = route_of(method, segments)
        auth = self.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            response = error_response(
                401, "missing or invalid Authorization header; expected 'Bearer <api key>'"
            )
            # counted before the answer goes out, as every path here: a client that reads
            # the stats right after its answer must find that request in them
            self.server.stats.record(route, 401, epoch=epoch, target=self.path, arrived=arrived)
            self._send(response)
            return
        decision = self.server.faults.decide(samples=route in SAMPLE_ROUTES)
        if decision.status is not None:
            headers = {}
            if decision.retry_after is not None:
                headers["Retry-After"] = f"{decision.retry_after:g}"
            detail = "rate limit exceeded" if decision.status == 429 else "simulated server error"
            self.server.stats.record(
                route,
                decision.status,
                faults=decision.fired,
                epoch=epoch,
                target=self.path,
                arrived=arrived,
            )
            self._send(error_response(decision.status, detail, headers))
            return
        started = time.perf_counter()
        response = self.server.api.handle(method, route, segments, query, body, decision)
        busy = time.perf_counter() - started
        if decision.delay:
            time.sleep(decision.delay)
        served = response.samples
        if response.status == 200 and decision.malformed:
            response = ApiResponse(
                200, response.body[: max(1, len(response.body) // 2)] + b"\x00<truncated", {}
            )
            served = 0
        if response.status == 200 and decision.drop_fraction is not None:
            self.server.stats.record(
                route,
                response.status,
                faults=decision.fired,
                seconds=busy,
                epoch=epoch,
                target=self.path,
                arrived=arrived,
            )
            self._send(response, drop_fraction=decision.drop_fraction)
            return
        self.server.stats.record(
            route,
            response.status,
            samples=served,
            faults=decision.fired,
            seconds=busy,
            epoch=epoch,
            target=self.path,
            arrived=arrived,
        )
        self._send(response)

    def _admin(self, method: str, segments: list[str], body: bytes) -> ApiResponse:
        what = "/".join(segments)
        if what == "health" and method == "GET":
            return ApiResponse(200, b'{"status":"ok"}')
        if what == "stats" and method == "GET":
            return ApiResponse(200, json.dumps(self.server.stats.snapshot()).encode())
        if what == "faults" and method == "GET":
            return ApiResponse(200, json.dumps(self.server.faults.describe()).encode())
        if what == "faults" and method == "POST":
            try:
                payload = json.loads(body or b"{}")
                spec = (
                    payload.get("spec", payload.get("faults", payload))
                    if isinstance(payload, dict)
                    else payload
                )
                active = self.server.faults.set(spec)
            except (ValueError, FaultSpecError) as exc:
                return error_response(400, str(exc))
            return ApiResponse(200, json.dumps({"faults": active}).encode())
        if what == "clock" and method == "GET":
            return ApiResponse(
                200, json.dumps({"now_ms": self.server.api.now_us() // 1000}).encode()
            )
        if what == "clock" and method == "POST":
            now_ms = json.loads(body or b"{}").get("now_ms")
            if now_ms is not None and not isinstance(now_ms, int):
                return error_response(400, f"now_ms {now_ms!r} must be epoch milliseconds or null")
            self.server.api.frozen_now_us = None if now_ms is None else now_ms * 1000
            return ApiResponse(200, json.dumps({"now_ms": now_ms}).encode())
        if what == "reset" and method == "POST":
            self.server.faults.set(None)
            self.server.stats.reset()
            self.server.api.frozen_now_us = None
            return ApiResponse(200, b'{"faults":{},"stats":"cleared","clock":"wall"}')
        return error_response(404, f"no admin route for {method} /_sim/{what}")


@dataclass
class SimulatorHandle:
    """A running simulator: its URLs, key, fault switch, stats and the expected data."""

    server: SimulatorServer
    thread: threading.Thread
    api_key: str

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the API (``ACE_API_URL``), including ``/api``."""
        return f"{self.root_url}/{API_PREFIX}"

    @property
    def building(self) -> Building:
        return self.server.building

    @property
    def site_names(self) -> list[str]:
        return list(self.building.sites)

    def set_faults(self, spec: str | dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Replace the active faults (see ``ace_simulator.faults``); ``None`` clears them."""
        return self.server.faults.set(spec)

    def faults(self) -> dict[str, dict[str, Any]]:
        return self.server.faults.describe()

    def stats(self, *, window_s: float = 60.0) -> dict[str, Any]:
        return self.server.stats.snapshot(window_s=window_s)

    def set_now(self, now_ms: int | None) -> None:
        """Pin the simulator's present (no sample after it is served); ``None``: wall clock."""
        self.server.api.frozen_now_us = None if now_ms is None else now_ms * 1000

    def reset(self) -> None:
        """Clear faults, stats and a pinned clock (the data never changes)."""
        self.server.faults.set(None)
        self.server.stats.reset()
        self.server.api.frozen_now_us = None

    def expected_samples(
        self, site: str, start_ms: int, end_ms: int, *, raw: bool = True
    ) -> pa.Table:
        """What a fault-free paginated export of ``[start_ms, end_ms)`` serves (see ``Building``)."""
        return self.building.expected_samples(
            site, start_ms, end_ms, raw=raw, twin=self.server.faults.case_twin()
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.api.prefetcher.close()
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = DEFAULT_SEED,
    sites: int = 1,
    points: int = DEFAULT_POINTS,
    interval: int | None = None,
    faults: str | dict[str, Any] | None = None,
    api_key: str = DEFAULT_API_KEY,
    warm: bool = False,
) -> SimulatorHandle:
    """Start a simulator on a background thread (``port=0``: any free port).

    ``warm`` builds every site's page templates before returning, so the first
    export request does not pay for it (about a second per 4,600-point site).
    """
    building = Building(BuildingConfig(seed=seed, sites=sites, points=points, interval=interval))
    if warm:
        for site in building.sites:
            building.export(site)
    server = SimulatorServer((host, port), building, FaultState(faults, seed=seed))
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name=f"ace-simulator:{port}", daemon=True
    )
    thread.start()
    return SimulatorHandle(server, thread, api_key)
