"""The engine's side of the loop inspector: the trace, step mode and client inspection."""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Callable

from echo_tui.engine.events import (
    CLIENT,
    LISTENER,
    PEER_CLOSED,
    WAKEUP,
    ReadyKey,
    SelectCall,
    Snapshot,
)
from echo_tui.engine.server import EchoEngine
from echo_tui.records import encode
from tests.helpers import recv_exactly, wait_for

Connect = Callable[..., socket.socket]


def latest(engine: EchoEngine) -> Snapshot | None:
    return engine.channel.drain()[1]


def test_no_trace_unless_asked(engine: EchoEngine, connect: Connect) -> None:
    client = connect(engine.address)
    client.sendall(b"x")
    assert recv_exactly(client, 1) == b"x"
    engine.trace(True).result(5)
    client.sendall(b"y")
    assert recv_exactly(client, 1) == b"y"
    calls: list[SelectCall] = []
    wait_for(
        lambda: (
            calls.extend(engine.channel.take_trace())
            or any(e.received == 1 for c in calls for e in c.ready)
        )
    )
    engine.trace(False).result(5)
    engine.channel.take_trace()
    client.sendall(b"z")
    assert recv_exactly(client, 1) == b"z"
    time.sleep(engine.config.tick * 3)  # several snapshots' worth of loop, untraced
    assert engine.channel.take_trace() == []


def test_trace_names_the_listener_and_wakeup(engine: EchoEngine, connect: Connect) -> None:
    engine.trace(True).result(5)
    client = connect(engine.address)
    calls: list[SelectCall] = []

    def roles() -> set[str]:
        calls.extend(engine.channel.take_trace())
        return {e.role for c in calls for e in c.ready}

    wait_for(lambda: LISTENER in roles())
    engine.mute(1).result(5)
    wait_for(lambda: WAKEUP in roles())
    wakeups = [e for c in calls for e in c.ready if e.role == WAKEUP]
    assert any("muted #1" in " ".join(e.commands) for e in wakeups)
    assert all(c.selector == engine.selector_name and c.keys >= 2 for c in calls)
    client.close()


def test_trace_says_what_each_handler_did(engine: EchoEngine, connect: Connect) -> None:
    engine.trace(True).result(5)
    client = connect(engine.address)
    client.sendall(b"hello")
    assert recv_exactly(client, 5) == b"hello"
    client.shutdown(socket.SHUT_WR)
    assert client.recv(1) == b""  # the engine closed its side
    calls: list[SelectCall] = []

    def entries(role: str) -> list[ReadyKey]:
        return [e for c in calls for e in c.ready if e.role == role]

    wait_for(lambda: calls.extend(engine.channel.take_trace()) or entries(CLIENT)[-1:])
    wait_for(lambda: calls.extend(engine.channel.take_trace()) or entries(CLIENT)[-1].closed)
    [accept] = entries(LISTENER)
    host, port = client.getsockname()
    assert accept.accepted == ((entries(CLIENT)[0].fd, f"{host}:{port}"),)
    *echoes, end = entries(CLIENT)
    assert sum(e.received for e in echoes) == sum(e.sent for e in echoes) == 5
    assert not any(e.eof or e.closed or e.pending or e.skipped for e in echoes)
    assert all(e.events_before == e.events_after == selectors.EVENT_READ for e in echoes)
    assert (end.received, end.eof, end.closed) == (0, True, PEER_CLOSED)
    assert (end.events_before, end.events_after) == (selectors.EVENT_READ, 0)
    assert [c.seq for c in calls] == list(range(calls[0].seq, calls[0].seq + len(calls)))


def test_stepping_queues_commands_and_keeps_idle_clients(
    make_engine: Callable[..., EchoEngine], connect: Connect
) -> None:
    engine = make_engine(idle_timeout=0.3)
    engine.trace(True).result(5)
    client, _kicked = connect(engine.address), connect(engine.address)
    wait_for(lambda: (s := latest(engine)) is not None and s.open_count == 2)
    engine.set_stepping(True)
    wait_for(lambda: engine.steps.frozen)
    time.sleep(0.6)  # frozen for twice the idle timeout: that time does not count
    kick = engine.kick(2)
    client.sendall(b"kept")
    assert not kick.done()
    for _ in range(3):
        engine.step()
        wait_for(lambda: engine.steps.frozen)
        if kick.done():
            break
    assert kick.result(0).ok
    assert recv_exactly(client, 4) == b"kept"  # served, not closed as idle
    snapshot = wait_for(lambda: latest(engine))
    assert snapshot.stepping
    engine.set_stepping(False)
    wait_for(lambda: client.recv(1) == b"", timeout=5)  # idle timeouts run again


def test_stop_while_frozen(engine: EchoEngine, connect: Connect) -> None:
    engine.trace(True).result(5)
    engine.set_stepping(True)
    wait_for(lambda: engine.steps.frozen)
    started = time.monotonic()
    engine.stop()
    assert engine.stopped.wait(2)
    assert time.monotonic() - started < 2


def test_inspection_records_only_the_inspected_client(engine: EchoEngine, connect: Connect) -> None:
    client, other = connect(engine.address), connect(engine.address)
    assert engine.inspect(1, preview=True).result(5).ok
    client.sendall(b"\x1b[2Jhello")
    other.sendall(b"other")
    assert recv_exactly(client, 9) and recv_exactly(other, 5)

    def inspected():
        snapshot = latest(engine)
        return snapshot.inspected if snapshot and snapshot.inspected else None

    record = wait_for(lambda: (r := inspected()) and r.preview == b"\x1b[2Jhello" and r)
    assert record.conn_id == 1 and "socket.socket" in record.fileobj
    assert engine.inspect(1, preview=False).result(5).ok
    record = wait_for(lambda: (r := inspected()) and r.preview is None and r)
    assert engine.inspect(None).result(5).ok
    assert not engine.inspect(99).result(5).ok


def test_a_recording_keeps_no_inspected_bytes(engine: EchoEngine, connect: Connect) -> None:
    client = connect(engine.address)
    assert engine.inspect(1, preview=True).result(5).ok
    client.sendall(b"secret")
    assert recv_exactly(client, 6) == b"secret"
    snapshot = wait_for(lambda: (s := latest(engine)) and s.inspected and s.inspected.preview and s)
    kind, data = encode(snapshot)
    assert kind == "Snapshot" and "inspected" not in data
    assert "secret" not in json.dumps(data)
