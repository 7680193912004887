"""The API behind a real uvicorn server on loopback, and the ``vitals serve`` entry point."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.api_site import API_KEYS, POINTS, SITE, ApiSite, build_api_site, make_app
from vitals.api.serve import auth_problem, main, serve_in_thread

HOUR = 3_600_000
REPO = Path(__file__).resolve().parents[1]


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
                    params = {"site": SITE, "points": [POINTS[i % 4]], "start": start, "end": start + HOUR}
                elif i % 3 == 1:
                    params = {"site": SITE, "points": list(POINTS[:3]), "start": cold_start,
                              "end": start + HOUR, "interval": "1h", "agg": "avg,max"}
                else:
                    params = {"site": SITE, "points": [POINTS[1]], "start": cold_start,
                              "end": cold_start + 6 * HOUR, "format": "csv"}
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


def test_vitals_serve_process(api_site):
    env = {**os.environ, "VITALS_DATA_DIR": str(api_site.root), "VITALS_HOT_STORE": str(api_site.root / "hot.sqlite"),
           "VITALS_COLD_STORE": str(api_site.root / "cold"), "VITALS_API_KEYS": API_KEYS[1],
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "vitals", "serve", "--host", "127.0.0.1", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/v1/sites").status_code == 401
        ok = httpx.get(f"{base}/v1/sites", headers={"Authorization": f"Bearer {API_KEYS[1]}"})
        assert ok.json() == {"sites": [SITE]}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
