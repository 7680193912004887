"""The response cache shared by a host's workers: a real SQLite file, real processes.

The first tests drive :class:`SharedCache` (and the in-memory cache in front of it)
directly over a real file, two instances standing for two workers; the rest start
``vitals serve --workers 2`` on loopback and prove over real HTTP that one worker's
answer is served by the other, that new hot samples reach both, that a corrupt or
locked file only costs computing, and that the bound evicts.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.api_site import API_KEYS, POINTS, SITE, ApiSite, build_api_site
from vitals.api.cache import CachedResponse, ResponseCache
from vitals.api.shared_cache import SharedCache, default_path

REPO = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
AUTH = {"Authorization": f"Bearer {API_KEYS[1]}"}


def answer(n: int, size: int = 1000) -> CachedResponse:
    body = (f'{{"n":{n},"pad":"' + "x" * size + '"}').encode()
    return CachedResponse(body, "application/json", n, ("cold",), None)


def open_pair(path: Path, **kwargs) -> tuple[SharedCache, SharedCache]:
    """Two handles on one file with one generation: two workers of one server run."""
    return (
        SharedCache(path, generation="g1", **kwargs),
        SharedCache(path, generation="g1", **kwargs),
    )


# -- the file itself -------------------------------------------------------------------


def test_an_entry_written_by_one_handle_is_read_by_another_with_its_expiry(tmp_path):
    one, two = open_pair(tmp_path / "c.sqlite")
    expires = time.time() + 30
    assert one.put("k", answer(1), expires)
    found = two.get("k")
    assert found is not None
    value, got_expiry = found
    assert value == answer(1)
    assert got_expiry == pytest.approx(expires)  # the computing worker's expiry, not a new one
    assert two.stats.hits == 1 and two.get("other") is None and two.stats.misses == 1


def test_get_or_claim_answers_an_entry_a_claim_or_a_wait_in_one_call(tmp_path):
    path = tmp_path / "c.sqlite"
    one, two = open_pair(path)
    one.put("stored", answer(1), time.time() + 30)
    found, claimed = two.get_or_claim("stored")
    assert found is not None and found[0] == answer(1) and not claimed
    assert two.get_or_claim("new") == (None, True)  # nobody computes it: now ours
    with sqlite3.connect(path) as raw:
        holder = raw.execute("SELECT pid FROM claims WHERE key LIKE '%new'").fetchone()
    raw.close()
    assert holder == (os.getpid(),)
    # another live worker (a real process) holds a fresh claim: wait for its entry
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with sqlite3.connect(path) as raw:
            raw.execute(
                "INSERT INTO claims (key, pid, since) VALUES (?, ?, ?)",
                (two.namespace + "busy", other.pid, time.time()),
            )
        raw.close()
        assert two.get_or_claim("busy") == (None, False)
        one.put("busy", answer(3), time.time() + 30)  # the other worker's answer lands
        found, claimed = two.get_or_claim("busy")
        assert found is not None and found[0] == answer(3) and not claimed
    finally:
        other.kill()
        other.wait()
    # a claim of a worker that died is void
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO claims (key, pid, since) VALUES (?, ?, ?)",
            (two.namespace + "orphan", other.pid, time.time()),
        )
    raw.close()
    assert two.get_or_claim("orphan") == (None, True)


def test_an_answer_with_gzip_is_stored_compressed_only_and_read_back_exactly(tmp_path):
    from isal import igzip

    path = tmp_path / "c.sqlite"
    one, two = open_pair(path)
    body = b'{"series":[' + b",".join(b"%d.25" % i for i in range(20_000)) + b"]}"
    packed = igzip.compress(body, compresslevel=1, mtime=0)
    value = CachedResponse(body, "application/json", 20_000, ("rollup",), packed)
    assert one.put("big", value, time.time() + 30)
    found = two.get("big")
    assert found is not None and found[0] == value  # plain body restored byte for byte
    with sqlite3.connect(path) as raw:
        stored = raw.execute("SELECT length(body), length(gzip_body), size FROM entries").fetchone()
    raw.close()
    assert stored[0] == 0 and stored[1] == len(packed)
    assert stored[2] < len(body) // 3  # the bound counts what the file holds
    plain = answer(5)  # no gzip (small, or for a client without it): stored as it is
    assert one.put("plain", plain, time.time() + 30) and two.get("plain")[0] == plain
    # a compressed-only entry that is not gzip (its checksum intact) is a counted miss
    from vitals.api.shared_cache import _crc

    with sqlite3.connect(path) as raw:
        raw.execute(
            "UPDATE entries SET gzip_body = ?, crc = ? WHERE key LIKE '%big'",
            (b"not gzip at all", _crc(b"", b"not gzip at all")),
        )
    raw.close()
    errors = two.stats.errors
    assert two.get("big") is None and two.stats.errors == errors + 1


def test_an_expired_entry_and_another_generation_are_not_served(tmp_path):
    path = tmp_path / "c.sqlite"
    one, two = open_pair(path)
    one.put("soon", answer(1), time.time() + 0.3)
    one.put("later", answer(2), time.time() + 30)
    earlier_run = SharedCache(path, generation="g0")
    assert earlier_run.get("later") is None  # a new server run never sees an older run's answers
    time.sleep(0.4)
    assert two.get("soon") is None
    assert two.get("later") is not None


def test_the_memory_cache_keeps_a_shared_hit_only_for_its_remaining_life(tmp_path):
    one, two = open_pair(tmp_path / "c.sqlite")
    first, second = ResponseCache(shared=one), ResponseCache(shared=two)
    computed = []

    async def compute():
        computed.append(1)
        return answer(7), 0.5

    async def run():
        got1 = await first.get_or_compute_from("k", compute)
        got2 = await second.get_or_compute_from("k", compute)
        got3 = await second.get_or_compute_from("k", compute)
        await asyncio.sleep(0.6)
        got4 = await second.get_or_compute_from("k", compute)
        return got1, got2, got3, got4

    got1, got2, got3, got4 = asyncio.run(run())
    assert [s for _v, s in (got1, got2, got3, got4)] == ["computed", "shared", "memory", "computed"]
    assert all(v == answer(7) for v, _s in (got1, got2, got3, got4))
    assert len(computed) == 2  # the second worker computed only once the TTL had passed


def test_gzip_attached_later_is_shared(tmp_path):
    one, two = open_pair(tmp_path / "c.sqlite")
    first = ResponseCache(shared=one)

    async def compute():
        return answer(3), 30.0

    async def run():
        await first.get_or_compute_from("k", compute)
        await first.share_gzip("k", packed)

    from isal import igzip

    packed = igzip.compress(answer(3).body, compresslevel=1, mtime=0)
    asyncio.run(run())
    found = two.get("k")
    assert found is not None and found[0].gzip_body == packed and found[0].body == answer(3).body


def test_the_bound_evicts_the_least_recently_used(tmp_path):
    one, two = open_pair(tmp_path / "c.sqlite", max_bytes=20_000)
    for n in range(10):  # 10 x ~1.5 kB
        assert one.put(f"k{n}", answer(n), time.time() + 60)
        time.sleep(0.002)  # distinct use times
    assert two.get("k0") is not None  # k0 now the most recently used
    for n in range(10, 30):
        one.put(f"k{n}", answer(n), time.time() + 60)
        time.sleep(0.002)
    with sqlite3.connect(tmp_path / "c.sqlite") as conn:
        total, rows = conn.execute(
            "SELECT total, (SELECT count(*) FROM entries) FROM meta"
        ).fetchone()
        real = conn.execute("SELECT sum(size) FROM entries").fetchone()[0]
    assert total == real <= 20_000
    assert one.stats.evictions == 30 - rows > 0
    assert two.get("k1") is None  # evicted first
    assert two.get("k29") is not None
    assert not one.put("huge", answer(0, size=30_000), time.time() + 60)  # larger than the bound


def test_a_file_that_is_not_a_database_is_moved_aside_and_counted(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(os.urandom(8192))
    cache = SharedCache(path, generation="g1")
    assert cache.get("k") is None  # no exception
    assert cache.stats.repairs == 1
    assert list(tmp_path.glob("c.sqlite.corrupt-*"))
    assert cache.put("k", answer(1), time.time() + 30)
    assert cache.get("k") is not None


def test_a_corrupt_entry_fails_its_checksum_and_is_a_counted_miss(tmp_path):
    path = tmp_path / "c.sqlite"
    one, two = open_pair(path)
    one.put("k", answer(1), time.time() + 30)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE entries SET body = CAST(replace(body, 'x', 'y') AS BLOB)")
    assert two.get("k") is None
    assert two.stats.errors == 1 and two.stats.hits == 0


def test_a_locked_file_is_a_counted_fallback_to_computing(tmp_path):
    path = tmp_path / "c.sqlite"
    one, two = open_pair(path)
    one.put("k", answer(1), time.time() + 30)
    one.close()
    two.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE meta SET total = total")
    try:
        memory = ResponseCache(shared=two)

        async def compute():
            return answer(9), 30.0

        value, source = asyncio.run(memory.get_or_compute_from("k", compute))
        assert (value, source) == (answer(9), "computed")
        assert two.stats.errors >= 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert two.get("k") is not None  # usable again once released


# -- vitals serve --workers 2 ------------------------------------------------------------


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> ApiSite:
    return build_api_site(tmp_path_factory.mktemp("shared-cache-site"))


@contextmanager
def serve_workers(
    site: ApiSite, *extra: str, workers: int = 2, env_extra: dict[str, str] | None = None
) -> Iterator[str]:
    """``vitals serve --workers 2`` over the site on a free loopback port; yields its URL."""
    env = {
        **os.environ,
        **(env_extra or {}),
        "VITALS_DATA_DIR": str(site.root),
        "VITALS_HOT_STORE": str(site.root / "hot.sqlite"),
        "VITALS_COLD_STORE": str(site.root / "cold"),
        "VITALS_API_KEYS": API_KEYS[1],
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "vitals_cli", "serve", "--port", "0"),
            *("--workers", str(workers), *extra),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port, lines = None, []
        deadline = time.monotonic() + 60
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
        while time.monotonic() < deadline:  # both workers import the app after the bind
            try:
                if len(worker_metrics(base, tries=20)) == workers:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def fetch(base: str, params: dict, *, gzip: bool = True) -> httpx.Response:
    """One request on a new connection (so the kernel picks a worker afresh)."""
    headers = AUTH if gzip else {**AUTH, "Accept-Encoding": "identity"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        response = client.get("/v1/timeseries", params=params)
    assert response.status_code == 200, response.text
    return response


def worker_metrics(base: str, tries: int = 40) -> dict[str, dict[str, float]]:
    """``/metrics`` of each worker seen in ``tries`` scrapes, by worker pid."""
    seen: dict[str, dict[str, float]] = {}
    for _ in range(tries):
        with httpx.Client(base_url=base, timeout=30) as client:
            text = client.get("/metrics").text
        pid = re.search(r'vitals_api_worker\{pid="(\d+)"\}', text)
        assert pid, text[:500]
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        seen[pid.group(1)] = values
        if len(seen) == 2:
            break
    return seen


def cold_query(site: ApiSite, hour: int, interval: str = "5m") -> dict:
    start = site.day_ms(site.cold_days[1])[0] + hour * HOUR
    return {
        "site": SITE,
        "points": list(POINTS[:3]),
        "start": start,
        "end": start + HOUR,
        "interval": interval,
    }


def test_one_workers_answer_is_served_by_the_other(api_site):
    with serve_workers(api_site) as base:
        sources = []
        for hour in range(12):
            params = cold_query(api_site, hour)
            first = fetch(base, params)
            assert first.headers["x-cache-source"] == "computed"
            for _ in range(6):
                again = fetch(base, params)
                assert again.content == first.content
                sources.append(again.headers["x-cache-source"])
        # a repeat is never computed again, whichever worker gets it
        assert "computed" not in sources
        assert "shared" in sources and "memory" in sources
        metrics = worker_metrics(base)
        assert len(metrics) == 2
        assert sum(m["vitals_api_shared_cache_hits_total"] for m in metrics.values()) >= 1
        assert (
            sum(
                m.get('vitals_api_cache_source_total{source="computed"}', 0.0)
                for m in metrics.values()
            )
            == 12
        )


def test_new_hot_samples_reach_both_workers(api_site):
    day = api_site.hot_days[1]
    start = api_site.day_ms(day)[0]
    params = {
        "site": SITE,
        "points": [POINTS[0]],
        "start": start,
        "end": start + HOUR,
        "interval": "raw",
    }
    with serve_workers(api_site, "--hot-ttl", "1") as base:
        before = fetch(base, params).json()["series"][0]["v"]
        for _ in range(8):  # both workers now hold the answer (in memory or shared)
            assert fetch(base, params).json()["series"][0]["v"] == before
        ts = start + 36_055
        api_site.data.put_hot([(POINTS[0], ts, -123.5)])  # through the real hot store
        time.sleep(1.2)
        answered_before = {
            pid: sum(v for k, v in m.items() if k.startswith("vitals_api_cache_source_total"))
            for pid, m in worker_metrics(base).items()
        }
        for _ in range(60):
            values = fetch(base, params).json()["series"][0]["v"]
            assert values[0] == -123.5 and values[1:] == before[1:]
            answered = {
                pid: sum(v for k, v in m.items() if k.startswith("vitals_api_cache_source_total"))
                for pid, m in worker_metrics(base).items()
            }
            if len(answered) == 2 and all(answered[p] > answered_before[p] for p in answered):
                break  # each worker has answered since the write, every answer the new one
        else:
            pytest.fail(f"both workers did not answer: {answered_before} -> {answered}")


def test_a_corrupted_file_is_survived_with_a_counted_fallback(api_site):
    with serve_workers(api_site) as base:
        expected = {}
        for hour in range(4):
            params = cold_query(api_site, hour, "15m")
            expected[hour] = fetch(base, params).content
        path = default_path(api_site.root)
        # the entries into the file itself first: small (compressed) entries may all
        # still sit in the WAL, where garbage over the main file would never be read
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        size = path.stat().st_size
        with open(path, "r+b") as handle:  # garbage over the whole file, in place
            handle.write(os.urandom(size))
        for hour in range(4, 16):
            params = cold_query(api_site, hour, "15m")
            expected[hour] = fetch(base, params).content
        for hour, body in expected.items():
            for _ in range(3):
                assert fetch(base, cold_query(api_site, hour, "15m")).content == body
        metrics = worker_metrics(base)
        counted = sum(
            m["vitals_api_shared_cache_errors_total"] + m["vitals_api_shared_cache_repairs_total"]
            for m in metrics.values()
        )
        assert counted >= 1


def test_the_shared_bound_evicts_across_workers(api_site):
    with serve_workers(api_site, "--shared-cache-mb", "1") as base:
        start = api_site.day_ms(api_site.cold_days[0])[0]
        for n in range(60):  # each ~24 kB of JSON, no gzip (stored as it is): ~1.4 MB in all
            fetch(
                base,
                {
                    "site": SITE,
                    "points": list(POINTS[:5]),
                    "start": start,
                    "end": start + 24 * HOUR - n * 300_000,
                    "interval": "raw",
                },
                gzip=False,
            )
        with sqlite3.connect(default_path(api_site.root)) as conn:
            total = conn.execute("SELECT total FROM meta").fetchone()[0]
            real = conn.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
            kept = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        assert total == real <= 1024 * 1024, (total, real)
        assert 0 < kept < 60
        metrics = worker_metrics(base)
        evicted = sum(m["vitals_api_shared_cache_evictions_total"] for m in metrics.values())
        computed = sum(
            m.get('vitals_api_cache_source_total{source="computed"}', 0.0) for m in metrics.values()
        )
        assert computed == 60
        assert evicted == 60 - kept


def test_a_worker_waits_for_the_other_instead_of_computing_the_same_answer(api_site):
    """Identical requests on both workers at once: one computes, the other takes its entry."""
    start = api_site.day_ms(api_site.cold_days[0])[0]
    end = api_site.day_ms(api_site.hot_days[1])[1]

    async def burst(base: str, n: int) -> list[httpx.Response]:
        params = {"site": SITE, "points": list(POINTS[:4]), "start": start, "end": end - n * HOUR}
        params["interval"] = "15m"
        clients = [httpx.AsyncClient(base_url=base, headers=AUTH, timeout=60) for _ in range(16)]
        try:
            return await asyncio.gather(*(c.get("/v1/timeseries", params=params) for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    with serve_workers(api_site) as base:
        for n in range(6):
            answers = asyncio.run(burst(base, n))
            assert {a.status_code for a in answers} == {200}
            assert len({a.content for a in answers}) == 1
            assert [a.headers["x-cache-source"] for a in answers].count("computed") == 1
        metrics = worker_metrics(base)
        assert sum(m["vitals_api_shared_cache_waits_total"] for m in metrics.values()) >= 1
        computed = 'vitals_api_cache_source_total{source="computed"}'
        assert sum(m.get(computed, 0.0) for m in metrics.values()) == 6


def test_one_worker_uses_the_shared_file_when_asked_and_a_restart_never_reads_it(api_site):
    params = cold_query(api_site, 20)
    with serve_workers(api_site, "--shared-cache", "on", workers=1) as base:
        assert fetch(base, params).headers["x-cache-source"] == "computed"
        with sqlite3.connect(default_path(api_site.root)) as conn:
            (first_run,) = conn.execute("SELECT count(*) FROM entries").fetchone()
        assert first_run >= 1
    with serve_workers(api_site, "--shared-cache", "on", workers=1) as base:
        # a new run (new generation) computes again: the data may have changed meanwhile
        assert fetch(base, params).headers["x-cache-source"] == "computed"
    with serve_workers(api_site, "--shared-cache", "off", workers=1) as base:
        assert "vitals_api_shared_cache_hits_total" not in httpx.get(f"{base}/metrics").text


def test_engine_slots_and_read_threads_default_to_one_per_core_across_workers(api_site):
    from vitals.api.serve import per_core_share

    assert [per_core_share(w, cores=2) for w in (1, 2, 3)] == [2, 1, 1]
    assert per_core_share(2, cores=8) == 4
    with serve_workers(api_site) as base:
        seen = worker_metrics(base).values()
    per_core = float(per_core_share(2))
    assert len(seen) == 2 and {v["vitals_api_engine_slots"] for v in seen} == {per_core}
    assert {v["vitals_api_read_threads"] for v in seen} == {per_core}  # one reader per core
    with serve_workers(
        api_site, "--engine-slots", "3", env_extra={"VITALS_READ_THREADS": "2"}
    ) as base:
        seen = worker_metrics(base).values()
    assert {v["vitals_api_engine_slots"] for v in seen} == {3.0}
    assert {v["vitals_api_read_threads"] for v in seen} == {2.0}  # the operator's choice wins


async def _ask_worker(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[str, bool]:
    """One GET /metrics on a kept connection: (the answering worker's pid, whether it closes)."""
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = int(re.search(r"(?i)content-length: (\d+)", head).group(1))
    body = (await reader.readexactly(length)).decode()
    pid = re.search(r'vitals_api_worker\{pid="(\d+)"\}', body).group(1)
    return pid, bool(re.search(r"(?i)connection: close", head))


async def _clients_per_worker(base: str, count: int, seconds: float) -> tuple[list[str], list[str]]:
    """``count`` clients keeping one connection each, opened together, asking for ``seconds``.

    Returns the worker of each client's first and of its last answer; a client told
    ``Connection: close`` opens a new connection, as browsers do.
    """
    port = int(base.rsplit(":", 1)[1])
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    first = [""] * count
    last = [""] * count
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        reader, writer = conns[i]
        while True:
            pid, closes = await _ask_worker(reader, writer)
            first[i] = first[i] or pid
            last[i] = pid
            if closes:
                writer.close()
                reader, writer = conns[i] = await asyncio.open_connection("127.0.0.1", port)
            if time.monotonic() > stop:
                break
            await asyncio.sleep(0.02)

    try:
        await asyncio.gather(*(client(i) for i in range(count)))
    finally:
        for _reader, writer in conns:
            writer.close()
    return first, last


def test_kept_connections_are_spread_evenly_over_the_workers(api_site):
    """Clients that keep their connection stay on the worker that accepted it.

    On one shared listening socket, the worker that woke first took most of a burst
    (100 load clients split 69/31, and the busier worker's clients waited twice as
    long). A socket per worker in a SO_REUSEPORT group lets the kernel spread them by
    hash; a worker holding more than its share + 1 then closes the excess after an
    answer (vitals.api.balance), and the reconnected clients even the split out.
    """
    with serve_workers(api_site) as base:
        first, last = asyncio.run(_clients_per_worker(base, 40, seconds=6.0))
        metrics = worker_metrics(base)
    at_first = sorted(first.count(pid) for pid in set(first))
    at_last = sorted(last.count(pid) for pid in set(last))
    # by address hash: 8 or fewer of 40 on one worker has odds of ~1e-5
    assert len(at_first) == 2 and at_first[0] >= 9, at_first
    # each worker ends within its share (20) + slack (1), give or take one reconnecting
    assert len(at_last) == 2 and at_last[0] >= 18, (at_first, at_last)
    rebalanced = sum(m["vitals_api_connections_rebalanced"] for m in metrics.values())
    assert rebalanced >= (20 - at_first[0]) - 1, (at_first, rebalanced)


def test_a_worker_sheds_only_what_it_holds_above_its_share(tmp_path):
    """Real files and real processes: the other worker's count, a dead worker's file."""
    from vitals.api.balance import WorkerShares

    clock = [0.0]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / str(other.pid)).write_text("10")
        (tmp_path / "999999999").write_text("50")  # no such process: removed, not counted
        mine = WorkerShares(tmp_path, pid=os.getpid(), clock=lambda: clock[0])
        # 30 + 10 over two workers: share 20, slack 1, so 9 connections close
        assert sum(mine.should_close(30) for _ in range(20)) == 9
        assert not (tmp_path / "999999999").exists()
        assert (tmp_path / str(os.getpid())).read_text() == "30"
        clock[0] += 1.0  # the next refresh: 11 against 10 is within share (11) + slack
        assert not any(mine.should_close(11) for _ in range(5))
    finally:
        other.kill()
        other.wait()
    clock[0] += 1.0
    assert not any(mine.should_close(30) for _ in range(5))  # alone: its share is everything
    assert WorkerShares(None).should_close(1000) is False  # one worker: nothing to balance


def test_serve_checks_the_shared_cache_options():
    from vitals.api.serve import main

    assert main(["--shared-cache-mb", "0"]) == 2
    assert main(["--hot-ttl", "-1"]) == 2


# -- Redis (several hosts), against the real server at 127.0.0.1:6379 -------------------

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_generation() -> Iterator[str]:
    """A generation of this test's own; its keys are deleted afterwards (the server is shared)."""
    import secrets

    import redis

    generation = f"test-{secrets.token_hex(6)}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is needed: {exc}")
    yield generation
    for name in client.scan_iter(match=f"vitals:api:*:{generation}:*"):
        client.delete(name)
    client.close()


def test_redis_entries_keep_their_expiry_and_checksum(redis_generation):
    import redis

    from vitals.api.redis_cache import RedisSharedCache

    one = RedisSharedCache(REDIS_URL, generation=redis_generation)
    two = RedisSharedCache(REDIS_URL, generation=redis_generation)
    expires = time.time() + 30
    assert one.put("k", answer(1), expires)
    found = two.get("k")
    assert found is not None and found[0] == answer(1)
    assert found[1] == pytest.approx(expires, abs=0.5)
    assert RedisSharedCache(REDIS_URL, generation=redis_generation + "x").get("k") is None
    one.put("soon", answer(2), time.time() + 0.3)
    time.sleep(0.4)
    assert two.get("soon") is None
    raw = redis.Redis.from_url(REDIS_URL)
    blob = raw.get(two.namespace + "k")
    raw.set(two.namespace + "k", blob.replace(b"x", b"y"), px=30_000)  # same length, new bytes
    assert two.get("k") is None and two.stats.errors == 1
    # a claim held by another host: this one waits; gone, this one computes
    raw.set(two._claim_key("c"), b"other-host:1", px=30_000)
    assert not two.claim("c")
    raw.delete(two._claim_key("c"))
    assert two.claim("c")
    raw.set(two._claim_key("d"), b"other-host:1", px=30_000)
    assert two.get_or_claim("d") == (None, False)
    one.put("d", answer(4), time.time() + 30)
    found, claimed = two.get_or_claim("d")
    assert found is not None and found[0] == answer(4) and not claimed
    assert two.get_or_claim("e") == (None, True)
    assert raw.get(two._claim_key("e")) == two._owner.encode()
    raw.close()


def test_an_unreachable_redis_is_a_counted_fallback(tmp_path):
    from vitals.api.redis_cache import RedisSharedCache

    with socket_bound_nowhere() as port:
        down = RedisSharedCache(f"redis://127.0.0.1:{port}/0", generation="g")
        memory = ResponseCache(shared=down)

        async def compute():
            return answer(5), 30.0

        value, source = asyncio.run(memory.get_or_compute_from("k", compute))
    assert (value, source) == (answer(5), "computed")
    assert down.stats.errors >= 2  # the lookup and the write


@contextmanager
def socket_bound_nowhere() -> Iterator[int]:
    """A loopback port nobody listens on (bound, never listening)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_two_hosts_share_answers_through_redis(api_site, redis_generation):
    env = {"VITALS_API_CACHE_URL": REDIS_URL, "VITALS_API_CACHE_GENERATION": redis_generation}
    params = cold_query(api_site, 21, "15m")
    with (
        serve_workers(api_site, workers=1, env_extra=env) as host_a,
        serve_workers(api_site, workers=1, env_extra=env) as host_b,
    ):
        first = fetch(host_a, params)
        assert first.headers["x-cache-source"] == "computed"
        second = fetch(host_b, params)
        assert second.headers["x-cache-source"] == "shared"
        assert second.content == first.content
        assert fetch(host_b, params).headers["x-cache-source"] == "memory"
