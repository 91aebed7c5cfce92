"""A client's echo not yet sent: the chunks as they were read, never copied once held."""

from __future__ import annotations

import socket
from collections import deque

# Bytes read at a time from a client whose echo waits (EchoEngine._on_readable_pending).
# With one send() per EVENT_WRITE, it bounds what a select() round does for each client
# that sends but does not read: a flood of them cannot make a round long.
PENDING_READ = 16 * 1024
# Reads shorter than this are copied into a tail chunk that grows up to about this size,
# rather than held each as an object of its own: a client dripping a few bytes at a
# time would otherwise hold some 40 bytes of object per few bytes pending (the memory
# bounds count bytes pending), and its backlog would drain one send() per read.
SMALL = 16 * 1024


class OutputBuffer:
    """A queue of chunks, the first sent from `offset` on.

    A read of SMALL or more is held as it is, and a send takes from a memoryview of
    the first chunk: what is held is never copied, except that short reads are copied
    once into a growing tail chunk (a bytearray).  One send() per call, at most one
    chunk: a call's work is bounded whatever the socket would take.  len() is the
    bytes still to send, kept as a running count.
    """

    __slots__ = ("_chunks", "_offset", "_size")

    def __init__(self, data: bytes = b"", offset: int = 0) -> None:
        """Hold `data` from `offset` on (offset < len(data)), or nothing."""
        self._chunks: deque[bytes | bytearray] = deque([data] if data else ())
        self._offset = offset
        self._size = len(data) - offset

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        """Queue `data` (not empty) behind what is held."""
        chunks = self._chunks
        if len(data) >= SMALL:
            chunks.append(data)
        elif chunks and type(chunks[-1]) is bytearray and len(chunks[-1]) < SMALL:
            chunks[-1] += data  # the tail grows in place (amortised, no copy of its bytes)
        else:
            chunks.append(bytearray(data))
        self._size += len(data)

    def send(self, sock: socket.socket) -> int:
        """One sock.send() from the front (not empty); the bytes it took, gone from here.

        Raises what sock.send() raises, with nothing taken.
        """
        chunks = self._chunks
        first = chunks[0]
        offset = self._offset
        sent = sock.send(memoryview(first)[offset:] if offset else first)
        self._size -= sent
        if offset + sent == len(first):
            chunks.popleft()
            self._offset = 0
        else:
            self._offset = offset + sent
        return sent
