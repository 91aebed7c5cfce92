"""A client's echo not yet sent: the chunks as they were read, never copied once held."""

from __future__ import annotations

import socket
from collections import deque

# Bytes read at a time from a client whose echo waits (EchoEngine._on_readable_pending).
# With one send() per EVENT_WRITE, it bounds what a select() round does for each client
# that sends but does not read: a flood of them cannot make a round long.
PENDING_READ = 16 * 1024
# A first chunk with less than this left to send is joined with the small chunks behind
# it, up to SEND_SIZE, so a backlog of small reads drains in few send() calls.
SMALL = 16 * 1024
SEND_SIZE = 64 * 1024


class OutputBuffer:
    """A queue of bytes chunks, the first sent from `offset` on.

    Appending keeps the chunk itself and a send takes from a memoryview of the first:
    what is held is never copied, except that a run of small chunks is joined (at most
    SEND_SIZE bytes and one chunk more) before it is sent.  One send() per call, at
    most one chunk: a call's work is bounded whatever the socket would take.  len() is
    the bytes still to send, kept as a running count.
    """

    __slots__ = ("_chunks", "_offset", "_size")

    def __init__(self, data: bytes = b"", offset: int = 0) -> None:
        """Hold `data` from `offset` on (offset < len(data)), or nothing."""
        self._chunks: deque[bytes] = deque([data] if data else ())
        self._offset = offset
        self._size = len(data) - offset

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        """Queue `data` (not empty) behind what is held."""
        self._chunks.append(data)
        self._size += len(data)

    def send(self, sock: socket.socket) -> int:
        """One sock.send() from the front (not empty); the bytes it took, gone from here.

        Raises what sock.send() raises, with nothing taken.
        """
        chunks = self._chunks
        first = chunks[0]
        if len(first) - self._offset < SMALL and len(chunks) > 1 and len(chunks[1]) < SMALL:
            first = self._join_small()
        offset = self._offset
        sent = sock.send(memoryview(first)[offset:] if offset else first)
        self._size -= sent
        if offset + sent == len(first):
            chunks.popleft()
            self._offset = 0
        else:
            self._offset = offset + sent
        return sent

    def _join_small(self) -> bytes:
        """Join the rest of the first chunk with the small ones behind it; the new first."""
        chunks = self._chunks
        joined: list[bytes | memoryview] = [memoryview(chunks.popleft())[self._offset :]]
        size = len(joined[0])
        while chunks and size < SEND_SIZE and len(chunks[0]) < SMALL:
            chunk = chunks.popleft()
            joined.append(chunk)
            size += len(chunk)
        first = b"".join(joined)
        chunks.appendleft(first)
        self._offset = 0
        return first
