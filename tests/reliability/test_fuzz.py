"""Property-based fuzzing of the real engine through real sockets (hypothesis, stateful).

Random interleavings of what clients and the operator can do: connect (beyond a
small --max-clients, so some are rejected), send random bytes (0-256 KiB, as
much as the socket takes), read partially or drain (a client never chosen for
reading is one that stopped reading), half-close, reset (SO_LINGER 0), kick,
kick-where, mute/unmute, and switching the selector, against a small
--max-buffer.  After every step: each client received a prefix of what it sent,
the consumer's view of the clients matches the engine's open count, open =
accepted - closed, pending stays under the cap, the channel stays bounded and
every command's future resolves.  At the end: every live client gets back
exactly what it sent, in order, and stopping leaks no descriptor.

The default profile is short (CI); `pytest -m reliability --hypothesis-profile=long`
runs many more examples.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import struct
import time
from concurrent.futures import Future

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from echo_tui.engine.config import EngineConfig, available_selectors
from echo_tui.engine.connection import format_peer
from echo_tui.engine.events import (
    KICKED,
    MAX_CLIENTS,
    PEER_CLOSED,
    RESET,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    Rejected,
)
from echo_tui.engine.server import EchoEngine

MAX_CLIENTS_ALLOWED = 4
MAX_BUFFER = 64 * 1024
MAX_TOTAL_BUFFER = 160 * 1024  # reached by three never-reading clients
READ_SIZE = 64 * 1024  # the engine's recv() size: what a client may add past the global bound
CHANNEL_CAPACITY = 64
FLOOD_LIMIT = 24 * 1024 * 1024  # bytes one client sends at most
CLIENT_RCVBUF = 8 * 1024
DEADLINE = 10.0  # seconds for anything the engine must do
RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class Client:
    """One test client: what it sent, what came back, and how it ended."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.peer = format_peer(sock.getsockname())
        self.sent = bytearray()
        self.received = bytearray()
        self.conn_id: int | None = None  # None: rejected, or not yet known
        self.rejected = False
        self.half_closed = False
        self.reset = False
        self.muted = False
        self.ended: str | None = None  # the engine's close reason, once it closed it

    def read(self, limit: int) -> bool:
        """Read what is available, up to `limit` bytes; False at EOF or reset."""
        while limit > 0:
            try:
                data = self.sock.recv(min(limit, 1 << 20))
            except BlockingIOError:
                return True
            except ConnectionResetError:
                return False
            if not data:
                return False
            self.received += data
            limit -= len(data)
            assert self.sent.startswith(self.received), "echo is not a prefix of what was sent"
        return True

    def exchange(self, data: bytes) -> bool:
        """One step of sending `data` and reading its echo; True once all of it came back."""
        rest = data[len(self.sent) :]
        if rest:
            with contextlib.suppress(BlockingIOError):
                self.sent += rest[: self.sock.send(rest)]
        self.read(1 << 20)
        return self.received == data


class EngineFuzz(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fds_before = len(os.listdir("/proc/self/fd"))
        self.engine = EchoEngine(
            EngineConfig(
                port=0,
                max_clients=MAX_CLIENTS_ALLOWED,
                max_buffer=MAX_BUFFER,
                max_total_buffer=MAX_TOTAL_BUFFER,
                tick=0.01,
                channel_capacity=CHANNEL_CAPACITY,
            )
        )
        self.engine.start()
        self.clients: list[Client] = []  # every client made, ended ones too
        self.by_id: dict[int, Client] = {}
        self.view: dict[int, ConnectionStats] = {}
        self.verdicts: dict[str, int | None] = {}  # peer -> conn_id, or None if rejected
        self.closes: dict[int, Disconnected] = {}  # every close event, by conn_id
        self.traced = 0  # the number of the last select() call the trace handed out

    # ------------------------------------------------------------- the consumer

    def drain(self) -> None:
        """Take what the channel holds and check the snapshot against the totals."""
        assert len(self.engine.channel) <= CHANNEL_CAPACITY
        events, snapshot, error = self.engine.channel.drain()
        assert error is None, error
        for event in events:
            match event:
                case Connected(conn_id=conn_id, peer=peer):
                    self.verdicts[peer] = conn_id
                case Rejected(peer=peer, reason=reason):
                    assert reason == MAX_CLIENTS
                    self.verdicts[peer] = None
                case Disconnected(conn_id=conn_id, reason=reason):
                    self.closes[conn_id] = event
                    if conn_id in self.by_id:
                        self.by_id[conn_id].ended = reason
        for call in self.engine.channel.take_trace():
            assert call.seq > self.traced  # in order (gaps: calls beyond the trace's ring)
            self.traced = call.seq
            for key in call.ready:
                assert key.pending <= MAX_BUFFER and key.sent <= key.received + MAX_BUFFER
        if snapshot is None:
            return
        for conn_id in snapshot.closed:
            self.view.pop(conn_id, None)
        for conn_id, stats in snapshot.changed.items():
            assert stats.pending <= MAX_BUFFER
            self.view[conn_id] = stats
        totals = snapshot.totals
        assert snapshot.open_count == totals.accepted - sum(totals.closed.values())
        assert len(self.view) == snapshot.open_count
        assert totals.pending == sum(stats.pending for stats in self.view.values())
        assert totals.pending <= MAX_TOTAL_BUFFER + len(self.view) * READ_SIZE

    def wait(self, condition, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + DEADLINE
        while not condition():
            assert time.monotonic() < deadline, f"not within {DEADLINE}s: {what}"
            time.sleep(0.002)
            self.drain()

    def command(self, future: Future[CommandResult]) -> CommandResult:
        result = future.result(timeout=DEADLINE)  # every command's future resolves
        self.drain()
        return result

    def live(self) -> list[Client]:
        """Clients the server accepted that are still connected at both ends."""
        return [c for c in self.clients if c.conn_id is not None and not c.reset and not c.ended]

    def pick(self, index: int) -> Client | None:
        """The live client `index` points to, if any.

        Rules draw their arguments whatever the state, and the only precondition
        depends on how many clients were made: which clients are live depends on
        the engine's timing, and hypothesis needs data generation to be deterministic.
        """
        live = self.live()
        return live[index % len(live)] if live else None

    # ------------------------------------------------------------- the rules

    @precondition(lambda self: len(self.clients) < 8)
    @rule()
    def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window, so the server's partial writes and backpressure (the
        # paths worth fuzzing) come after a few MiB unread rather than tens.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
        sock.settimeout(DEADLINE)
        sock.connect(self.engine.address)
        sock.setblocking(False)
        client = Client(sock)
        self.clients.append(client)
        self.wait(lambda: client.peer in self.verdicts, "accept or reject a new client")
        client.conn_id = self.verdicts[client.peer]
        client.rejected = client.conn_id is None
        if client.conn_id is not None:
            self.by_id[client.conn_id] = client

    @rule(index=st.integers(0, 99), size=st.integers(0, 256 * 1024), seed=st.integers(0, 2**32))
    def send(self, index: int, size: int, seed: int) -> None:
        client = self.pick(index)
        if client is None or client.half_closed:
            return
        data = memoryview(random.Random(seed).randbytes(size))
        while data:
            try:
                sent = client.sock.send(data)
            except (BlockingIOError, ConnectionError):
                break  # the socket takes no more now (a never-reader), or the server left
            client.sent += data[:sent]
            data = data[sent:]

    @rule(index=st.integers(0, 99), seed=st.integers(0, 2**32))
    def flood(self, index: int, seed: int) -> None:
        """Send without reading until the socket takes no more: the server's kernel buffer
        fills (several MiB on loopback), then its pending output, then it stops reading."""
        client = self.pick(index)
        if client is None or client.half_closed:
            return
        chunk = random.Random(seed).randbytes(256 * 1024)
        while len(client.sent) < FLOOD_LIMIT:
            try:
                sent = client.sock.send(chunk)
            except BlockingIOError:
                if not select.select([], [client.sock], [], 0.05)[1]:
                    return  # refused for 50 ms: the server stopped reading
                continue
            except ConnectionError:
                return
            client.sent += chunk[:sent]

    @rule(index=st.integers(0, 99), limit=st.integers(1, 512 * 1024))
    def read_partially(self, index: int, limit: int) -> None:
        client = self.pick(index)
        if client is not None:
            client.read(limit)

    @rule(index=st.integers(0, 99))
    def half_close(self, index: int) -> None:
        client = self.pick(index)
        if client is None:
            return
        if not client.half_closed:
            client.sock.shutdown(socket.SHUT_WR)
            client.half_closed = True

    @rule(index=st.integers(0, 99))
    def reset(self, index: int) -> None:
        client = self.pick(index)
        if client is None:
            return
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        client.sock.close()
        client.reset = True  # a muted client's reset is noticed once it is read again

    @rule(index=st.integers(0, 99))
    def kick(self, index: int) -> None:
        client = self.pick(index)
        if client is None:
            return
        result = self.command(self.engine.kick(client.conn_id))  # type: ignore[arg-type]
        if result.ok:  # it may have left already (a half-closed client flushed and closed)
            self.wait(lambda: client.ended == KICKED, "close a kicked client")

    @rule(modulus=st.integers(2, 4))
    def kick_where(self, modulus: int) -> None:
        def kicked() -> int:
            return sum(c.ended == KICKED and c.conn_id % modulus == 0 for c in self.clients)  # type: ignore[operator]

        before = kicked()
        result = self.command(self.engine.kick_where(lambda s: s.conn_id % modulus == 0))
        self.wait(lambda: kicked() >= before + result.count, "close what kick_where matched")

    @rule(index=st.integers(0, 99), muted=st.booleans())
    def mute(self, index: int, muted: bool) -> None:
        client = self.pick(index)
        if client is None:
            return
        result = self.command(self.engine.mute(client.conn_id, muted))  # type: ignore[arg-type]
        if result.ok:
            client.muted = muted

    @rule(name=st.sampled_from(available_selectors()))
    def switch_selector(self, name: str) -> None:
        assert self.command(self.engine.switch_selector(name)).ok

    @rule(index=st.integers(0, 99), preview=st.booleans())
    def inspect(self, index: int, preview: bool) -> None:
        """Inspect a client (its detail screen): it is served on the watched path."""
        client = self.pick(index)
        conn_id = None if client is None else client.conn_id
        result = self.command(self.engine.inspect(conn_id, preview))
        assert result.ok or conn_id is not None  # a client may have left meanwhile

    @rule(on=st.booleans())
    def trace(self, on: bool) -> None:
        """Open or close the select() trace: every call is then handled on the traced path."""
        assert self.command(self.engine.trace(on)).ok
        if not on:
            self.traced = 0  # numbering starts again with the next trace

    @rule(
        size=st.integers(1, 256 * 1024),
        seed=st.integers(0, 2**32),
        ending=st.sampled_from(["close", "half-close", "reset", "kick"]),
    )
    def twins(self, size: int, seed: int, ending: str) -> None:
        """Two new clients, one inspected and one not, send the same bytes and end the same
        way: the inline path and the watched one (_serve) count and close them alike."""
        pair = [Client(self.new_socket()), Client(self.new_socket())]
        try:
            self.wait(lambda: all(t.peer in self.verdicts for t in pair), "accept or reject")
            ids = [self.verdicts[twin.peer] for twin in pair]
            if None in ids:
                return  # no room under --max-clients
            assert self.command(self.engine.inspect(ids[0], preview=seed % 2 == 0)).ok
            data = random.Random(seed).randbytes(size)
            for twin in pair:
                self.wait(lambda t=twin: t.exchange(data), "echo a twin's bytes")
            for twin, conn_id in zip(pair, ids, strict=True):
                if ending == "kick":
                    assert self.command(self.engine.kick(conn_id)).ok  # type: ignore[arg-type]
                elif ending == "half-close":
                    twin.sock.shutdown(socket.SHUT_WR)
                else:
                    if ending == "reset":
                        twin.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                    twin.sock.close()
            self.wait(lambda: all(i in self.closes for i in ids), "close both twins")
        finally:
            for twin in pair:
                twin.sock.close()
        inspected, plain = (self.closes[i] for i in ids)  # type: ignore[index]
        assert (inspected.reason, inspected.bytes_in, inspected.bytes_out, inspected.detail) == (
            plain.reason, plain.bytes_in, plain.bytes_out, plain.detail
        )  # fmt: skip
        assert inspected.bytes_in == inspected.bytes_out == size

    def new_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(DEADLINE)
        sock.connect(self.engine.address)
        sock.setblocking(False)
        return sock

    # ------------------------------------------------------------- invariants

    @invariant()
    def consistent(self) -> None:
        self.drain()
        for client in self.clients:
            assert client.sent.startswith(client.received)
            if client.reset:
                assert client.ended in (None, RESET, PEER_CLOSED, KICKED)
            elif client.half_closed:
                assert client.ended in (None, PEER_CLOSED, KICKED)
            else:  # nothing but a kick may end a client that keeps its end open
                assert client.ended in (None, KICKED)

    def teardown(self) -> None:
        try:
            for client in self.clients:
                if client.muted and not client.ended:
                    self.command(self.engine.unmute(client.conn_id))  # type: ignore[arg-type]
            for client in self.clients:
                if client.reset and client.conn_id is not None:
                    self.wait(lambda c=client: c.ended is not None, "notice a client's reset")
            for client in self.live():
                self.wait(
                    lambda c=client: not c.read(1 << 20) or c.received == c.sent,
                    f"echo everything client #{client.conn_id} sent",
                )
                if client.ended is None:  # still connected: everything came back
                    assert client.received == client.sent
                if client.half_closed:  # the rest of the echo, then the server closes
                    self.wait(lambda c=client: not c.read(1 << 20), "close a half-closed client")
                    assert client.received == client.sent
        finally:
            for client in self.clients:
                client.sock.close()
            self.engine.stop()
            assert self.engine.stopped.wait(DEADLINE)
        assert len(os.listdir("/proc/self/fd")) <= self.fds_before, "descriptors leaked"


# A timeout of its own, sized to the profile's steps (0.1 s each: the default profile's
# 1,000 take about 4 s here), above the suite's 60 s, so the long profile can run its minutes.
_STEPS = settings().max_examples * settings().stateful_step_count
TestEngineFuzz = pytest.mark.timeout(max(60, _STEPS // 10))(EngineFuzz.TestCase)
