"""Bounded loopback load run of the query API: N concurrent chart clients for S seconds.

    .venv/bin/python bench/api_load.py [--seconds 60] [--clients 100] [--data-dir DIR]
        [--points 200] [--cold-days 90] [--hot-days 20] [--seed 7] [--unique]
        [--workers 1] [--shared-cache auto|on|off]

Starts ``vitals serve`` as a child process on 127.0.0.1 (a free port) over a data folder:
``--data-dir`` (an existing Vitals data folder with ``hot.sqlite`` and ``cold/``, e.g.
the one ``bench/query.py`` builds), else a folder under ``~/.cache/vitals-bench/api``
built once here: one site, ``--points`` points every 5 minutes, ``--hot-days`` days in the
hot store and ``--cold-days`` older days as cold Parquet files with stored rollups.

Clients (one keep-alive connection each, a lean asyncio HTTP/1.1 client: httpx alone
saturated a core) send a mix of chart queries: a hot day raw, a week at 5m or
auto, a year at 1h, a cross-tier month at 15m, point search and the legacy endpoint. By
default the point sets come from 40 fixed "dashboards" (popular ones more often) and the
ranges snap to days, as chart pages do, so the response cache sees realistic repeats;
``--unique`` asks random point sets instead (engine-bound figures).
Prints p50/p95/p99 per kind and overall, requests/s, cache hit ratio (split by where
hits came from: a worker's own memory or the workers' shared cache, ``X-Cache-Source``),
errors, the server's CPU per answer summed over all its processes (and per process), the
load generator's own CPU and the load average. Only loopback traffic; the run stops
itself after ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vitals.samples import MS_PER_DAY, SAMPLE_SCHEMA, day_bounds_ms  # noqa: E402

SITE = "bench_site"
API_KEY = "bench-key-0123456789abcdef"
STEP_MS = 300_000
HOUR = 3_600_000


def utc_today() -> date:
    return date(1970, 1, 1) + timedelta(days=int(time.time() * 1000) // MS_PER_DAY)


def point_names(count: int) -> list[str]:
    kinds = ["SAT", "RAT", "MAT", "DA-T", "ZN-T", "DMPR-POS", "FAN-SPD", "kW"]
    return [
        f"acme/{SITE}/192.168.1.{i % 250}/n4/AHU_{i // 8}/C.Drivers.{kinds[i % 8]}.{i}"
        for i in range(count)
    ]


def day_table(names: list[str], day: date) -> pa.Table:
    start, end = day_bounds_ms(day)
    stamps = list(range(start + 36_055, end, STEP_MS))
    rows_names, rows_ts, rows_values = [], [], []
    for index, name in enumerate(names):
        rows_names.extend([name] * len(stamps))
        rows_ts.extend(stamps)
        rows_values.extend(
            round(((ts // STEP_MS) * 7 + index * 13) % 1000 / 10.0, 1) for ts in stamps
        )
    return pa.table(
        {"point_name": rows_names, "ts": rows_ts, "value": rows_values}, schema=SAMPLE_SCHEMA
    )


def build_data(root: Path, *, points: int, hot_days: int, cold_days: int) -> Path:
    """Build (once) a data folder with a real SQLite hot store and cold day files + rollups."""
    today = utc_today()
    marker = root / f"built-{points}-{hot_days}-{cold_days}-{today.isoformat()}"
    if marker.exists():
        return root
    from resources.hot_store import HotStoreResource
    from vitals.ace.client import AcePoint
    from vitals.cold.file import build_cold_table, cold_file_bytes
    from vitals.cold.keys import cold_day_key, rollup_day_key
    from vitals.rollups.day import rollup_bytes_from_cold

    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    names = point_names(points)
    hot = HotStoreResource(url=str(root / "hot.sqlite"))
    hot.upsert_points(SITE, [AcePoint(n, i, "analog") for i, n in enumerate(names)])
    started = time.perf_counter()
    for back in range(1, hot_days + 1):
        hot.upsert_samples(SITE, day_table(names, today - timedelta(days=back)))
    print(
        f"  hot store: {hot_days} days x {points} points in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    started = time.perf_counter()
    for back in range(hot_days + 1, hot_days + cold_days + 1):
        day = today - timedelta(days=back)
        data = cold_file_bytes(
            build_cold_table(SITE, day, [day_table(names, day)]),
            site=SITE,
            day=day,
            sources=["bench"],
        )
        for key, blob in (
            (cold_day_key(SITE, day), data),
            (rollup_day_key(SITE, day), rollup_bytes_from_cold(data, SITE, day)),
        ):
            path = root / "cold" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            tmp.replace(path)
    print(
        f"  cold store: {cold_days} day files + rollups in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    marker.write_text("ok")
    return root


def start_server(
    data_dir: Path, workers: int, engine_slots: int | None, shared_cache: str = "auto"
) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "VITALS_DATA_DIR": str(data_dir),
        "VITALS_HOT_STORE": str(data_dir / "hot.sqlite"),
        "VITALS_COLD_STORE": str(data_dir / "cold"),
        "VITALS_API_KEYS": API_KEY,
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable,
        "-m",
        "vitals_cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        str(workers),
        "--log-level",
        "info",
        "--shared-cache",
        shared_cache,
    ]
    if engine_slots is not None:
        command += ["--engine-slots", str(engine_slots)]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            wait_ready(match.group(1), deadline)
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("the query API did not start")


def wait_ready(base_url: str, deadline: float) -> None:
    """Until /healthz answers 200 (worker processes take a while to import)."""
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"the query API at {base_url} never became healthy")


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    cached_kinds: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # X-Cache-Source counts
    server_ms_hit: list[float] = field(default_factory=list)
    server_ms_miss: list[float] = field(default_factory=list)
    server_by_kind: dict[str, list[float]] = field(default_factory=dict)  # misses only
    connection_split: dict[int, int] = field(default_factory=dict)  # server pid -> connections
    connection_split_end: dict[int, int] = field(default_factory=dict)  # 1 s before the end

    def add_server_time(self, kind: str, header: str | None, hit: str | None) -> None:
        if header is not None and hit is not None:
            seconds = float(header) / 1000
            (self.server_ms_hit if hit == "true" else self.server_ms_miss).append(seconds)
            if hit != "true":
                self.server_by_kind.setdefault(kind, []).append(seconds)

    def add(
        self,
        kind: str,
        seconds: float,
        status: int | str,
        hit: str | None,
        source: str | None = None,
    ) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        if source is not None:
            self.sources[source] = self.sources.get(source, 0) + 1
        if status != 200:
            key = f"{kind}:{status}"
            self.errors[key] = self.errors.get(key, 0) + 1
        if hit is not None:
            self.cached_kinds += 1
            self.hits += hit == "true"


@dataclass(frozen=True)
class Workload:
    """What clients ask: ``dashboards`` (fixed point groups, as chart pages are) or random points."""

    names: list[str]
    site: str
    hot_days: int
    dashboards: list[list[str]]
    unique: bool
    today: int  # epoch ms of the UTC midnight after the newest sample ("today" for charts)

    def points(self, rng: random.Random, low: int, high: int) -> list[str]:
        if self.unique:
            return rng.sample(self.names, rng.randint(low, high))
        board = self.dashboards[min(int(rng.expovariate(1 / 8)), len(self.dashboards) - 1)]
        return board[:high]


def make_workload(
    names: list[str], site: str, hot_days: int, *, seed: int, unique: bool, today: int
) -> Workload:
    rng = random.Random(seed)
    boards = [rng.sample(names, rng.randint(2, 8)) for _ in range(40)]
    return Workload(names, site, hot_days, boards, unique, today)


def data_anchor(data_dir: Path) -> tuple[str, int, int]:
    """(site, "today" ms, hot days) of a data folder, read from its hot store.

    Works for this script's data (ending yesterday) and for ``bench/query.py``'s (fixed
    dates): chart ranges are placed relative to the newest sample.
    """
    from resources.hot_store import HotStoreResource

    hot = HotStoreResource(url=str(data_dir / "hot.sqlite"))
    site = hot.list_sites()[0]
    latest = hot.latest_sample_ms(site)
    if latest is None:
        raise SystemExit(f"no hot samples in {data_dir}: nothing to chart")
    today = latest // MS_PER_DAY * MS_PER_DAY + MS_PER_DAY
    days = hot.days_with_samples(site, today)
    first = day_bounds_ms(days[0])[0] if days else today - MS_PER_DAY
    return site, today, max(1, (today - first) // MS_PER_DAY)


def make_request(rng: random.Random, load: Workload) -> tuple[str, str, dict]:
    """One chart request; ranges snap to days, as chart presets do."""
    today, site, hot_days = load.today, load.site, load.hot_days
    pick = rng.random()
    if pick < 0.30:
        day = today - rng.randint(1, 3) * MS_PER_DAY
        return (
            "hot-day-raw",
            "/v1/timeseries",
            {"site": site, "points": load.points(rng, 1, 5), "start": day, "end": day + MS_PER_DAY},
        )
    if pick < 0.50:
        end = today - rng.randint(0, 1) * MS_PER_DAY
        return (
            "week-5m",
            "/v1/timeseries",
            {
                "site": site,
                "points": load.points(rng, 3, 8),
                "start": end - 7 * MS_PER_DAY,
                "end": end,
                "interval": rng.choice(["5m", "auto"]),
                "agg": "avg,min,max",
            },
        )
    if pick < 0.65:
        return (
            "year-1h",
            "/v1/timeseries",
            {
                "site": site,
                "points": load.points(rng, 2, 4),
                "start": today - 365 * MS_PER_DAY,
                "end": today,
                "interval": "1h",
            },
        )
    if pick < 0.80:
        end = today - rng.randint(max(0, hot_days - 6), max(0, hot_days - 5)) * MS_PER_DAY
        return (
            "cross-tier-15m",
            "/v1/timeseries",
            {
                "site": site,
                "points": load.points(rng, 2, 6),
                "start": end - 30 * MS_PER_DAY,
                "end": end,
                "interval": "15m",
                "agg": "avg,max",
            },
        )
    if pick < 0.92:
        word = rng.choice(["sat", "ahu_1", "zn-t", "kw", "dmpr", "192.168.1.4", "c.drivers.mat"])
        return "point-search", f"/v1/sites/{site}/points", {"q": word, "limit": 200}
    day = today - rng.randint(1, 3) * MS_PER_DAY
    return (
        "legacy-1hr",
        "/timeseries/query",
        {
            "site_name": site,
            "point_names": ",".join(load.points(rng, 3, 3)),
            "start_time": day,
            "end_time": day + MS_PER_DAY,
            "interval": "1hr",
        },
    )


class LeanConnection:
    """One keep-alive HTTP/1.1 connection with just enough client to load a server.

    httpx spent a whole core of this 2-core machine on 250 requests/s (parsing, gzip
    decoding), so the figures measured the load generator. This sends a GET, reads the
    status, headers and body (Content-Length or chunked) and keeps the raw bytes: what a
    browser tab does, minus the rendering, in its own process.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.header_lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: dict) -> tuple[int, dict[str, str], int]:
        """(status, lower-cased headers, body bytes) of one GET; reconnects when closed."""
        target = path + "?" + urlencode(params, doseq=True)
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(
                    f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n"
                    f"{self.header_lines}\r\n".encode()
                )
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, dict[str, str], int]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            size = int(headers["content-length"])
            await self.reader.readexactly(size)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            size = 0
            while True:
                chunk = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(chunk + 2)
                size += chunk
                if chunk == 0:
                    break
        else:
            raise ConnectionError(f"answer without a length: {headers}")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def client_loop(
    conn: LeanConnection, rng: random.Random, stop_at: float, tally: Tally, load: Workload
) -> None:
    while time.monotonic() < stop_at:
        kind, path, params = make_request(rng, load)
        started = time.perf_counter()
        try:
            status, headers, _size = await asyncio.wait_for(conn.get(path, params), 60)
            hit = headers.get("x-cache-hit")
            source = headers.get("x-cache-source")
            tally.add_server_time(kind, headers.get("x-query-time-ms"), hit)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status, hit, source = f"transport-{type(exc).__name__}", None, None
            conn.close()
        tally.add(kind, time.perf_counter() - started, status, hit, source)


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (Linux ``/proc``).

    The server's own figure: CPU per answer does not depend on how busy the machine is,
    where latency does (2 shared cores). Worker processes count while they run.
    """
    return sum(process_tree_cpu(pid).values())


def process_tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each live descendant (the supervisor and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    split: dict[int, float] = {}
    todo, seen = [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            split[current] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return split


def connections_by_process(pid: int, port: int) -> dict[int, int]:
    """Established connections to ``port`` each process of the server tree holds.

    Why: clients keep one connection each, so a worker that accepted more of them queues
    more requests for the whole run; an uneven split shows up as a longer tail.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    split: dict[int, int] = {}
    for current in process_tree_cpu(pid):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{current}/fd").iterdir()]
        except OSError:
            continue
        held = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if held:
            split[current] = held
    return split


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_load(
    base_url: str,
    *,
    clients: int,
    seconds: float,
    seed: int,
    unique: bool,
    anchor: tuple[str, int, int],
    server_pid: int | None = None,
) -> tuple[Tally, float]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    site, today, hot_days = anchor
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        names = [
            p["name"]
            for p in (await client.get(f"/v1/sites/{site}/points", params={"limit": 10000})).json()[
                "points"
            ]
        ]
    load = make_workload(names, site, hot_days, seed=seed, unique=unique, today=today)
    parsed = urlsplit(base_url)
    # gzip accepted (as browsers do) but never decoded here: the client only counts bytes
    lean = {**headers, "Accept-Encoding": "gzip"}
    conns = [
        LeanConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, lean)
        for _ in range(clients)
    ]
    tally = Tally()
    started = time.monotonic()

    async def note_split() -> None:
        if server_pid is None:
            return
        await asyncio.sleep(min(2.0, seconds / 2))
        tally.connection_split = connections_by_process(server_pid, parsed.port or 80)
        await asyncio.sleep(max(0.0, seconds - 1.0 - min(2.0, seconds / 2)))
        tally.connection_split_end = connections_by_process(server_pid, parsed.port or 80)

    try:
        await asyncio.gather(
            note_split(),
            *(
                client_loop(conn, random.Random(seed + i), started + seconds, tally, load)
                for i, conn in enumerate(conns)
            ),
        )
    finally:
        for conn in conns:
            conn.close()
    return tally, time.monotonic() - started


def report(
    tally: Tally,
    elapsed: float,
    *,
    server_cpu_s: float,
    generator_cpu_s: float,
    cpu_split: dict[int, float] | None = None,
    unique: bool = True,
) -> None:
    everything = [s for values in tally.latencies.values() for s in values]
    print(
        f"{'kind':<16}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
        f"{'srv p50':>10}{'srv mean':>10}"
    )
    for kind, values in sorted(tally.latencies.items()):
        server = tally.server_by_kind.get(kind, [])
        server_cols = (
            f"{pct(server, 0.5):>10.1f}{statistics.mean(server) * 1000:>10.1f}" if server else ""
        )
        print(
            f"{kind:<16}{len(values):>7}{pct(values, 0.5):>10.1f}{pct(values, 0.95):>10.1f}"
            f"{pct(values, 0.99):>10.1f}{max(values) * 1000:>10.1f}{server_cols}"
        )
    print(
        f"{'all':<16}{len(everything):>7}{pct(everything, 0.5):>10.1f}{pct(everything, 0.95):>10.1f}"
        f"{pct(everything, 0.99):>10.1f}{max(everything) * 1000:>10.1f}"
    )
    print(
        f"requests/s: {len(everything) / elapsed:.1f} over {elapsed:.1f} s; "
        f"mean {statistics.mean(everything) * 1000:.1f} ms"
    )
    ratio = tally.hits / tally.cached_kinds if tally.cached_kinds else 0.0
    print(f"cache hit ratio (time-series answers): {ratio:.2%}")
    answered = sum(tally.sources.values())
    if answered:
        print(
            "where answers came from (X-Cache-Source): "
            + ", ".join(
                f"{name} {count} ({count / answered:.1%})"
                for name, count in sorted(tally.sources.items())
            )
        )
    for label, values in (("hit", tally.server_ms_hit), ("miss", tally.server_ms_miss)):
        if values:
            print(
                f"server-side X-Query-Time-Ms, cache {label}: n={len(values)} p50 {pct(values, 0.5):.1f} "
                f"p95 {pct(values, 0.95):.1f} p99 {pct(values, 0.99):.1f} ms"
            )
    print(
        "(srv = X-Query-Time-Ms of cache misses: wall time inside the server, which includes "
        "waiting for a core and an engine slot under load)"
    )
    count = len(everything)
    print(
        f"server CPU: {server_cpu_s:.1f} s = {server_cpu_s / count * 1000:.2f} ms per answer "
        f"({server_cpu_s / elapsed:.0%} of one core); load generator CPU: {generator_cpu_s:.1f} s "
        f"= {generator_cpu_s / count * 1000:.2f} ms per request ({generator_cpu_s / elapsed:.0%} "
        "of one core)"
    )
    if cpu_split and len(cpu_split) > 1:
        print(
            "server CPU by process (supervisor first): "
            + ", ".join(f"pid {pid} {cpu:.1f} s" for pid, cpu in cpu_split.items())
        )
    for when, split in (
        ("2 s in", tally.connection_split),
        ("1 s before the end", tally.connection_split_end),
    ):
        if len(split) > 1:
            print(
                f"client connections by process ({when}): "
                + ", ".join(f"pid {pid} {n}" for pid, n in sorted(split.items()))
            )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"errors: {sum(tally.errors.values())} {tally.errors or ''}")
    p95 = pct(everything, 0.95)
    limit = 1000 if unique else 50  # issue 11: unique mix p95 <= 1 s; cached mix <= 50 ms
    print(
        f"target p95 <= {limit} ms and 0 errors: "
        f"{'MET' if p95 <= limit and not tally.errors else 'NOT MET'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--hot-days", type=int, default=20)
    parser.add_argument("--cold-days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1, help="vitals serve --workers")
    parser.add_argument(
        "--engine-slots",
        type=int,
        default=None,
        help="vitals serve --engine-slots (default: the server's, cores / workers)",
    )
    parser.add_argument(
        "--shared-cache",
        choices=["auto", "on", "off"],
        default="auto",
        help="vitals serve --shared-cache (auto: shared with more than one worker)",
    )
    parser.add_argument(
        "--unique",
        action="store_true",
        help="random point sets (almost no repeats: measures the engine, not the cache)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 1000 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be 1-1000 and --seconds 1-600")
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vitals-bench" / "api"
        )
        print(f"building/reusing bench data in {data_dir}", flush=True)
        build_data(data_dir, points=args.points, hot_days=args.hot_days, cold_days=args.cold_days)
    anchor = data_anchor(data_dir)
    print(f"site {anchor[0]}: data up to {anchor[1]} ms, {anchor[2]} hot days", flush=True)
    # a leftover file of an earlier run is emptied by the server's start (new generation)
    proc, base_url = start_server(data_dir, args.workers, args.engine_slots, args.shared_cache)
    try:
        print(
            f"API at {base_url} ({args.workers} worker(s), --shared-cache {args.shared_cache}); "
            f"{args.clients} clients for "
            f"{args.seconds:.0f} s",
            flush=True,
        )
        print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        cpu_before = process_tree_cpu(proc.pid)
        generator_cpu = time.process_time()
        tally, elapsed = asyncio.run(
            run_load(
                base_url,
                clients=args.clients,
                seconds=args.seconds,
                seed=args.seed,
                unique=args.unique,
                anchor=anchor,
                server_pid=proc.pid,
            )
        )
        generator_cpu_s = time.process_time() - generator_cpu
        cpu_after = process_tree_cpu(proc.pid)
        cpu_split = {pid: cpu - cpu_before.get(pid, 0.0) for pid, cpu in cpu_after.items()}
        report(
            tally,
            elapsed,
            server_cpu_s=sum(cpu_split.values()),
            generator_cpu_s=generator_cpu_s,
            cpu_split=cpu_split,
            unique=args.unique,
        )
        metrics = httpx.get(f"{base_url}/metrics").text
        print("/metrics of one worker (each worker process has its own):")
        for line in metrics.splitlines():
            if line.startswith(
                (
                    "vitals_api_cache_hits_total",
                    "vitals_api_cache_misses_total",
                    "vitals_api_cache_bytes",
                    "vitals_api_samples_returned_total",
                    "vitals_api_shared_cache_",
                    "vitals_api_worker{",
                    "vitals_api_connections_rebalanced",
                )
            ):
                print(f"  {line}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
