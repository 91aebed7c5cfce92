"""Engine test helpers: a consumer that keeps the engine's view, and echo round trips."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from echo_tui.engine.connection import format_peer
from echo_tui.engine.events import Connected, ConnectionStats, EngineError, Snapshot
from echo_tui.engine.server import EchoEngine
from tests.helpers import recv_exactly, wait_for


class Consumer:
    """Drains an engine's channel like the UI does and keeps the view the snapshots describe."""

    def __init__(self, engine: EchoEngine) -> None:
        self.engine = engine
        self.events: list[object] = []
        self.snapshot: Snapshot | None = None
        self.conns: dict[int, ConnectionStats] = {}
        self.error: EngineError | None = None

    def poll(self) -> Consumer:
        events, snapshot, error = self.engine.channel.drain()
        self.events += events
        if snapshot is not None:
            self.snapshot = snapshot
            self.conns.update(snapshot.changed)
            for conn_id in snapshot.closed:
                self.conns.pop(conn_id, None)
        self.error = error or self.error
        return self

    def until(self, condition: Callable[[Consumer], object], timeout: float = 5.0):
        """Drain until `condition(self)` is truthy; return its value."""
        return wait_for(lambda: condition(self.poll()), timeout)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def conn_id(self, client: socket.socket) -> int:
        """The engine's id for a client socket (matched by its address)."""
        peer = format_peer(client.getsockname())
        return self.until(
            lambda c: next((e.conn_id for e in c.of(Connected) if e.peer == peer), None)
        )


@pytest.fixture
def consumer() -> Callable[[EchoEngine], Consumer]:
    return Consumer


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes of every value, not compressible into a pattern the echo could fake."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


class Sender(threading.Thread):
    """Sends `data` on a client from another thread (so the test can read at the same time)."""

    def __init__(self, sock: socket.socket, data: bytes, shutdown: bool = False) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.shutdown, self.error = sock, data, shutdown, None

    def run(self) -> None:
        try:
            self.sock.sendall(self.data)
            if self.shutdown:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self.error = exc


@pytest.fixture
def sender() -> Iterator[Callable[..., Sender]]:
    """Start Sender threads; all joined afterwards (their sockets are closed by `connect`)."""
    threads: list[Sender] = []

    def start(sock: socket.socket, data: bytes, shutdown: bool = False) -> Sender:
        thread = Sender(sock, data, shutdown)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(10)


def roundtrip(sock: socket.socket, data: bytes, timeout: float = 5.0) -> None:
    """Send `data` (small enough to fit the socket buffers) and check its exact echo."""
    sock.sendall(data)
    assert recv_exactly(sock, len(data), timeout) == data


def is_closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the peer closed (EOF or reset) within `timeout`, reading away any echo."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 20):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True
