"""The global bound on buffered echo (--max-total-buffer), at the engine level."""

from __future__ import annotations

import os
import socket

from tests.helpers import recv_exactly, wait_for

TOTAL = 1024 * 1024
SENDERS = 4
READ_SIZE = 64 * 1024  # what one more recv() may add past the bound before the client pauses


def flood(sock: socket.socket, data: bytes) -> int:
    """Send `data` until the socket takes no more; bytes sent."""
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(data[sent:])
    except BlockingIOError:
        pass
    return sent


def latest_totals(engine, seen: dict):  # type: ignore[no-untyped-def]
    """The engine's totals as of the last snapshot taken (kept in `seen` across calls)."""
    _, snapshot, _ = engine.channel.drain()
    if snapshot is not None:
        seen["totals"] = snapshot.totals
    return seen.get("totals")


def test_the_global_bound_pauses_only_clients_with_pending_echo_and_loses_nothing(
    make_engine, connect
) -> None:
    engine = make_engine(max_total_buffer=TOTAL, tick=0.02)
    bystander = connect(engine.address)
    senders = [connect(engine.address, SO_RCVBUF=4096) for _ in range(SENDERS)]
    payloads = [os.urandom(16 * 1024 * 1024) for _ in senders]
    sent = [0] * SENDERS
    seen: dict = {}

    def bound_holds_and_nobody_is_read() -> bool:
        took = 0
        for index, sock in enumerate(senders):
            more = flood(sock, payloads[index][sent[index] :])
            sent[index] += more
            took += more
        totals = latest_totals(engine, seen)
        return took == 0 and totals is not None and totals.buffer_full

    wait_for(bound_holds_and_nobody_is_read, timeout=20)
    totals = seen["totals"]
    assert TOTAL * 3 // 4 <= totals.pending <= TOTAL + SENDERS * READ_SIZE
    # A client with nothing pending is still served while the bound holds.
    for size in (1, 1000, 60_000):
        bystander.sendall(b"b" * size)
        assert recv_exactly(bystander, size) == b"b" * size
    assert latest_totals(engine, seen).buffer_full
    # The senders read at last: every byte comes back, in order; nobody was closed.
    for sock, payload, done in zip(senders, payloads, sent, strict=True):
        sock.setblocking(True)
        assert recv_exactly(sock, done, timeout=30) == payload[:done]
    # One condition, on one snapshot: the last one drained may predate the engine's last send
    # (the client has its bytes, the snapshot still counted a few pending: 6,390 once).
    drained = wait_for(lambda: latest_totals(engine, seen).pending == 0, timeout=5)
    assert drained and not seen["totals"].buffer_full
    assert sum(seen["totals"].closed.values()) == 0
