"""Echo correctness, backpressure and how connections end, over real sockets."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from echo_tui.engine.config import MIB
from echo_tui.engine.events import (
    BACKPRESSURED,
    PEER_CLOSED,
    RESET,
    Disconnected,
)
from tests.engine.conftest import payload, roundtrip, sha
from tests.helpers import recv_exactly


def read_slowly(sock: socket.socket, size: int, chunk: int = 4096, pause: float = 0.001) -> bytes:
    """Read `size` bytes a small piece at a time, pausing between reads (a slow client)."""
    sock.settimeout(5)
    data = bytearray()
    while len(data) < size:
        piece = sock.recv(min(chunk, size - len(data)))
        assert piece, f"EOF after {len(data)} of {size} bytes"
        data += piece
        time.sleep(pause)  # pacing, not synchronisation
    return bytes(data)


@pytest.mark.parametrize(
    ("size", "pause", "max_buffer"),
    [
        (2_000_000, 0.001, 4 * 1024 * 1024),
        (2_000_000, 0.001, 128 * 1024),
        # Beyond what the kernel's send buffer (up to 4 MiB here) absorbs: partial sends.
        (8_000_000, 0.0, 4 * 1024 * 1024),
    ],
)
def test_byte_exact_echo_to_a_slow_reader_with_a_tiny_receive_buffer(
    make_engine, connect, sender, consumer, size, pause, max_buffer
):
    engine = make_engine(max_buffer=max_buffer)
    view = consumer(engine)
    client = connect(engine.address, SO_RCVBUF=2048)
    data = payload(size)
    thread = sender(client, data)
    echoed = read_slowly(client, len(data), pause=pause)
    thread.join(5)
    assert thread.error is None
    assert sha(echoed) == sha(data)
    conn_id = view.conn_id(client)
    stats = view.until(lambda v: (s := v.conns.get(conn_id)) and s.bytes_out == len(data) and s)
    assert stats.bytes_in == stats.bytes_out == len(data)
    assert stats.pending == 0
    if size > 4 * 1024 * 1024:
        assert stats.write_ready > 0  # it met a full socket and waited for EVENT_WRITE


def test_a_sender_that_never_reads_is_backpressured_under_the_cap(make_engine, connect, consumer):
    cap = 1024 * 1024
    engine = make_engine(max_buffer=cap)
    view = consumer(engine)
    hog = connect(engine.address)
    hog_id = view.conn_id(hog)
    stalled = threading.Event()
    sent = [0]

    def flood() -> None:  # 50 MB, never reading; stops when the engine stops taking it
        chunk = payload(1 << 20)
        hog.settimeout(0.3)
        try:
            while sent[0] < 50_000_000:
                sent[0] += hog.send(chunk)
        except (TimeoutError, OSError):
            stalled.set()

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    view.until(lambda v: v.conns.get(hog_id) and v.conns[hog_id].state == BACKPRESSURED)
    other = connect(engine.address)
    worst = 0.0
    peak = 0
    for i in range(20):  # the other client is served promptly meanwhile
        started = time.perf_counter()
        roundtrip(other, payload(10_000, seed=i))
        worst = max(worst, time.perf_counter() - started)
        peak = max(peak, len(engine._conns[hog_id].out))
    assert stalled.wait(10), "the flood was never stalled"
    thread.join(5)
    view.poll()
    hog_stats = view.conns[hog_id]
    assert hog_stats.state == BACKPRESSURED and hog_stats.pending <= cap
    assert view.snapshot.totals.pending <= cap + 10_000
    assert peak <= cap
    assert sent[0] < 50_000_000  # the engine stopped taking it: bounded by cap + kernel buffers
    assert not view.of(Disconnected), "nobody was disconnected"
    assert worst < 1.0, f"other client's round trip took {worst:.3f}s"
    hog.shutdown(socket.SHUT_RDWR)


@pytest.mark.parametrize(
    ("max_buffer", "read_size"),
    [(64 * 1024, 64 * 1024), (10_000, 64 * 1024), (100_000, 3_000)],
)
def test_pending_never_exceeds_the_cap_whatever_read_size(
    make_engine, connect, consumer, max_buffer, read_size
):
    """High/low water alone allow high_water + read_size; the engine must cap each read."""
    engine = make_engine(max_buffer=max_buffer, read_size=read_size)
    view = consumer(engine)
    hog = connect(engine.address, SO_RCVBUF=2048)
    hog_id = view.conn_id(hog)
    hog.settimeout(0.3)
    peak = 0
    chunk = payload(256 * 1024)
    try:
        for _ in range(200):
            hog.send(chunk)
            conn = engine._conns.get(hog_id)
            peak = max(peak, len(conn.out) if conn else 0)
    except TimeoutError:
        pass
    view.until(lambda v: v.conns.get(hog_id) and v.conns[hog_id].state == BACKPRESSURED)
    assert peak <= max_buffer
    assert view.conns[hog_id].pending <= max_buffer
    assert not view.of(Disconnected)  # throttled, never closed
    # It is throttled, not broken: drain everything and the echo is exact.
    hog.setblocking(True)
    hog.settimeout(5)
    received = recv_exactly(hog, 2048)
    assert received == chunk[:2048]


def test_half_close_gets_all_echo_then_eof(make_engine, connect, sender, consumer):
    engine = make_engine(max_buffer=256 * 1024)
    view = consumer(engine)
    client = connect(engine.address, SO_RCVBUF=2048)
    data = payload(1_000_000, seed=3)
    thread = sender(client, data, shutdown=True)
    echoed = read_slowly(client, len(data), chunk=16384, pause=0.0005)
    thread.join(5)
    assert thread.error is None
    assert sha(echoed) == sha(data)
    client.settimeout(5)
    assert client.recv(1) == b""  # then EOF
    gone = view.until(lambda v: v.of(Disconnected))
    assert gone[0].reason == PEER_CLOSED
    assert gone[0].bytes_in == gone[0].bytes_out == len(data)


def test_eof_is_peer_closed(engine, connect, consumer):
    view = consumer(engine)
    client = connect(engine.address)
    roundtrip(client, b"hello")
    conn_id = view.conn_id(client)
    client.close()
    gone = view.until(lambda v: v.of(Disconnected))
    assert (gone[0].conn_id, gone[0].reason) == (conn_id, PEER_CLOSED)
    view.until(lambda v: v.snapshot and conn_id not in v.conns and v.snapshot.open_count == 0)


@pytest.mark.parametrize("unread_echo", [False, True])
def test_rst_is_reset(engine, connect, consumer, unread_echo):
    view = consumer(engine)
    client = connect(engine.address)
    if unread_echo:
        client.sendall(b"x" * 1000)  # echo left unread in the client's buffer
        view.until(lambda v: v.snapshot and v.snapshot.totals.bytes_out == 1000)
    else:
        roundtrip(client, b"hello")
    conn_id = view.conn_id(client)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    gone = view.until(lambda v: v.of(Disconnected))
    assert (gone[0].conn_id, gone[0].reason) == (conn_id, RESET)
    # The loop and other clients are untouched.
    other = connect(engine.address)
    roundtrip(other, b"still here")


def test_snapshot_counters_equal_what_was_sent(engine, connect, consumer, sender):
    view = consumer(engine)
    sizes = [1, 1000, 300_000]
    clients = [connect(engine.address) for _ in sizes]
    for i, (client, size) in enumerate(zip(clients, sizes, strict=True)):
        data = payload(size, seed=i)
        thread = sender(client, data)
        assert recv_exactly(client, size) == data
        thread.join(5)
    ids = [view.conn_id(c) for c in clients]
    total = sum(sizes)
    snap = view.until(
        lambda v: v.snapshot if v.snapshot and v.snapshot.totals.bytes_out == total else None
    )
    assert snap.totals.bytes_in == total
    assert snap.totals.pending == 0
    assert snap.totals.accepted == 3 and snap.open_count == 3
    assert snap.totals.msgs_in >= len(sizes) and snap.totals.msgs_out >= len(sizes)
    for conn_id, size in zip(ids, sizes, strict=True):
        stats = view.conns[conn_id]
        assert (stats.bytes_in, stats.bytes_out, stats.pending) == (size, size, 0)
        assert stats.msgs_in >= 1 and stats.read_ready >= stats.msgs_in
    assert sum(view.conns[i].msgs_in for i in ids) == snap.totals.msgs_in
    assert sum(view.conns[i].msgs_out for i in ids) == snap.totals.msgs_out


@pytest.mark.reliability  # 48 MiB through one client: about 15 s here
def test_reading_resumes_only_once_pending_falls_to_the_low_water_mark(
    make_engine, connect, consumer, sender
):
    """Paused at the high-water mark, a client is read again once its pending echo falls to
    the low-water mark (a quarter of it), not as soon as it falls at all."""
    engine = make_engine(max_buffer=64 * MIB)  # high water 32 MiB, low water 8 MiB: both far
    low = engine.config.low_water  # above what the kernel's socket buffers hold
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    data = payload(48 * MIB)
    client.settimeout(60)  # shared with the sender, which waits while the engine does not read
    sender(client, data)
    view.until(lambda v: v.conns.get(conn_id) and v.conns[conn_id].state == BACKPRESSURED, 20)

    step = MIB  # read this much of the echo, then look at a fresh snapshot
    echoed = bytearray()
    last_paused = 0
    while (stats := view.conns[conn_id]).state == BACKPRESSURED:
        last_paused = stats.pending
        echoed += recv_exactly(client, step, timeout=60)
        seen = view.snapshot
        view.until(lambda v, seen=seen: v.snapshot is not seen)
    # Kernel buffers free space in chunks of a few steps; resuming early would show ~30 MiB.
    assert low < last_paused <= low + 4 * step, (last_paused, low)
    echoed += recv_exactly(client, len(data) - len(echoed), timeout=60)  # and the rest comes
    assert bytes(echoed) == data
