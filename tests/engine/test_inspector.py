"""The engine's side of the loop inspector: the trace, step mode and client inspection."""

from __future__ import annotations

import json
import select
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import fields

from echo_tui.engine.events import (
    CLIENT,
    IDLE,
    LISTENER,
    PEER_CLOSED,
    WAKEUP,
    Disconnected,
    ReadyKey,
    SelectCall,
    Snapshot,
)
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.records import encode
from tests.engine.conftest import Consumer, is_closed
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


class Trace:
    """The select() calls an engine traced, taken from its channel as the trace screen does."""

    def __init__(self, engine: EchoEngine) -> None:
        assert engine.trace(True).result(5).ok
        self.engine = engine
        self.calls: list[SelectCall] = []

    def take(self) -> list[SelectCall]:
        self.calls += self.engine.channel.take_trace()
        return self.calls

    def after(self, seq: int) -> list[SelectCall]:
        return [call for call in self.take() if call.seq > seq]

    def freeze(self) -> int:
        """Turn step mode on; once the loop is frozen, the number of its last call."""
        self.engine.set_stepping(True)
        frozen = wait_for(lambda: next((c for c in self.take() if c.stepped), None))
        return frozen.seq

    def step(self) -> SelectCall:
        """Run one step (`n`); the call it ran, once the loop is frozen again."""
        last = self.take()[-1].seq
        self.engine.step()
        return wait_for(lambda: next(iter(self.after(last)), None))


def readable(clients: list[socket.socket], timeout: float) -> list[socket.socket]:
    return select.select(clients, [], [], timeout)[0]


def test_each_step_runs_exactly_one_select_call(engine: EchoEngine, connect: Connect) -> None:
    trace = Trace(engine)
    clients = [connect(engine.address) for _ in range(3)]
    wait_for(lambda: (s := latest(engine)) is not None and s.open_count == 3)
    frozen = trace.freeze()
    for number in range(1, 7):
        client = clients[number % 3]
        client.sendall(b"x")  # something for the step's select() to return
        call = trace.step()
        assert call.seq == frozen + number and call.stepped
        if any(key.received for key in call.ready):
            assert recv_exactly(client, 1) == b"x"
    # No call beyond one per step, even given time: the loop waits for the next `n`.
    assert not readable(clients, 1.0)
    assert [call.seq for call in trace.after(frozen)] == list(range(frozen + 1, frozen + 7))
    engine.set_stepping(False)
    for client in clients:
        client.sendall(b"end")
        assert recv_exactly(client, 3) == b"end"


def test_a_frozen_loop_serves_no_client_for_a_full_second(
    engine: EchoEngine, connect: Connect
) -> None:
    trace = Trace(engine)
    clients = [connect(engine.address) for _ in range(5)]
    newcomer_id = len(clients) + 1
    wait_for(lambda: (s := latest(engine)) is not None and s.open_count == 5)
    frozen = trace.freeze()
    assert wait_for(lambda: latest(engine)).stepping  # the snapshot published on freezing
    for number, client in enumerate(clients):
        client.sendall(b"held %d" % number)
    newcomer = connect(engine.address)  # the kernel completes it; the loop may not accept it
    started = time.monotonic()
    assert not readable([*clients, newcomer], 1.0), "a client was served while frozen"
    assert time.monotonic() - started >= 1.0
    assert trace.after(frozen) == [] and latest(engine) is None  # no call ran, nothing published
    engine.set_stepping(False)
    for number, client in enumerate(clients):
        assert recv_exactly(client, 6) == b"held %d" % number
    wait_for(lambda: (s := latest(engine)) is not None and newcomer_id in s.changed)


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


def test_stepping_queues_commands_and_frozen_time_is_not_idle_time(
    make_engine: Callable[..., EchoEngine], connect: Connect
) -> None:
    """The clients connect while the loop is frozen, so only the loop's own running time
    counts towards their idle timeout, however slowly the test's steps come."""
    engine = make_engine(idle_timeout=0.3)
    view = Consumer(engine)
    trace = Trace(engine)
    trace.freeze()
    client, kicked = connect(engine.address), connect(engine.address)
    while sum(len(key.accepted) for call in trace.take() for key in call.ready) < 2:
        trace.step()
    client_id, kicked_id = view.conn_id(client), view.conn_id(kicked)
    time.sleep(0.6)  # frozen for twice the idle timeout: that time does not count
    kick = engine.kick(kicked_id)
    assert not kick.done()
    for _ in range(3):
        trace.step()
        if kick.done():
            break
    assert kick.result(0).ok and is_closed(kicked)
    assert view.until(lambda v: v.snapshot and v.snapshot.stepping)
    resumed = time.time()
    engine.set_stepping(False)
    assert is_closed(client)  # idle timeouts run again: the silent client goes
    gone = view.until(lambda v: [e for e in v.of(Disconnected) if e.conn_id == client_id])
    assert gone[0].reason == IDLE
    # Idle for 0.3 s of running loop: closed no sooner than that after the loop resumed
    # (the loop ran only a few steps' worth between accepting it and freezing again).
    assert gone[0].at - resumed >= 0.2, gone[0].at - resumed


def test_stop_while_frozen(engine: EchoEngine, connect: Connect) -> None:
    Trace(engine).freeze()
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


def preview(engine: EchoEngine) -> bytes | None:
    snapshot = latest(engine)
    return snapshot.inspected.preview if snapshot and snapshot.inspected else None


def test_the_preview_keeps_the_last_256_bytes(engine: EchoEngine, connect: Connect) -> None:
    client = connect(engine.address)
    assert engine.inspect(1, preview=True).result(5).ok
    received = b""
    for size in (200, 100, 1000, 1):  # across reads: under, past, far past the cap
        data = bytes((len(received) + i) % 251 for i in range(size))
        client.sendall(data)
        assert recv_exactly(client, size) == data
        received += data
        wait_for(lambda last=received[-256:]: preview(engine) == last)


def test_trace_records_keep_their_field_order(engine: EchoEngine, connect: Connect) -> None:
    """The engine records each call as plain tuples, read back by position (select_call):
    a call and its ready keys, with a value for every field that no other field shares."""
    assert [f.name for f in fields(SelectCall)] == [
        "seq", "at", "timeout", "waited", "keys", "selector", "stepped", "ready",
    ]  # fmt: skip
    assert [f.name for f in fields(ReadyKey)] == [
        "fd", "mask", "role", "conn_id", "received", "eof", "sent", "pending", "events_before",
        "events_after", "closed", "skipped", "accepted", "rejected", "commands",
    ]  # fmt: skip
    trace = Trace(engine)
    began = time.time()
    client = connect(engine.address, SO_RCVBUF=4096)  # it reads nothing: echo stays pending
    peer = "{}:{}".format(*client.getsockname())
    wait_for(lambda: any(k.role == LISTENER for call in trace.take() for k in call.ready))
    engine.mute(1).result(5)
    engine.unmute(1).result(5)

    chunk = bytes(range(256)) * 256  # 64 KiB, more than the client's window
    sent: list[int] = []

    def partial_echo() -> ReadyKey | None:
        client.sendall(chunk)
        sent.append(len(chunk))
        keys = (key for call in trace.take() for key in call.ready)
        return next((k for k in keys if k.role == CLIENT and 0 < k.sent < k.received), None)

    echoed = wait_for(partial_echo)
    fd = wait_for(lambda: (s := latest(engine)) and 1 in s.changed and s.changed[1].fd)
    assert echoed == ReadyKey(
        fd, selectors.EVENT_READ, CLIENT, 1, echoed.received, False, echoed.sent,
        echoed.received - echoed.sent, selectors.EVENT_READ,
        selectors.EVENT_READ | selectors.EVENT_WRITE,
    )  # fmt: skip
    # Everything the client sent comes back: the trace's received and sent add up to it.
    assert recv_exactly(client, sum(sent)) == chunk * len(sent)

    def traced(field: str) -> int:
        return sum(getattr(k, field) for c in trace.take() for k in c.ready if k.role == CLIENT)

    wait_for(lambda: traced("received") == traced("sent") == sum(sent))
    calls = trace.calls
    assert [call.seq for call in calls] == list(range(calls[0].seq, calls[0].seq + len(calls)))
    accept = next(call for call in calls if any(k.role == LISTENER for k in call.ready))
    listener = next(k for k in accept.ready if k.role == LISTENER)
    assert listener.accepted == ((fd, peer),) and listener.rejected == 0
    assert accept.timeout is None and accept.keys == 3 and not accept.stepped
    assert began <= accept.at <= time.time() and 0 <= accept.waited < 10
    assert accept.selector == engine.selector_name
    wakeups = [k.commands for call in calls for k in call.ready if k.role == WAKEUP]
    assert (f"muted #1 {peer}",) in wakeups and (f"unmuted #1 {peer}",) in wakeups
