"""Shared test helpers: waiting on conditions with deadlines, and a running engine."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.server import EchoEngine


def wait_for(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.005):
    """Poll `condition` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


def recv_exactly(sock: socket.socket, size: int, timeout: float = 5.0) -> bytes:
    """Read exactly `size` bytes or fail the test."""
    sock.settimeout(timeout)
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            pytest.fail(f"EOF after {len(chunks)} of {size} bytes")
        chunks += chunk
    return bytes(chunks)


@pytest.fixture
def make_engine() -> Iterator[Callable[..., EchoEngine]]:
    """Start engines on 127.0.0.1:0 with the given config fields; all stopped afterwards."""
    engines: list[EchoEngine] = []

    def start(**fields: object) -> EchoEngine:
        engine = EchoEngine(EngineConfig(**{"port": 0, **fields}))  # type: ignore[arg-type]
        engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.stop()
        assert engine.stopped.wait(5), "engine thread did not stop"


@pytest.fixture
def engine(make_engine: Callable[..., EchoEngine]) -> EchoEngine:
    return make_engine()


@pytest.fixture
def connect() -> Iterator[Callable[..., socket.socket]]:
    """Open client sockets to an address; all closed afterwards."""
    sockets: list[socket.socket] = []

    def open_client(address: tuple[str, int], **options: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for option, value in options.items():  # e.g. SO_RCVBUF=4096, before connecting
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
        sock.settimeout(5)
        sock.connect(address)
        sockets.append(sock)
        return sock

    yield open_client
    for sock in sockets:
        sock.close()
