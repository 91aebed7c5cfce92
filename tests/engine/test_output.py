"""OutputBuffer: echo waiting to be sent, held as the chunks read, sent without copies."""

from __future__ import annotations

import os
import socket
import tracemalloc
from collections.abc import Iterator

import pytest

from echo_tui.engine.output import SMALL, OutputBuffer
from tests.helpers import recv_exactly


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected TCP pair on 127.0.0.1 with small buffers: (non-blocking sender, receiver)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # the receiver's
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sender = socket.socket()
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        sender.connect(listener.getsockname())
        receiver, _ = listener.accept()
    sender.setblocking(False)
    with sender, receiver:
        yield sender, receiver


class Offered:
    """A real socket that keeps what each send() was offered."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.offered: list[bytes | memoryview] = []

    def send(self, data: bytes | memoryview) -> int:
        self.offered.append(data)
        return self.sock.send(data)


def fill(buffer: OutputBuffer, sock: socket.socket) -> int:
    """send() until the socket takes no more; the bytes it took."""
    taken = 0
    try:
        while buffer:
            taken += buffer.send(sock)
    except BlockingIOError:
        pass
    return taken


def test_partial_sends_keep_the_rest_in_order_and_len_exact(pair) -> None:
    sender, receiver = pair
    chunks = [os.urandom(65536) for _ in range(40)]
    buffer = OutputBuffer(chunks[0], 1000)  # a fresh echo of which send() took 1,000 B
    for chunk in chunks[1:]:
        buffer.append(chunk)
    total = 40 * 65536 - 1000
    assert len(buffer) == total

    received = bytearray()
    while buffer:
        taken = fill(buffer, sender)  # the socket fills long before the 2.5 MiB are out
        assert len(buffer) == total - len(received) - taken
        received += recv_exactly(receiver, taken)
    assert received == b"".join(chunks)[1000:]
    assert len(buffer) == 0 and not buffer


def test_a_full_socket_raises_with_nothing_taken(pair) -> None:
    sender, _ = pair
    buffer = OutputBuffer(os.urandom(4 << 20))
    fill(buffer, sender)
    held = len(buffer)
    assert held  # 4 MiB never fit in a 16 KiB send buffer and the receiver's
    with pytest.raises(BlockingIOError):
        buffer.send(sender)
    assert len(buffer) == held


def test_what_is_held_is_sent_from_the_chunk_itself(pair) -> None:
    sender, receiver = pair
    first, second = os.urandom(3 * SMALL), os.urandom(3 * SMALL)
    buffer = OutputBuffer(first, 100)
    buffer.append(second)
    offered = Offered(sender)
    while len(buffer) > len(second):  # several sends: the socket takes less than offered
        recv_exactly(receiver, buffer.send(offered))  # type: ignore[arg-type]
    recv_exactly(receiver, buffer.send(offered))  # type: ignore[arg-type]
    *views, last = offered.offered
    assert len(views) > 1
    assert all(isinstance(view, memoryview) and view.obj is first for view in views)
    assert last is second  # never a copy


def message(number: int) -> bytes:
    return number.to_bytes(10, "big")


def test_short_reads_are_held_compactly_and_drain_in_few_sends(pair) -> None:
    """A client dripping 10 B reads: held in a few tail chunks, not an object per read
    (about 5x the bytes pending), and sent in about one send() per SMALL bytes."""
    sender, receiver = pair
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    messages = range(50_000)  # 500,000 B, each read a bytes object made as it comes
    tracemalloc.start()
    try:
        buffer = OutputBuffer(message(0))
        for number in messages[1:]:
            buffer.append(message(number))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 2 * 500_000
    offered = Offered(sender)
    received = bytearray()
    while buffer:
        received += recv_exactly(receiver, buffer.send(offered))  # type: ignore[arg-type]
    assert received == b"".join(map(message, messages))
    assert len(offered.offered) <= 500_000 // SMALL + 2  # not 50,000 sends


def test_a_short_read_after_a_long_one_starts_a_tail_and_order_is_kept(pair) -> None:
    sender, receiver = pair
    long, short, shorter = os.urandom(2 * SMALL), os.urandom(100), os.urandom(7)
    buffer = OutputBuffer(short, 40)
    buffer.append(long)
    buffer.append(short)
    buffer.append(shorter)
    received = bytearray()
    while buffer:
        received += recv_exactly(receiver, buffer.send(sender))
    assert received == short[40:] + long + short + shorter


def test_an_empty_buffer() -> None:
    assert len(OutputBuffer()) == 0 and not OutputBuffer()
    buffer = OutputBuffer()
    buffer.append(b"abc")
    assert len(buffer) == 3 and buffer
