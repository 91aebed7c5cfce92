"""The global bound on buffered echo (--max-total-buffer), at the engine level."""

from __future__ import annotations

import contextlib
import socket

from tests.engine.conftest import Consumer, payload
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


def read_up_to(sock: socket.socket, size: int) -> None:
    """Read what `sock` has, up to `size` bytes (the socket is non-blocking)."""
    with contextlib.suppress(BlockingIOError):
        while size > 0 and (data := sock.recv(min(size, 1 << 20))):
            size -= len(data)


class Senders:
    """Clients that send without reading (a small receive window) until they read back."""

    def __init__(self, address: tuple[str, int], connect, count: int = SENDERS) -> None:  # type: ignore[no-untyped-def]
        self.socks = [connect(address, SO_RCVBUF=4096) for _ in range(count)]
        self.payloads = [payload(16 * 1024 * 1024, seed) for seed in range(count)]
        self.sent = [0] * count

    def flood(self) -> int:
        """Each sends what its socket takes now; bytes sent in all."""
        took = 0
        for index, sock in enumerate(self.socks):
            more = flood(sock, self.payloads[index][self.sent[index] :])
            self.sent[index] += more
            took += more
        return took

    def fill(self, view: Consumer) -> None:
        """Send until the engine reads none of them and the global bound holds."""

        def filled() -> bool:
            took = self.flood()
            snapshot = view.poll().snapshot
            return took == 0 and snapshot is not None and snapshot.totals.buffer_full

        wait_for(filled, timeout=20)


def test_the_global_bound_pauses_only_clients_with_pending_echo_and_loses_nothing(
    make_engine, connect
) -> None:
    engine = make_engine(max_total_buffer=TOTAL, tick=0.02)
    view = Consumer(engine)
    bystander = connect(engine.address)
    senders = Senders(engine.address, connect)
    senders.fill(view)
    assert TOTAL * 3 // 4 <= view.snapshot.totals.pending <= TOTAL + SENDERS * READ_SIZE  # type: ignore[union-attr]
    # A client with nothing pending is still served while the bound holds.
    for size in (1, 1000, 60_000):
        bystander.sendall(b"b" * size)
        assert recv_exactly(bystander, size) == b"b" * size
    assert view.poll().snapshot.totals.buffer_full  # type: ignore[union-attr]
    # The senders read at last: every byte comes back, in order; nobody was closed.
    for sock, data, done in zip(senders.socks, senders.payloads, senders.sent, strict=True):
        sock.setblocking(True)
        assert recv_exactly(sock, done, timeout=30) == data[:done]
    # One condition, on one snapshot: the last one drained may predate the engine's last send
    # (the client has its bytes, the snapshot still counted a few pending: 6,390 once).
    totals = view.until(lambda v: v.snapshot.totals.pending == 0 and v.snapshot.totals, 5)
    assert not totals.buffer_full and sum(totals.closed.values()) == 0


def read_back(view: Consumer, conn_id: int, sock: socket.socket, echoed: int) -> None:
    """Read a client's echo until the engine has sent it `echoed` bytes in all."""
    view.until(lambda v: read_up_to(sock, 1 << 20) or v.conns[conn_id].bytes_out >= echoed, 10)


def test_the_bound_lifts_only_below_three_quarters_of_it(make_engine, connect) -> None:
    """No sender holds a quarter of the bound (its own cap stops it before), so reading one's
    echo back lowers the total by less than the band between the bound and three quarters
    of it: snapshots see the bound held within that band, then lifted below it."""
    engine = make_engine(max_total_buffer=TOTAL, max_buffer=320 * 1024, tick=0.01)
    view = Consumer(engine)
    senders = Senders(engine.address, connect, count=8)
    senders.fill(view)
    socks = {view.conn_id(sock): sock for sock in senders.socks}
    seen = [view.snapshot.totals]  # type: ignore[union-attr]
    while seen[-1].buffer_full and len(seen) < 64:
        # The smallest echo pending first: read it back until the engine has sent it all.
        conn_id = min(
            (c for c in socks if view.conns[c].pending), key=lambda c: view.conns[c].pending
        )
        stats = view.conns[conn_id]
        read_back(view, conn_id, socks[conn_id], echoed=stats.bytes_out + stats.pending)
        seen.append(view.until(lambda v: v.snapshot.totals))
    for totals in seen:
        if totals.buffer_full:  # set at the bound, and held until three quarters of it
            assert totals.pending >= TOTAL * 3 // 4, totals
        else:
            assert totals.pending < TOTAL, totals
    assert any(t.buffer_full and t.pending < TOTAL for t in seen), "not held below the bound"
    assert not seen[-1].buffer_full


def test_a_max_total_buffer_of_0_means_no_global_bound(make_engine, connect) -> None:
    engine = make_engine(max_total_buffer=0, max_buffer=1024 * 1024, tick=0.02)
    view = Consumer(engine)
    senders = Senders(engine.address, connect)
    ids = [view.conn_id(sock) for sock in senders.socks]

    def at_their_caps(view: Consumer) -> bool:
        """Each sender's pending at its own cap's high water (half of 1 MiB), as published
        (sending on until then: the kernel's buffers may hold less than that)."""
        senders.flood()
        return all(cid in view.conns and view.conns[cid].pending >= 512 * 1024 for cid in ids)

    view.until(at_their_caps, timeout=20)
    assert view.snapshot is not None and not view.snapshot.totals.buffer_full
    assert view.snapshot.totals.pending >= 2 * TOTAL  # more than a bound of TOTAL would allow
