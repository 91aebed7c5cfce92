"""Shared fixtures: running engines and client sockets, all cleaned up after each test."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.server import EchoEngine

if TYPE_CHECKING:
    from tests.pty_app import PtyApp
    from tests.remote_helpers import Served

# Property-based tests: a short run by default (CI); `--hypothesis-profile=long` for many more.
_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=25, stateful_step_count=40, **_FUZZ)
settings.register_profile("long", max_examples=300, stateful_step_count=60, **_FUZZ)
settings.load_profile("default")


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


@pytest.fixture
def pty_app() -> Iterator[Callable[..., PtyApp]]:
    """Start `echo-tui` (or another command) in pseudo-terminals; all killed afterwards.

    Skips where the platform has no pseudo-terminals (Windows).
    """
    pytest.importorskip("termios", reason="no pseudo-terminals on this platform")
    from tests.pty_app import PtyApp

    apps: list[PtyApp] = []

    def start(*args: str, **options: object) -> PtyApp:
        app = PtyApp(*args, **options)  # type: ignore[arg-type]
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


@pytest.fixture
def served() -> Iterator[type[Served]]:
    """serve(...) engines and viewer servers; all stopped afterwards."""
    started: list[Served] = []

    from tests.remote_helpers import serve

    def start(*args: object, **options: object) -> Served:
        server = serve(*args, **options)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()
