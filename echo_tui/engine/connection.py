"""One client connection: its socket, counters, output buffer and state."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from echo_tui.engine.events import BACKPRESSURED, CLOSING, MUTED, READING, ConnectionStats

if TYPE_CHECKING:
    from echo_tui.engine.inspection import Inspection


def format_peer(address: tuple) -> str:
    """`host:port` of a socket address, with IPv6 hosts in brackets."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Connection:
    """A client as the engine thread sees it. Only the engine thread touches it."""

    __slots__ = (
        "backpressured",
        "backpressured_since",
        "backpressured_total",
        "bytes_in",
        "bytes_out",
        "closed",
        "closing",
        "conn_id",
        "connected_at",
        "fd",
        "inspection",
        "last_activity",
        "mask",
        "msgs_in",
        "msgs_out",
        "muted",
        "out",
        "peer",
        "read_ready",
        "sock",
        "write_ready",
    )

    def __init__(self, conn_id: int, sock: socket.socket, peer: str, now: float) -> None:
        self.conn_id = conn_id
        self.sock = sock
        self.fd = sock.fileno()  # kept: a closed socket's fileno() is -1
        self.peer = peer
        self.connected_at = now  # engine monotonic clock
        self.last_activity = now
        self.bytes_in = 0
        self.bytes_out = 0
        self.msgs_in = 0
        self.msgs_out = 0
        self.read_ready = 0
        self.write_ready = 0
        self.out = bytearray()  # echo not yet sent
        self.mask = 0  # events registered with the selector (0: not registered)
        self.muted = False
        self.backpressured = False
        self.backpressured_since = 0.0  # engine monotonic clock, while backpressured
        self.backpressured_total = 0.0  # seconds, over the periods that ended
        self.inspection: Inspection | None = None  # while a detail screen inspects it
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

    def stats(self, to_wall: float) -> ConnectionStats:
        """An immutable copy; `to_wall` turns the engine's monotonic times into wall clock."""
        return ConnectionStats(
            conn_id=self.conn_id,
            peer=self.peer,
            connected_at=self.connected_at + to_wall,
            last_activity=self.last_activity + to_wall,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            msgs_in=self.msgs_in,
            msgs_out=self.msgs_out,
            pending=len(self.out),
            state=self.state,
            read_ready=self.read_ready,
            write_ready=self.write_ready,
            fd=self.fd,
            events=self.mask,
            backpressured_seconds=self.backpressured_total,
            backpressured_since=self.backpressured_since + to_wall if self.backpressured else None,
        )
