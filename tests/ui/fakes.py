"""A stand-in engine fed by hand-made snapshots: only for deterministic SVG snapshots.

Behaviour is tested against the real engine (test_app.py); this exists so the
pictures do not depend on timing, ports or the clock.  It is a source.Source and
source.Controls (mypy checks the assignments below), as the engine is.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from selectors import EVENT_READ as READ
from selectors import EVENT_WRITE as WRITE
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import (
    BACKPRESSURED,
    CLIENT,
    DURATION_BUCKETS,
    HISTOGRAM_BUCKETS,
    LISTENER,
    MUTED,
    READING,
    TICKER,
    WAKEUP,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    EventChannel,
    Inspected,
    InterestChange,
    LoopStats,
    ReadyKey,
    SelectCall,
    Snapshot,
    Totals,
)
from echo_tui.source import Action, Controls, Limited, Source
from echo_tui.ui.app import EchoTuiApp

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

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        return self._done("inspect", f"inspecting #{conn_id}")

    def trace(self, on: bool = True) -> Future[CommandResult]:
        return self._done("trace", f"trace {'on' if on else 'off'}")

    def set_stepping(self, on: bool) -> None:
        pass

    def step(self) -> None:
        pass


class SomeControls:
    """The engine's controls with some actions taken away, each saying why (as a probe's).

    What is taken away is refused, and noted in `refused`: the dashboard should not ask.
    """

    def __init__(self, engine: Controls, missing: dict[Action, str]) -> None:
        self.engine = engine
        self.missing = missing
        self.refused: list[Action] = []

    def unavailable(self, action: Action) -> str | None:
        return self.missing.get(action)

    def kick(self, conn_id: int) -> Future[CommandResult]:
        return self._ask("kick", self.engine.kick, conn_id)

    def kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> Future[CommandResult]:
        return self._ask("kick", self.engine.kick_where, predicate)

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]:
        return self._ask("mute", self.engine.mute, conn_id, muted)

    def switch_selector(self, name: str) -> Future[CommandResult]:
        return self._ask("switch_selector", self.engine.switch_selector, name)

    def trace(self, on: bool = True) -> Future[CommandResult]:
        return self._ask("trace", self.engine.trace, on)

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        return self._ask("inspect", self.engine.inspect, conn_id, preview)

    def set_stepping(self, on: bool) -> None:
        self._ask("step", self.engine.set_stepping, on)

    def step(self) -> None:
        self._ask("step", self.engine.step)

    def _ask(self, action: Action, command: Callable[..., Any], *args: object) -> Any:
        if action not in self.missing:
            return command(*args)
        self.refused.append(action)
        future: Future[CommandResult] = Future()
        future.set_result(CommandResult(action, False, self.missing[action]))
        return future


# The coming probe's: kick, trace, inspect and step, no mute, no switch.
PROBE_MISSING: dict[Action, str] = {
    "mute": "a probe never stops reading for the program",
    "switch_selector": "the program chose its selector",
}

if TYPE_CHECKING:  # what the dashboard takes: the fakes must stay that
    _source: Source = FakeEngine()
    _controls: Controls = FakeEngine()
    _some: Controls = SomeControls(FakeEngine(), PROBE_MISSING)
    _limited: Limited = SomeControls(FakeEngine(), PROBE_MISSING)


def fake_app(**options: Any) -> EchoTuiApp:
    """The dashboard watching and commanding a FakeEngine."""
    engine = FakeEngine()
    return EchoTuiApp(engine, engine, **options)


def fed(app: EchoTuiApp) -> EventChannel:
    """The channel of the FakeEngine `app` watches: put snapshots and events there."""
    assert isinstance(app.source, FakeEngine)
    return app.source.channel


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
        events = {MUTED: 0, BACKPRESSURED: WRITE}.get(state, READ | WRITE if cid == 11 else READ)
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
            fd=cid + 6,
            events=events,
            backpressured_seconds=3.5 if state == BACKPRESSURED else 0.0,
            backpressured_since=START + second - 2 if state == BACKPRESSURED else None,
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
        # Iterations of 8-16 µs mostly (bucket 14), a few up to 2 ms; every call timed.
        iterations = [0] * DURATION_BUCKETS
        for bucket, share in ((13, 0.2), (14, 0.6), (15, 0.15), (17, 0.04), (21, 0.01)):
            iterations[bucket] = int(selects * share)
        delays = [0] * DURATION_BUCKETS
        delays[17] = 10 * second  # housekeeping 65-131 µs late, ten ticks a second
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
                housekeeping_events=10 * second,
                iterations=tuple(iterations),
                iteration_max=0.0019,
                iteration_sum=0.31 * second,
                loop_delays=tuple(delays),
                loop_delay_max=0.00012,
                loop_delay_sum=0.0001 * 10 * second,
            ),
            changed=MappingProxyType(conns),
            closed=frozenset(),
            events_dropped=0,
        )

    def inspected(self, cid: int, second: int) -> Inspected:
        """What the engine records for client `cid` (backpressured, then draining)."""
        at = START + second - 3
        changes = (
            InterestChange(at - 40, "registered", READ, "so far"),
            InterestChange(at, "modify", READ | WRITE, "send took 13,312 of 65,536 B"),
            InterestChange(at + 0.2, "modify", WRITE, "backpressure: 2.0 MiB pending"),
            InterestChange(at + 1.6, "modify", READ | WRITE, "drained to 512.0 KiB: reading again"),
            InterestChange(at + 2.1, "modify", WRITE, "backpressure: 2.0 MiB pending"),
        )
        fileobj = (
            f"<socket.socket fd={cid + 6}, family=2, type=1, proto=6, "
            f"laddr=('127.0.0.1', {PORT}), raddr=('127.0.0.1', {50000 + cid * 7})>"
        )
        preview = b"GET /\x1b[2J HTTP/1.1\r\nHost: \xe2\x80\xae evil\r\n\r\n" + bytes(range(8))
        return Inspected(cid, fileobj, changes, preview)

    def select_calls(self, second: int) -> list[SelectCall]:
        """A few select() calls: an accept, reads, a write that drains, a kick, a tick."""
        at = START + second
        calls = [
            (0.0312, (ReadyKey(5, READ, LISTENER, accepted=((31, "127.0.0.1:50412"),)),)),
            (
                0.0004,
                (
                    ReadyKey(9, READ, CLIENT, 3, received=100, sent=100),
                    ReadyKey(31, READ, CLIENT, 25, received=512, sent=512),
                ),
            ),
            (
                0.0021,
                (
                    ReadyKey(
                        14,
                        WRITE,
                        CLIENT,
                        8,
                        sent=4096,
                        events_before=READ | WRITE,
                        events_after=READ,
                    ),
                    ReadyKey(3, READ, WAKEUP, commands=("kicked #4 127.0.0.1:50028",)),
                    ReadyKey(10, READ, CLIENT, 4, skipped=True),
                ),
            ),
            (0.0660, (ReadyKey(6, READ, TICKER),)),
            (
                0.3120,
                (
                    ReadyKey(
                        11, READ, CLIENT, 5, eof=True, closed="peer-closed", events_before=READ
                    ),
                ),
            ),
        ]
        return [
            SelectCall(1200 + n, at + n * 0.07, None, waited, 27, "EpollSelector", n > 2, ready)
            for n, (waited, ready) in enumerate(calls)
        ]

    def events(self) -> list:
        """Some connects and disconnects (TestMarkers adds one with a hostile detail)."""
        events: list = [
            Connected(cid, f"127.0.0.1:{50000 + cid * 7}", START + cid) for cid in (1, 2, 3)
        ]
        events.append(Disconnected(30, "127.0.0.1:50210", "peer-closed", 4096, 4096, START + 40))
        events.append(Disconnected(31, "127.0.0.1:50217", "kicked", 10, 10, START + 50))
        events.append(CommandResult("kick", True, "kicked #31 127.0.0.1:50217", 31, 1, START + 50))
        return events
