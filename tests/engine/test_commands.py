"""Commands from other threads: kick, kick_where, mute, switch_selector, stop."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from echo_tui.engine.config import available_selectors, selector_class
from echo_tui.engine.events import KICKED, MUTED, READING, CommandResult, Disconnected
from echo_tui.engine.server import EchoEngine
from tests.engine.conftest import is_closed, payload, roundtrip, sha
from tests.helpers import recv_exactly, wait_for

# Without the wake-up a command would wait for the loop's next tick: a second when idle
# (the heartbeat). Generous below that, so a busy machine's scheduling does not fail it.
WAKE_BOUND = 0.5
# The engine thread's CPU time from a command's submission until it completed: a batch of
# handlers and the command itself (0.2-0.3 ms measured beside three flooding clients).
# Commands that waited for a tick (0.1 s of flood served) would take tens of ms.
COMMAND_CPU = 0.020

needs_thread_clocks = pytest.mark.skipif(
    not hasattr(time, "pthread_getcpuclockid"), reason="no per-thread CPU clocks"
)


def engine_cpu_clock(engine: EchoEngine) -> int:
    """The CPU clock of the engine's thread, found by a kick_where predicate (documented to
    run there; it runs once per connected client, so one must be connected)."""
    threads: set[int] = set()
    engine.kick_where(lambda stats: threads.add(threading.get_ident())).result(5)
    (thread,) = threads
    return time.pthread_getcpuclockid(thread)


def engine_cpu_to_complete(
    clock: int, submit: Callable[[], Future[CommandResult]]
) -> tuple[CommandResult, float]:
    """Submit a command; its result and the engine thread's CPU seconds until it completed
    (read in the future's callback, which the engine thread runs as it sets the result)."""
    started = time.clock_gettime(clock)
    future = submit()
    completed: list[float] = []
    future.add_done_callback(lambda _: completed.append(time.clock_gettime(clock)))
    result = future.result(5)
    wait_for(lambda: completed)
    return result, completed[0] - started


class Flood(threading.Thread):
    """A client that sends and reads its echo as fast as it can until the engine closes it."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.closed_at: float | None = None
        self.received = 0
        self.stop = threading.Event()
        self._sender = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        chunk = payload(64 * 1024)
        try:
            while not self.stop.is_set():
                self.sock.sendall(chunk)
        except OSError:
            pass

    def run(self) -> None:
        self._sender.start()
        self.sock.settimeout(5)
        try:
            while data := self.sock.recv(1 << 20):
                self.received += len(data)
        except OSError:
            pass
        self.closed_at = time.perf_counter()
        self.stop.set()
        self._sender.join(5)


def test_kick_while_idle_lands_at_once(engine, connect, consumer):
    view = consumer(engine)
    clients = [connect(engine.address) for _ in range(5)]
    for client in clients:
        roundtrip(client, b"ping")
    ids = [view.conn_id(client) for client in clients]
    busy = view.until(lambda v: (s := v.snapshot) and s.totals.bytes_out == 20 and s)
    view.until(lambda v: v.snapshot.seq > busy.seq + 1)  # quiet: asleep until a heartbeat
    latencies = []
    for client, conn_id in zip(clients, ids, strict=True):
        started = time.perf_counter()
        result = engine.kick(conn_id).result(5)
        assert is_closed(client)
        latencies.append(time.perf_counter() - started)
        assert result.ok and result.count == 1 and result.conn_id == conn_id
    assert max(latencies) < WAKE_BOUND, latencies
    kicked = [e for e in view.until(lambda v: len(v.of(Disconnected)) == 5 and v.of(Disconnected))]
    assert {e.reason for e in kicked} == {KICKED}


@needs_thread_clocks
def test_kick_during_heavy_traffic_lands_within_one_batch(engine, connect, consumer):
    """The flooding clients' threads share this process (and its GIL) with the engine, so
    the wall clock would measure them: the engine thread's CPU time measures the loop."""
    view = consumer(engine)
    floods = []
    for _ in range(3):
        client = connect(engine.address, SO_RCVBUF=65536)
        flood = Flood(client)
        flood.start()
        floods.append((flood, view.conn_id(client)))
    view.until(lambda v: all(f.received > 4_000_000 for f, _ in floods))
    clock = engine_cpu_clock(engine)
    spent = []
    for flood, conn_id in floods:
        result, cpu = engine_cpu_to_complete(clock, lambda c=conn_id: engine.kick(c))
        assert result.ok and result.count == 1 and result.conn_id == conn_id
        spent.append(cpu)
        flood.join(5)
        assert flood.closed_at is not None, "the kicked client never saw its connection end"
    assert max(spent) < COMMAND_CPU, spent


def test_kicking_a_stale_id_after_fd_reuse_leaves_the_new_client_alone(engine, connect, consumer):
    view = consumer(engine)
    old = connect(engine.address)
    old_id = view.conn_id(old)
    old_fd = engine._conns[old_id].sock.fileno()
    old.close()
    view.until(lambda v: v.of(Disconnected))
    new = connect(engine.address)
    new_id = view.conn_id(new)
    assert new_id != old_id
    assert engine._conns[new_id].sock.fileno() == old_fd  # the kernel reused the descriptor
    result = engine.kick(old_id).result(1)
    assert not result.ok and result.count == 0 and "not connected" in result.message
    roundtrip(new, b"untouched")
    assert new_id in engine._conns
    assert len(view.poll().of(Disconnected)) == 1


def test_mute_holds_the_echo_until_unmute(engine, connect, consumer):
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    result = engine.mute(conn_id).result(1)
    assert result.ok and result.command == "mute"
    view.until(lambda v: v.conns.get(conn_id) and v.conns[conn_id].state == MUTED)
    data = payload(100_000, seed=7)
    client.sendall(data)
    client.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.recv(1)  # bounded check that nothing is echoed while muted
    assert view.poll().conns[conn_id].bytes_in == 0
    result = engine.unmute(conn_id).result(1)
    assert result.ok and result.command == "unmute"
    assert sha(recv_exactly(client, len(data))) == sha(data)
    view.until(lambda v: v.conns[conn_id].state == READING and v.conns[conn_id].bytes_out)
    assert not engine.mute(12345).result(1).ok


def test_kick_where_counts_and_a_failing_predicate_does_not_kill_the_loop(
    engine, connect, consumer
):
    view = consumer(engine)
    clients = [connect(engine.address) for _ in range(4)]
    ids = [view.conn_id(c) for c in clients]
    roundtrip(clients[0], b"x" * 10)
    roundtrip(clients[1], b"x" * 10)
    view.until(lambda v: v.snapshot and v.snapshot.totals.bytes_out == 20)

    def broken(stats):
        raise RuntimeError("predicate bug")

    result = engine.kick_where(broken).result(1)
    assert not result.ok and result.command == "kick_where" and "predicate bug" in result.message
    assert engine.running and len(engine._conns) == 4
    result = engine.kick_where(lambda s: s.bytes_in == 0).result(1)
    assert result.ok and result.count == 2 and result.command == "kick_where"
    for client in clients[2:]:
        assert is_closed(client)
    roundtrip(clients[0], b"alive")
    gone = view.until(lambda v: len(v.of(Disconnected)) == 2 and v.of(Disconnected))
    assert sorted(e.conn_id for e in gone) == ids[2:]
    assert [e for e in view.of(CommandResult) if e.command == "kick_where"]


def test_commands_act_at_once_while_select_blocks(engine, connect, consumer):
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    view.until(lambda v: v.snapshot and v.snapshot.open_count == 1)
    latencies = []
    for i in range(10):
        started = time.perf_counter()
        engine.mute(conn_id, muted=i % 2 == 0).result(5)
        latencies.append(time.perf_counter() - started)
    assert max(latencies) < WAKE_BOUND, latencies


@needs_thread_clocks
def test_mute_and_unmute_during_heavy_traffic_act_within_one_batch(engine, connect, consumer):
    view = consumer(engine)
    floods = [Flood(connect(engine.address, SO_RCVBUF=65536)) for _ in range(3)]
    for flood in floods:
        flood.start()
    view.until(lambda v: all(f.received > 4_000_000 for f in floods))
    target = view.conn_id(floods[0].sock)
    clock = engine_cpu_clock(engine)
    spent = []
    for muted in (True, False, True, False):
        result, cpu = engine_cpu_to_complete(clock, lambda m=muted: engine.mute(target, m))
        assert result.ok and result.command == ("mute" if muted else "unmute")
        spent.append(cpu)
    assert max(spent) < COMMAND_CPU, spent
    for flood in floods:
        flood.stop.set()


def test_a_command_cancelled_before_it_runs_is_skipped_and_the_loop_lives_on(
    engine, connect, consumer
):
    conn_id = consumer(engine).conn_id(connect(engine.address))
    holding, release = threading.Event(), threading.Event()

    def hold(stats):  # keeps the engine busy, so the next command is surely still queued
        holding.set()
        release.wait(5)
        return False

    try:
        engine.kick_where(hold)
        assert holding.wait(5)
        cancelled = engine.mute(conn_id)
        queued = engine.mute(conn_id)
        assert cancelled.cancel()
    finally:
        release.set()
    assert queued.result(1).ok
    assert engine.mute(conn_id, muted=False).result(1).ok
    assert engine.running and engine.error is None


def test_stop_is_idempotent_and_completes_every_future(make_engine, connect):
    engine = make_engine()
    client = connect(engine.address)
    futures = []
    submitting = threading.Event()

    def submit() -> None:
        while not engine.stopped.is_set():
            futures.append(engine.mute(1))
            futures.append(engine.switch_selector("default"))
            submitting.set()
        futures.append(engine.kick(1))  # after the stop: answered at once

    thread = threading.Thread(target=submit, daemon=True)
    thread.start()
    submitting.wait(5)
    engine.stop()
    engine.stop()
    assert engine.stopped.is_set()
    thread.join(5)
    for future in futures:
        assert isinstance(future.result(1), CommandResult)
    late = engine.kick(1).result(0)
    assert not late.ok and late.command == "kick" and late.message == "not running"
    assert is_closed(client)
    _, snapshot, error = engine.channel.drain()
    assert error is None and snapshot is not None and snapshot.open_count == 0


def test_stop_before_start_and_twice_is_harmless():
    from echo_tui.engine.config import EngineConfig

    engine = EchoEngine(EngineConfig(port=0))
    engine.stop()
    engine.stop()
    assert not engine.running


def selector_names() -> list[str]:
    """Each distinct selector class once (`default` is one of the others)."""
    names = {}
    for name in available_selectors():
        names.setdefault(selector_class(name), name)
    return list(names.values())


def test_switch_selector_between_every_pair_keeps_connections_and_echo(engine, connect, consumer):
    view = consumer(engine)
    quiet = [connect(engine.address) for _ in range(3)]
    ids = [view.conn_id(c) for c in quiet]
    busy = connect(engine.address)
    streamed = payload(6_000_000, seed=9)
    received = bytearray()

    def pump() -> None:
        busy.sendall(streamed)

    def drain() -> None:
        received.extend(recv_exactly(busy, len(streamed), timeout=20))

    threads = [threading.Thread(target=pump, daemon=True), threading.Thread(target=drain)]
    for thread in threads:
        thread.start()
    names = selector_names()
    switches = [*itertools.permutations(names, 2), ("default", names[0])]
    engine.switch_selector(names[0]).result(1)
    for i, (_, target) in enumerate(switches):
        result = engine.switch_selector(target).result(1)
        assert result.ok, result.message
        assert engine.selector_name == selector_class(target).__name__
        roundtrip(quiet[i % 3], payload(5000, seed=i))  # echo intact right after each switch
    for thread in threads:
        thread.join(20)
    assert sha(bytes(received)) == sha(streamed)
    for client in quiet:
        roundtrip(client, b"still connected")
    snap = view.until(
        lambda v: v.snapshot and v.snapshot.selector == engine.selector_name and v.snapshot
    )
    assert snap.open_count == 4 and not view.of(Disconnected)
    assert set(ids) <= set(view.conns)
    bad = engine.switch_selector("nonsense").result(1)
    assert not bad.ok and "choose one of" in bad.message
