"""What the engine records for the one client a detail screen inspects (the trace is
tracer.py's).

It costs nothing unless asked for: a client's interest changes and received
bytes are recorded only while it is inspected.
"""

from __future__ import annotations

import selectors
from collections import deque
from typing import TYPE_CHECKING

from echo_tui.engine.config import MIB
from echo_tui.engine.events import (
    INTEREST_CHANGES,
    PREVIEW_BYTES,
    Inspected,
    InterestChange,
)

if TYPE_CHECKING:
    from echo_tui.engine.connection import Connection

_EVENT_NAMES = ((selectors.EVENT_READ, "EVENT_READ"), (selectors.EVENT_WRITE, "EVENT_WRITE"))


def event_names(mask: int) -> str:
    """`EVENT_READ | EVENT_WRITE`, `EVENT_READ`, ... as the selectors docs spell them."""
    names = [name for bit, name in _EVENT_NAMES if mask & bit]
    return " | ".join(names) or "0"


def amount(size: int) -> str:
    """Bytes for a cause line: `13,312 B`, or `2.0 MiB` from a MiB up."""
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size:,} B"


class Inspection:
    """The record kept for one inspected client (engine thread only).

    While it exists it is the client's selector key data, so the loop serves the client
    on its watched path (EchoEngine._serve) instead of the inline one.
    """

    __slots__ = ("changes", "conn", "conn_id", "fileobj", "last_send", "received")
    mask = 0  # never EVENT_READ: the loop's inline path does not take an inspected client

    def __init__(self, conn: Connection, preview: bool) -> None:
        self.conn = conn
        self.conn_id = conn.conn_id
        self.fileobj = repr(conn.sock)
        self.changes: deque[InterestChange] = deque(maxlen=INTEREST_CHANGES)
        self.received: bytearray | None = bytearray() if preview else None
        self.last_send: tuple[int, int] | None = None  # (sent, offered) of a partial send

    def receive(self, data: bytes) -> None:
        """Keep the last PREVIEW_BYTES received (only while the preview is on)."""
        kept = self.received
        if kept is not None:
            kept += data[-PREVIEW_BYTES:]
            del kept[:-PREVIEW_BYTES]

    def interest(self, at: float, old: int, new: int, cause: str) -> None:
        """Record a register (old == 0), unregister (new == 0) or modify, and why."""
        op = "register" if not old else "unregister" if not new else "modify"
        self.changes.append(InterestChange(at, op, new, cause))

    def view(self) -> Inspected:
        received = self.received
        return Inspected(
            self.conn_id,
            self.fileobj,
            tuple(self.changes),
            None if received is None else bytes(received),
        )
