"""A stand-in engine fed by hand-made snapshots: only for deterministic SVG snapshots.

Behaviour is tested against the real engine (test_app.py); this exists so the
pictures do not depend on timing, ports or the clock.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future
from types import MappingProxyType

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import (
    BACKPRESSURED,
    HISTOGRAM_BUCKETS,
    MUTED,
    READING,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    EventChannel,
    LoopStats,
    Snapshot,
    Totals,
)

START = 1_700_000_000.0  # wall clock of the engine start, 2023-11-14 22:13:20 UTC
PORT = 7777


class FakeEngine:
    """The attributes and commands EchoTuiApp uses; commands succeed at once."""

    def __init__(self) -> None:
        self.config = EngineConfig(port=PORT)
        self.channel = EventChannel()
        self.address = ("127.0.0.1", PORT)
        self.selector_name = "EpollSelector"
        self.error = None
        self.stopped = threading.Event()

    def stop(self, timeout: float = 2.0) -> None:
        self.stopped.set()

    def _done(self, command: str, message: str) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        future.set_result(CommandResult(command, True, message))
        return future

    def kick(self, conn_id: int) -> Future[CommandResult]:
        return self._done("kick", f"kicked #{conn_id}")

    def kick_where(self, predicate: object) -> Future[CommandResult]:
        return self._done("kick_where", "kicked")

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]:
        return self._done("mute", f"muted #{conn_id}")

    def switch_selector(self, name: str) -> Future[CommandResult]:
        return self._done("switch_selector", name)


class Traffic:
    """Demo-like traffic: `clients` connections, some busy, one muted, one backpressured."""

    def __init__(self, clients: int = 24) -> None:
        self.clients = clients
        self.seq = 0

    def stats(self, cid: int, second: int) -> ConnectionStats:
        busy = cid % 3 != 0
        rate = (cid * 1500 + 4000 * (1 + math.sin(second / 6))) if busy else 0
        total = int(rate * second)
        state = MUTED if cid == 5 else BACKPRESSURED if cid == 8 else READING
        return ConnectionStats(
            conn_id=cid,
            peer=f"127.0.0.1:{50000 + cid * 7}",
            connected_at=START + cid,
            last_activity=START + second if busy else START + cid,
            bytes_in=total,
            bytes_out=total - (65536 if state == BACKPRESSURED else 0),
            msgs_in=total // 512,
            msgs_out=total // 512,
            pending=65536 if state == BACKPRESSURED else 0,
            state=state,
            read_ready=total // 512,
            write_ready=12 if state == BACKPRESSURED else 0,
        )

    def snapshot(self, second: int) -> Snapshot:
        """The engine's state `second` seconds after start (cumulative counters)."""
        self.seq += 1
        conns = {cid: self.stats(cid, second) for cid in range(1, self.clients + 1)}
        bytes_in = sum(c.bytes_in for c in conns.values())
        selects = 180 * second
        histogram = [0] * HISTOGRAM_BUCKETS
        for bucket, share in enumerate((0.05, 0.25, 0.35, 0.25, 0.1)):
            histogram[bucket] = int(selects * share)
        return Snapshot(
            seq=self.seq,
            at=START + second,
            monotonic=1000.0 + second,
            started_at=START,
            address=("127.0.0.1", PORT),
            selector="EpollSelector",
            max_clients=10_000,
            open_count=len(conns),
            totals=Totals(
                accepted=self.clients + 3,
                closed=MappingProxyType({"peer-closed": 2, "kicked": 1}),
                bytes_in=bytes_in,
                bytes_out=bytes_in - 65536,
                msgs_in=bytes_in // 512,
                msgs_out=bytes_in // 512,
                pending=65536,
            ),
            loop=LoopStats(
                selects=selects,
                events=int(selects * 3.1),
                read_events=int(selects * 2.9),
                write_events=int(selects * 0.15),
                accept_events=second // 10,
                wakeup_events=second // 20,
                empty_selects=histogram[0],
                max_batch=19,
                histogram=tuple(histogram),
                busy_seconds=0.31 * second,
                wait_seconds=0.69 * second,
            ),
            changed=MappingProxyType(conns),
            closed=frozenset(),
            events_dropped=0,
        )

    def events(self) -> list:
        """Some connects and disconnects, one with a hostile-looking detail."""
        events: list = [
            Connected(cid, f"127.0.0.1:{50000 + cid * 7}", START + cid) for cid in (1, 2, 3)
        ]
        events.append(Disconnected(30, "127.0.0.1:50210", "peer-closed", 4096, 4096, START + 40))
        events.append(Disconnected(31, "127.0.0.1:50217", "kicked", 10, 10, START + 50))
        events.append(CommandResult("kick", True, "kicked #31 127.0.0.1:50217", 31, 1, START + 50))
        return events
