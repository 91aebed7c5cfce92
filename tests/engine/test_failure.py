"""A bug inside the loop: it reaches the channel, every socket closes, the port is free."""

from __future__ import annotations

import socket

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import SHUTDOWN, EngineStopped
from echo_tui.engine.server import EchoEngine
from tests.engine.conftest import is_closed, roundtrip


def test_an_exception_in_the_loop_reaches_the_channel_and_stops_the_engine(
    make_engine, connect, consumer
):
    engine = make_engine()
    view = consumer(engine)
    bystanders = [connect(engine.address) for _ in range(3)]
    for client in bystanders:
        roundtrip(client, b"fine so far")

    stamp_activity = engine._stamp_activity

    def broken() -> None:
        if engine._active:  # traffic to date: the next tick after a read blows up the loop
            raise RuntimeError("injected fault")
        stamp_activity()

    engine._stamp_activity = broken
    bystanders[0].sendall(b"trigger")
    assert engine.stopped.wait(2)
    error = view.until(lambda v: v.error)
    assert error is engine.error
    assert error.message == "RuntimeError: injected fault"
    assert "Traceback" in error.traceback and "in broken" in error.traceback
    for client in bystanders:
        assert is_closed(client, timeout=1)
    view.until(lambda v: v.of(EngineStopped))
    assert view.snapshot.open_count == 0 and view.snapshot.totals.closed[SHUTDOWN] == 3
    assert not view.conns
    # The listener is closed and the port free again (a restart with SO_REUSEADDR binds).
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(engine.address, timeout=1)
    again = socket.socket()
    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    again.bind(engine.address)
    again.close()
    late = engine.kick(1).result(0)
    assert not late.ok
    engine.stop()  # still harmless


def test_a_failed_start_leaves_nothing_open() -> None:
    """If start() fails after binding, the port is released at once."""

    class BrokenSelector:
        def __init__(self) -> None:
            raise OSError(24, "Too many open files")

    engine = EchoEngine(EngineConfig(port=0))
    engine._selector_cls = BrokenSelector  # type: ignore[assignment]
    with pytest.raises(OSError):
        engine.start()
    port = engine.address[1]
    assert port != 0  # it had bound
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
