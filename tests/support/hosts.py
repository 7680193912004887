"""Separate "hosts" on one machine: network namespaces made with `ip netns`, each joined
to the root namespace by a veth pair, reaching the shared services (PostgreSQL, the
broker, Redis, S3, ACE) only through TCP forwarders on one service address.

A host in its own namespace has its own loopback: nothing listening on the machine's
127.0.0.1 is reachable from it except through the forwarded ports, so the host shares
exactly what a real second machine would (the network services), and no files (each
host gets its own folders). Without root or `ip netns` (a container without
CAP_NET_ADMIN), ``netns_available`` is False and callers fall back to processes on
loopback with separate folders.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def netns_available() -> bool:
    """True if this process may create network namespaces and veth pairs."""
    if os.geteuid() != 0:
        return False
    probe = f"vprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (OSError, subprocess.SubprocessError):
        return False
    try:
        _ip("netns", "del", probe)
    except (OSError, subprocess.SubprocessError):
        pass
    return True


class Forwarder:
    """Accept on ``listen`` and pipe each connection to ``target`` (both directions)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen, reuse_port=False)
        self.server.settimeout(0.5)
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True, name=f"fwd:{listen}")
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            # One side closed (or its process was killed): close both, as the kernel
            # would for a direct connection, so the service sees the peer go away.
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with suppress(OSError):
                    sock.close()
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)

    def close(self) -> None:
        self._stop.set()
        with suppress(OSError):
            self.server.close()
        with self._lock:
            for sock in list(self._open):
                with suppress(OSError):
                    sock.close()
        self.thread.join(timeout=5)


@dataclass
class Namespace:
    """One host's network: run commands in it with ``prefix + [...]``."""

    name: str
    address: str  # the host's own address

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


@contextmanager
def service_address(ports: list[int]) -> Iterator[str]:
    """One address on the machine (on its loopback) where every shared service appears.

    Each of ``ports`` of 127.0.0.1 is forwarded there, so every host, in whichever
    namespace, names a service by the same URL, as real hosts would by its DNS name (the
    ACE client keys the shared limiter and breaker by its base URL).
    """
    address = f"10.214.{os.getpid() % 250}.1"
    # Not 127/8: an address on lo outside it is reachable from the veth pairs.
    _ip("addr", "add", f"{address}/32", "dev", "lo")
    forwarders: list[Forwarder] = []
    try:
        for port in ports:
            forwarders.append(Forwarder((address, port), ("127.0.0.1", port)))
        yield address
    finally:
        for forwarder in forwarders:
            forwarder.close()
        with suppress(subprocess.SubprocessError):
            _ip("addr", "del", f"{address}/32", "dev", "lo")


@contextmanager
def host_namespace(index: int) -> Iterator[Namespace]:
    """A namespace joined to the root namespace by a veth pair, routed through it."""
    tag = f"{os.getpid() % 100000}{index}"
    name, outer, inner = f"vitals{tag}", f"vo{tag}", f"vi{tag}"
    subnet = f"10.213.{(os.getpid() * 7 + index) % 250}"
    gateway, address = f"{subnet}.1", f"{subnet}.2"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("addr", "add", f"{gateway}/24", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("-n", name, "addr", "add", f"{address}/24", "dev", inner)
        _ip("-n", name, "link", "set", inner, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "route", "add", "default", "via", gateway)
        yield Namespace(name, address)
    finally:
        with suppress(subprocess.SubprocessError):
            _ip("link", "del", outer)
        with suppress(subprocess.SubprocessError):
            _ip("netns", "del", name)
