"""Limits and quiet: max_clients, idle timeout, accept pausing under EMFILE, an idle loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from echo_tui.engine.events import (
    BACKPRESSURED,
    FD_LIMIT,
    IDLE,
    MAX_CLIENTS,
    Connected,
    Disconnected,
    Rejected,
)
from echo_tui.portable import SELECT_LIMIT
from tests.engine.conftest import is_closed, roundtrip
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


def test_max_clients_rejects_extra_connections_at_once(make_engine, connect, consumer):
    engine = make_engine(max_clients=2)
    view = consumer(engine)
    kept = [connect(engine.address) for _ in range(2)]
    for client in kept:
        view.conn_id(client)
    extra = connect(engine.address)
    assert is_closed(extra, timeout=1)
    rejected = view.until(lambda v: v.of(Rejected))
    assert rejected[0].reason == MAX_CLIENTS
    assert rejected[0].peer.endswith(f":{extra.getsockname()[1]}")
    snap = view.until(lambda v: (s := v.snapshot) and s.totals.closed.get(MAX_CLIENTS) and s)
    assert snap.totals.closed[MAX_CLIENTS] == 1 and snap.open_count == 2
    for client in kept:
        roundtrip(client, b"still served")
    kept[0].close()  # a slot frees up: the next client is accepted
    view.until(lambda v: v.of(Disconnected))
    roundtrip(connect(engine.address), b"welcome")


@pytest.mark.skipif(sys.platform == "win32", reason="select()'s limit is on descriptor numbers")
def test_select_refuses_descriptors_past_its_limit_as_fd_limit(make_engine, connect, consumer):
    engine = make_engine(selector="select", max_clients=10_000)
    view = consumer(engine)
    below = connect(engine.address)
    view.conn_id(below)
    # Occupy every free descriptor below select()'s limit: the next accepted socket is past it.
    fillers: list[int] = []
    try:
        while (fd := os.open(os.devnull, os.O_RDONLY)) < SELECT_LIMIT:
            fillers.append(fd)
        os.close(fd)
        past = connect(engine.address)
        assert is_closed(past, timeout=2)
    finally:
        for fd in fillers:
            os.close(fd)
    rejected = view.until(lambda v: v.of(Rejected))
    assert [event.reason for event in rejected] == [FD_LIMIT]
    snap = view.until(lambda v: (s := v.snapshot) and s.totals.closed.get(FD_LIMIT) and s)
    assert MAX_CLIENTS not in snap.totals.closed and snap.open_count == 1
    roundtrip(below, b"still served")


@pytest.mark.skipif(sys.platform == "win32", reason="select()'s limit is on descriptor numbers")
@pytest.mark.parametrize("muted", [False, True], ids=["served", "muted"])
def test_a_live_switch_to_select_is_refused_while_a_descriptor_past_its_limit_is_open(
    engine, connect, consumer, muted
):
    """Muted, the client is unregistered from the selector, but select() would have to
    watch it again once unmuted."""
    view = consumer(engine)
    fillers: list[int] = []
    try:  # occupy every free descriptor below select()'s limit: the next client is past it
        while (fd := os.open(os.devnull, os.O_RDONLY)) < SELECT_LIMIT:
            fillers.append(fd)
        os.close(fd)
        high = connect(engine.address)
        high_id = view.conn_id(high)
    finally:
        for fd in fillers:
            os.close(fd)
    high_fd = view.until(lambda v: high_id in v.conns and v.conns[high_id].fd)
    assert high_fd >= SELECT_LIMIT
    if muted:
        assert engine.mute(high_id).result(5).ok
    refused = engine.switch_selector("select").result(5)
    assert not refused.ok and "SelectSelector cannot watch descriptors numbered 1024" in (
        refused.message
    )
    assert engine.selector_name != "SelectSelector"
    if muted:
        assert engine.unmute(high_id).result(5).ok
    roundtrip(high, b"still served")
    high.close()
    view.until(lambda v: high_id not in v.conns)
    assert engine.switch_selector("select").result(5).ok  # nothing past the limit any more
    roundtrip(connect(engine.address), b"served by select()")


def test_idle_timeout_closes_only_idle_clients(make_engine, connect, consumer):
    engine = make_engine(idle_timeout=0.3)
    view = consumer(engine)
    idle = connect(engine.address)
    busy = connect(engine.address)
    idle_id, busy_id = view.conn_id(idle), view.conn_id(busy)
    started = time.monotonic()
    idle.settimeout(0)
    while True:  # keep `busy` chatting until `idle` is closed
        roundtrip(busy, b"tick")
        try:
            if idle.recv(1) == b"":
                break
        except BlockingIOError:
            pass
        # Checked at least once a second (README): 1.3 s, and generous for a busy machine.
        assert time.monotonic() - started < 3, "idle client never closed"
    gone = view.until(lambda v: v.of(Disconnected))
    assert [(e.conn_id, e.reason) for e in gone] == [(idle_id, IDLE)]
    # Never before the timeout, by the engine's own clock (an upper bound would time the
    # machine as much as the engine; the deadline above is the one kept).
    connected = next(e for e in view.of(Connected) if e.conn_id == idle_id)
    assert gone[0].at - connected.at >= 0.3, gone[0].at - connected.at
    roundtrip(busy, b"still here")
    assert busy_id in view.poll().conns


def test_the_loop_sleeps_when_nothing_happens(engine, connect, consumer):
    view = consumer(engine)
    clients = [connect(engine.address) for _ in range(3)]
    for client in clients:
        roundtrip(client, b"hello")
    first = view.until(lambda v: (s := v.snapshot) and s.totals.bytes_out == 15 and s)
    later = view.until(lambda v: v.snapshot.monotonic - first.monotonic >= 1.5 and v.snapshot, 4)
    rate = (later.loop.selects - first.loop.selects) / (later.monotonic - first.monotonic)
    assert rate <= 3, f"{rate:.1f} selects/s while idle"
    assert later.loop.read_events == first.loop.read_events


ENGINE_UNDER_RLIMIT = textwrap.dedent(
    """
    import json, resource, sys
    from echo_tui.engine.config import EngineConfig
    from echo_tui.engine.server import EchoEngine

    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    engine = EchoEngine(EngineConfig(port=0))
    engine.start()
    print(engine.address[1], flush=True)
    for line in sys.stdin:  # one line in, the events so far out; zero CPU in between
        events, snapshot, error = engine.channel.drain()
        latest = engine.channel.latest
        pauses = f"pauses={latest.totals.accept_pauses}" if latest else "no snapshot"
        print(json.dumps([type(e).__name__ for e in events] + [pauses]), flush=True)
    engine.stop()
    """
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_accept_pauses_under_emfile_without_spinning_and_resumes(connect):
    limit = 32
    proc = subprocess.Popen(
        [sys.executable, "-c", ENGINE_UNDER_RLIMIT, str(limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        address = ("127.0.0.1", int(proc.stdout.readline()))
        events: list[str] = []

        def seen(name: str) -> bool:
            proc.stdin.write("\n")
            proc.stdin.flush()
            events.extend(json.loads(proc.stdout.readline()))
            return name in events

        clients = [connect(address) for _ in range(limit + 4)]  # more than it has fds for
        wait_for(lambda: seen("AcceptPaused"))
        accepted = events.count("Connected")
        assert 0 < accepted < len(clients)
        before = cpu_seconds(proc.pid)
        wait_started = time.monotonic()
        wait_for(lambda: time.monotonic() - wait_started >= 1.0, interval=0.1)
        used = cpu_seconds(proc.pid) - before
        assert used <= 0.05, f"{used:.2f}s CPU in 1s while accepting is paused"
        for client in clients[:accepted]:  # connected clients are served during the pause
            roundtrip(client, b"served while accepting is paused")
        assert not seen("AcceptResumed"), "still paused: nobody has left"
        leaving = len(clients) - accepted + 1  # then everyone left fits in its fds
        assert leaving <= accepted
        for client in clients[:leaving]:  # accepted first (the backlog is FIFO); let them go
            client.close()
        wait_for(lambda: seen("AcceptResumed"))
        for client in clients[leaving:]:  # everyone still waiting is accepted and served
            roundtrip(client, b"finally")
        wait_for(lambda: seen("Connected") and events.count("Connected") == len(clients))
        # Announced once each, though it retried (and failed) every 0.5 s while out of fds.
        assert (events.count("AcceptPaused"), events.count("AcceptResumed")) == (1, 1)
        wait_for(lambda: seen("pauses=1"))  # the snapshots' counter (a Prometheus metric)
        assert "pauses=2" not in events
    finally:
        proc.stdin.close()
        assert proc.wait(10) == 0
        proc.stdout.close()


@pytest.mark.parametrize("send_buffer", [256 * 1024, 0])
def test_a_never_reading_client_holds_at_most_the_send_buffer_in_the_kernel(
    make_engine, connect, consumer, send_buffer
):
    """What the kernel takes off the server's hands for a client that never reads (its
    bytes out: the server's send buffer and the client's receive buffer) stays near
    send_buffer (doubled by Linux); with 0, the kernel's autotuning, it grows to MiBs."""
    engine = make_engine(send_buffer=send_buffer)
    view = consumer(engine)
    client = connect(engine.address, SO_RCVBUF=4096)
    cid = view.conn_id(client)
    client.setblocking(False)
    chunk = b"\x5a" * 65536

    def backpressured(view) -> bool:
        try:
            while client.send(chunk):
                pass
        except BlockingIOError:
            pass
        stats = view.conns.get(cid)
        return stats is not None and stats.state == BACKPRESSURED

    view.until(backpressured, timeout=20)
    taken = view.until(lambda v: v.conns[cid].bytes_out, timeout=5)
    if send_buffer:
        assert taken <= 2 * send_buffer + 256 * 1024, taken  # 372 KiB measured
    else:
        assert taken > 1024 * 1024, taken  # 2.9 MiB measured: what the bound prevents
