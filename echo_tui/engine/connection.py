"""One client connection: its socket, counters, output buffer and state."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from echo_tui.engine.events import BACKPRESSURED, CLOSING, MUTED, READING, ConnectionStats
from echo_tui.engine.output import OutputBuffer

if TYPE_CHECKING:
    from echo_tui.engine.inspection import Inspection

# The output buffer of a client with nothing pending: shared, so an idle client holds no
# buffer.  Never appended to: a client with echo pending gets a buffer of its own.
NO_OUTPUT = OutputBuffer()

# A connection's cumulative counts, in the order Connection.counts() returns them.
COUNTS = ("bytes_in", "bytes_out", "msgs_in", "msgs_out", "read_ready", "write_ready")
ZERO_COUNTS = (0,) * len(COUNTS)


def format_peer(address: tuple) -> str:
    """`host:port` of a socket address, with IPv6 hosts in brackets."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Connection:
    """A client as the engine thread sees it. Only the engine thread touches it.

    Per message the engine counts only `bytes_in` and `msgs_in`; the other counters
    are derived when asked for (see counts()): every byte read is either echoed or
    still in `out`, so bytes_out = bytes_in - len(out); a read is echoed by one
    send() unless the rare paths say otherwise (`msgs_out_offset`); and select()
    reported it readable once per read, plus the reads that returned no data.
    """

    __slots__ = (
        "active",
        "backpressured",
        "backpressured_since",
        "backpressured_total",
        "bytes_in",
        "closed",
        "closing",
        "conn_id",
        "connected_at",
        "fd",
        "inspection",
        "last_activity",
        "mask",
        "msgs_in",
        "msgs_out_offset",
        "muted",
        "out",
        "peer",
        "published",
        "read_misses",
        "sock",
        "write_ready",
    )

    def __init__(self, conn_id: int, sock: socket.socket, peer: str, now: float) -> None:
        self.conn_id = conn_id
        self.sock = sock
        self.fd = sock.fileno()  # kept: a closed socket's fileno() is -1
        self.peer = peer
        self.connected_at = now  # engine monotonic clock
        self.last_activity = now  # stamped by the engine at its next tick after any traffic
        self.bytes_in = 0
        self.msgs_in = 0  # recv() calls that returned data
        self.msgs_out_offset = 0  # msgs_out - msgs_in: -1 per read not echoed at once, +1 per flush
        self.read_misses = 0  # readable events whose recv() returned no data
        self.write_ready = 0
        self.published: tuple[int, ...] = ZERO_COUNTS  # counts() already added to the totals
        self.out = NO_OUTPUT  # echo not yet sent
        self.mask = 0  # events registered with the selector (0: not registered, or closed)
        self.muted = False
        self.backpressured = False
        self.backpressured_since = 0.0  # engine monotonic clock, while backpressured
        self.backpressured_total = 0.0  # seconds, over the periods that ended
        self.inspection: Inspection | None = None  # while a detail screen inspects it
        self.active = False  # traffic since the engine last stamped last_activity
        self.closing = False  # the peer half-closed: flush, then close
        self.closed = False

    @property
    def state(self) -> str:
        if self.closing:
            return CLOSING
        if self.muted:
            return MUTED
        if self.backpressured:
            return BACKPRESSURED
        return READING

    @property
    def bytes_out(self) -> int:
        return self.bytes_in - len(self.out)

    def counts(self) -> tuple[int, ...]:
        """The cumulative counters named in COUNTS."""
        msgs_in = self.msgs_in
        return (
            self.bytes_in,
            self.bytes_in - len(self.out),
            msgs_in,
            msgs_in + self.msgs_out_offset,
            msgs_in + self.read_misses,
            self.write_ready,
        )

    def stats(self, to_wall: float) -> ConnectionStats:
        """An immutable copy; `to_wall` turns the engine's monotonic times into wall clock."""
        bytes_in, bytes_out, msgs_in, msgs_out, read_ready, write_ready = self.counts()
        return ConnectionStats(  # positional, in field order: half the cost of keywords
            self.conn_id,
            self.peer,
            self.connected_at + to_wall,
            self.last_activity + to_wall,
            bytes_in,
            bytes_out,
            msgs_in,
            msgs_out,
            len(self.out),
            self.state,
            read_ready,
            write_ready,
            self.fd,
            self.mask,
            self.backpressured_total,
            self.backpressured_since + to_wall if self.backpressured else None,
        )
