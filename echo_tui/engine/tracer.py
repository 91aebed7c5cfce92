"""The select() trace and step mode: the loop inspector's part that watches every call.

While the trace is on, the loop hands each select() result to its Tracer instead
of serving it inline (its one check per select(); nothing else in the engine
knows the trace).  The tracer runs every ready key through the handlers the
loop would have run, and records the call and what each handler did as plain
tuples (see events.select_call): they cost the engine a tenth of the objects,
which the consumer builds only for the calls it shows.  In step mode it then
holds the loop until the next step.
"""

from __future__ import annotations

import selectors
import time
from collections import deque
from typing import TYPE_CHECKING

from echo_tui.engine.connection import Connection
from echo_tui.engine.events import (
    CLIENT,
    LISTENER,
    PEER_CLOSED,
    TRACE_CAPACITY,
    WAKEUP,
    ReadyKey,
)
from echo_tui.engine.inspection import Inspection

if TYPE_CHECKING:
    from echo_tui.engine.events import EventChannel
    from echo_tui.engine.server import EchoEngine


class Tracer:
    """The calls traced since the engine last published them, and how to trace one more.

    The engine's friend: it calls the engine's handlers and reads what they leave
    behind (counters, masks, the ids closed since the last snapshot), so the
    handlers do nothing for the trace.
    """

    def __init__(self, engine: EchoEngine) -> None:
        self._engine = engine
        self._calls: deque[tuple] = deque(maxlen=TRACE_CAPACITY)  # not yet published
        self._count = 0  # calls traced since the trace was turned on: each call's number
        self._select_started = time.monotonic()  # when the next select() began

    def run(self, ready: list[tuple[selectors.SelectorKey, int]]) -> int:
        """Serve one select() call's ready list as the loop does, recording what each
        handler did; in step mode, then wait for the next step.  The nanoseconds the
        step held the loop (0 when not stepping)."""
        engine = self._engine
        now = time.monotonic()
        waited = now - self._select_started
        keys = len(engine._selector.get_map())
        entries = []
        for key, mask in ready:
            data = key.data
            if type(data) is Connection:
                entries.append(self._client(key.fd, mask, data))
            elif type(data) is Inspection:
                entries.append(self._client(key.fd, mask, data.conn))
            elif data.name == LISTENER:  # the engine's own sockets: a tag names each
                entries.append(self._listener(key.fd, mask, data))
            elif data.name == WAKEUP:
                ran = engine._on_wakeup()
                entries.append(ReadyKey(key.fd, mask, WAKEUP, commands=tuple(ran)))
            else:  # the ticker
                engine._dispatch(data, mask)
                entries.append(ReadyKey(key.fd, mask, data.name))
        self._count += 1
        stepping = engine.steps.stepping
        self._calls.append(
            (self._count, now + engine._to_wall, None, waited, keys, engine.selector_name,
             stepping, entries)
        )  # a SelectCall as select_call() reads it  # fmt: skip
        held = engine._freeze(engine.steps.wait_turn) if stepping else 0.0
        self._select_started = time.monotonic()
        return round(held * 1e9)

    def publish(self, channels: list[EventChannel]) -> None:
        """Hand the calls traced since the last time to every channel."""
        if self._calls:
            for channel in channels:
                channel.put_trace(self._calls)
            self._calls.clear()

    def _client(self, fd: int, mask: int, conn: Connection) -> ReadyKey | tuple:
        """A client's handlers, run as the loop runs them, and what they did."""
        if not mask & conn.mask:  # closed earlier in this batch, or no longer wanted
            return ReadyKey(fd, mask, CLIENT, conn.conn_id, skipped=True)
        engine = self._engine
        bytes_in, bytes_out, before = conn.bytes_in, conn.bytes_out, conn.mask
        closing = conn.closing
        engine._serve(conn, mask)
        closed = engine._closed_since.get(conn.conn_id, "")  # if it closed, why
        received = conn.bytes_in - bytes_in
        eof = bool(mask & before & selectors.EVENT_READ) and not received
        pending = len(conn.out)
        return (  # ReadyKey's leading fields, see select_call()
            fd,
            mask,
            CLIENT,
            conn.conn_id,
            received,
            eof and (conn.closing != closing or closed == PEER_CLOSED),
            conn.bytes_in - pending - bytes_out,
            pending,
            before,
            conn.mask,
            closed,
        )

    def _listener(self, fd: int, mask: int, data: object) -> ReadyKey:
        """The listener's handler, and whom it accepted or turned away."""
        engine = self._engine
        first, closes = engine._next_id, engine._closed.total()
        engine._dispatch(data, mask)
        conns = (engine._conns.get(cid) for cid in range(first, engine._next_id))
        accepted = tuple((c.fd, c.peer) for c in conns if c is not None)
        rejected = engine._closed.total() - closes
        return ReadyKey(fd, mask, LISTENER, accepted=accepted, rejected=rejected)
