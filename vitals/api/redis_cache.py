"""The shared response cache in Redis, for API workers on several hosts.

``VITALS_API_CACHE_URL=redis://host:6379/0`` puts this behind every worker's in-memory
cache instead of the host's SQLite file (:mod:`vitals.api.shared_cache`), with the same
rules: the in-process keys prefixed by entry format and generation, each entry living
exactly the rest of the TTL its computing worker gave it (Redis ``PX``; read back with
``PTTL``, so hosts' clocks need not agree), a CRC-32 over the bodies checked on read,
claims so one worker computes a key while the others poll (``SET NX PX``: a claim of a
dead worker lapses after ``CLAIM_MAX_S``), and every Redis error a counted fallback to
computing. Differences: the bound is Redis's own (``maxmemory`` with an LRU policy on that
server: set one), and the generation is ``VITALS_API_CACHE_GENERATION`` (shared by the
hosts; change it when stored data is rewritten while the API is down), because one
host's restart must not hide the others' answers.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import zlib

import redis

from vitals.api.cache import CachedResponse
from vitals.api.shared_cache import CLAIM_MAX_S, ENTRY_FORMAT, SharedStats

DEFAULT_TIMEOUT_S = 0.1


def _crc(body: bytes, gzip_body: bytes | None) -> int:
    return zlib.crc32(gzip_body or b"", zlib.crc32(body))


def _pack(value: CachedResponse) -> bytes:
    head = json.dumps(
        {
            "m": value.media_type,
            "s": value.samples,
            "t": list(value.tiers),
            "b": len(value.body),
            "g": None if value.gzip_body is None else len(value.gzip_body),
            "c": _crc(value.body, value.gzip_body),
        },
        separators=(",", ":"),
    ).encode()
    return b"%d\n" % len(head) + head + value.body + (value.gzip_body or b"")


def _unpack(blob: bytes) -> CachedResponse:
    """The entry, or ``ValueError`` when the blob is not one (or fails its checksum)."""
    size_line, _, rest = blob.partition(b"\n")
    head_size = int(size_line)
    head = json.loads(rest[:head_size])
    data = rest[head_size:]
    body = data[: head["b"]]
    gzip_body = None if head["g"] is None else data[head["b"] : head["b"] + head["g"]]
    if len(body) != head["b"] or (gzip_body is not None and len(gzip_body) != head["g"]):
        raise ValueError("truncated shared cache entry")
    if _crc(body, gzip_body) != head["c"]:
        raise ValueError("shared cache entry fails its checksum")
    return CachedResponse(body, head["m"], int(head["s"]), tuple(head["t"]), gzip_body)


class RedisSharedCache:
    """Rendered answers in Redis under ``vitals:api:<format>:<generation>:<key>``."""

    def __init__(
        self,
        url: str,
        *,
        generation: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.generation = generation
        self.namespace = f"vitals:api:{ENTRY_FORMAT}:{generation}:"
        self.stats = SharedStats()
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()  # stats only: redis-py pools its connections

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def get(self, key: str, *, count: bool = True) -> tuple[CachedResponse, float] | None:
        """The live entry and its expiry on this host's wall clock, or ``None``."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.get(self.namespace + key)
                pipe.pttl(self.namespace + key)
                blob, pttl = pipe.execute()
            if blob is None or pttl is None or pttl <= 0:
                if count:
                    self._count("misses")
                return None
            value = _unpack(blob)
        except (redis.RedisError, ValueError, KeyError, TypeError):
            self._count("errors")
            return None
        self._count("hits")
        return value, time.time() + pttl / 1000.0

    def put(self, key: str, value: CachedResponse, expires_at: float) -> bool:
        """Store until ``expires_at`` (as a Redis TTL); gives up this worker's claim."""
        ttl_ms = int((expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return False
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self.namespace + key, _pack(value), px=ttl_ms)
                pipe.delete(self._claim_key(key))
                pipe.execute()
        except redis.RedisError:
            self._count("errors")
            return False
        return True

    def _claim_key(self, key: str) -> str:
        return f"{self.namespace}claim:{key}"

    def claim(self, key: str) -> bool:
        """True when this worker should compute ``key`` (claimed, or Redis unusable)."""
        try:
            won = self._client.set(
                self._claim_key(key), self._owner, nx=True, px=int(CLAIM_MAX_S * 1000)
            )
            if won:
                return True
            return bool(self._client.get(self._claim_key(key)) == self._owner.encode())
        except redis.RedisError:
            self._count("errors")
            return True

    def get_or_claim(self, key: str) -> tuple[tuple[CachedResponse, float] | None, bool]:
        """A live entry, or whether this worker now holds the claim.

        Looked at again after a won claim: the other worker may have stored it just before.
        """
        found = self.get(key)
        if found is not None:
            return found, False
        if not self.claim(key):
            return None, False
        found = self.get(key, count=False)
        if found is not None:
            self.release(key)
            return found, False
        return None, True

    def release(self, key: str) -> None:
        """Drop this worker's claim on ``key`` (its answer was not cached)."""
        try:
            if self._client.get(self._claim_key(key)) == self._owner.encode():
                self._client.delete(self._claim_key(key))
        except redis.RedisError:
            self._count("errors")

    def total_bytes(self) -> int:
        """Redis's ``used_memory`` (the whole server), or -1 when unreachable."""
        try:
            return int(self._client.info("memory")["used_memory"])
        except (redis.RedisError, KeyError, ValueError):
            return -1

    def prepare(self) -> None:
        """Nothing to clear: other hosts may be serving this generation's entries."""

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
