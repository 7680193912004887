"""The API behind a real uvicorn server on loopback, and the ``vitals serve`` entry point."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.api_site import API_KEYS, POINTS, SITE, ApiSite, build_api_site, make_app
from vitals.api.serve import auth_problem, main, serve_in_thread

HOUR = 3_600_000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> ApiSite:
    return build_api_site(tmp_path_factory.mktemp("api-site"))


def test_concurrent_clients_over_real_http(api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    cold_start, _ = api_site.day_ms(api_site.cold_days[0])
    headers = {"Authorization": f"Bearer {API_KEYS[0]}"}

    async def run(base_url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            requests = []
            for i in range(24):
                if i % 3 == 0:
                    params = {
                        "site": SITE,
                        "points": [POINTS[i % 4]],
                        "start": start,
                        "end": start + HOUR,
                    }
                elif i % 3 == 1:
                    params = {
                        "site": SITE,
                        "points": list(POINTS[:3]),
                        "start": cold_start,
                        "end": start + HOUR,
                        "interval": "1h",
                        "agg": "avg,max",
                    }
                else:
                    params = {
                        "site": SITE,
                        "points": [POINTS[1]],
                        "start": cold_start,
                        "end": cold_start + 6 * HOUR,
                        "format": "csv",
                    }
                requests.append(client.get("/v1/timeseries", params=params))
            requests.append(client.get("/healthz"))
            requests.append(client.get(f"/v1/sites/{SITE}/points", params={"q": "ahu"}))
            return await asyncio.gather(*requests)

    with serve_in_thread(make_app(api_site)) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        answers = asyncio.run(run(base_url))
        metrics = httpx.get(f"{base_url}/metrics").text
    assert [a.status_code for a in answers] == [200] * len(answers)
    hits = [a.headers["x-cache-hit"] for a in answers[:24]]
    assert hits.count("false") == 6  # 4 raw + 1 aggregate + 1 csv: repeats are hits or coalesced
    assert "vitals_api_cache_hits_total 18.0" in metrics


def test_serve_refuses_public_bind_without_keys(capsys):
    assert auth_problem("0.0.0.0", has_keys=False, insecure_no_auth=False)
    assert auth_problem("127.0.0.1", has_keys=False, insecure_no_auth=False) is None
    assert auth_problem("::1", has_keys=False, insecure_no_auth=False) is None
    assert auth_problem("0.0.0.0", has_keys=True, insecure_no_auth=False) is None
    assert auth_problem("0.0.0.0", has_keys=False, insecure_no_auth=True) is None
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refusing to listen on '0.0.0.0' without API keys" in capsys.readouterr().err
    assert main(["--port", "70000"]) == 2
    assert main(["--header-timeout", "0"]) == 2


@contextmanager
def vitals_serve(api_site: ApiSite, *extra: str) -> Iterator[int]:
    """``python -m vitals_cli serve`` on a free loopback port over the site's stores; yields the port."""
    env = {
        **os.environ,
        "VITALS_DATA_DIR": str(api_site.root),
        "VITALS_HOT_STORE": str(api_site.root / "hot.sqlite"),
        "VITALS_COLD_STORE": str(api_site.root / "cold"),
        "VITALS_API_KEYS": API_KEYS[1],
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitals_cli", "serve", "--host", "127.0.0.1", "--port", "0", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 30
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        assert port, "".join(lines)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_vitals_serve_process(api_site):
    with vitals_serve(api_site) as port:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/v1/sites").status_code == 401
        ok = httpx.get(f"{base}/v1/sites", headers={"Authorization": f"Bearer {API_KEYS[1]}"})
        assert ok.json() == {"sites": [SITE]}


HEADER_TIMEOUT_S = 1.0
STALLED = 25


def _wait_closed(
    sockets: list[socket.socket], began: float, limit_s: float
) -> tuple[dict[int, float], dict[int, bytes]]:
    """Read every socket until the server closes it; (seconds to close, bytes read) by index."""
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(sockets):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
    closed: dict[int, float] = {}
    received: dict[int, bytes] = {i: b"" for i in range(len(sockets))}
    while len(closed) < len(sockets) and time.monotonic() - began < limit_s:
        for key, _ in selector.select(timeout=0.1):
            try:
                chunk = key.fileobj.recv(4096)
            except ConnectionResetError:
                chunk = b""
            received[key.data] += chunk
            if not chunk:
                closed[key.data] = time.monotonic() - began
                selector.unregister(key.fileobj)
    selector.close()
    return closed, received


def _http_get(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return _read_answer(sock)


def _read_answer(sock: socket.socket) -> bytes:
    """One small JSON answer (headers and a body ending in ``}``) from a blocking socket."""
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        answer += sock.recv(4096)
    return answer


def test_stalled_request_headers_are_cut_off(api_site):
    """Slowloris: sockets that never finish their headers are answered 408 and closed in time."""
    with vitals_serve(api_site, "--header-timeout", str(HEADER_TIMEOUT_S)) as port:
        began = time.monotonic()
        stalled = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(STALLED)]
        for index, sock in enumerate(stalled[5:]):  # the first 5 send nothing at all
            sock.sendall(
                b"GET /v1/sites HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: y\r\n" * index
            )
        reused = socket.create_connection(
            ("127.0.0.1", port), timeout=5
        )  # keep-alive, then a stalled request
        assert _http_get(reused, "/healthz").startswith(b"HTTP/1.1 200")
        reused.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow_but_fine = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow_but_fine.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert (
            httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        )  # served while they stall
        time.sleep(HEADER_TIMEOUT_S / 2)
        slow_but_fine.sendall(b"Host: 127.0.0.1\r\n\r\n")  # headers complete within the bound
        assert _read_answer(slow_but_fine).startswith(b"HTTP/1.1 200")
        closed, received = _wait_closed([*stalled, reused], began, limit_s=HEADER_TIMEOUT_S + 4)
        idle = socket.create_connection(
            ("127.0.0.1", port), timeout=5
        )  # an idle keep-alive outlives the bound
        assert _http_get(idle, "/healthz").startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT_S * 1.5)
        assert _http_get(idle, "/healthz").startswith(b"HTTP/1.1 200")
        ok = httpx.get(
            f"http://127.0.0.1:{port}/v1/sites", headers={"Authorization": f"Bearer {API_KEYS[1]}"}
        )
        assert ok.json() == {"sites": [SITE]}
        for sock in [*stalled, reused, slow_but_fine, idle]:
            sock.close()
    assert len(closed) == STALLED + 1, (
        f"still open after {HEADER_TIMEOUT_S + 4} s: {STALLED + 1 - len(closed)}"
    )
    assert (
        HEADER_TIMEOUT_S * 0.8 <= min(closed.values())
        and max(closed.values()) <= HEADER_TIMEOUT_S + 1.5
    ), closed
    assert all(body.startswith(b"HTTP/1.1 408 ") for body in received.values()), received
