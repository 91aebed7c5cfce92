"""`--headless`: run the engine without a UI and print one stats line per interval."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from echo_tui.engine.events import Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.units import format_bytes, format_rate


@dataclass(frozen=True, slots=True)
class Interval:
    """What happened between two snapshots, as rates."""

    seconds: float
    bytes_in_per_s: float
    bytes_out_per_s: float
    msgs_per_s: float
    selects_per_s: float
    events_per_select: float

    @classmethod
    def between(cls, old: Snapshot | None, new: Snapshot) -> Interval:
        if old is None:
            seconds = max(new.at - new.started_at, 1e-9)
            base_in = base_out = base_msgs = base_selects = base_events = 0
        else:
            seconds = max(new.monotonic - old.monotonic, 1e-9)
            base_in, base_out = old.totals.bytes_in, old.totals.bytes_out
            base_msgs, base_selects, base_events = (
                old.totals.msgs_in,
                old.loop.selects,
                old.loop.events,
            )
        selects = new.loop.selects - base_selects
        return cls(
            seconds=seconds,
            bytes_in_per_s=(new.totals.bytes_in - base_in) / seconds,
            bytes_out_per_s=(new.totals.bytes_out - base_out) / seconds,
            msgs_per_s=(new.totals.msgs_in - base_msgs) / seconds,
            selects_per_s=selects / seconds,
            events_per_select=(new.loop.events - base_events) / selects if selects else 0.0,
        )


def stats_line(snapshot: Snapshot, interval: Interval) -> str:
    totals = snapshot.totals
    return (
        f"{time.strftime('%H:%M:%S', time.localtime(snapshot.at))}"
        f"  connections {snapshot.open_count}"
        f"  in {format_bytes(totals.bytes_in)} ({format_rate(interval.bytes_in_per_s)})"
        f"  out {format_bytes(totals.bytes_out)} ({format_rate(interval.bytes_out_per_s)})"
        f"  pending {format_bytes(totals.pending)}"
        f"  msgs/s {interval.msgs_per_s:.1f}"
        f"  selects/s {interval.selects_per_s:.1f}"
        f"  events/select {interval.events_per_select:.2f}"
        + ("  BUFFER FULL" if totals.buffer_full else "")
    )


def stats_json(snapshot: Snapshot, interval: Interval) -> str:
    totals = snapshot.totals
    return json.dumps(
        {
            "event": "stats",
            "time": snapshot.at,
            "connections": snapshot.open_count,
            "accepted": totals.accepted,
            "closed": dict(totals.closed),
            "bytes_in": totals.bytes_in,
            "bytes_out": totals.bytes_out,
            "msgs_in": totals.msgs_in,
            "msgs_out": totals.msgs_out,
            "pending": totals.pending,
            "buffer_full": totals.buffer_full,
            "bytes_in_per_s": round(interval.bytes_in_per_s, 1),
            "bytes_out_per_s": round(interval.bytes_out_per_s, 1),
            "msgs_per_s": round(interval.msgs_per_s, 1),
            "selects_per_s": round(interval.selects_per_s, 2),
            "events_per_select": round(interval.events_per_select, 3),
            "selector": snapshot.selector,
            "events_dropped": snapshot.events_dropped,
        }
    )


def run_headless(
    engine: EchoEngine,
    stop: threading.Event,
    interval: float,
    as_json: bool,
    out: TextIO | None = None,
) -> int:
    """Print stats to `out` (default stdout) every `interval` s until `stop` or an engine failure.

    A line that comes before the next snapshot repeats the latest one's rates.
    Returns 0 on a requested stop, 1 when the engine failed (engine.error says why).
    """
    latest: Snapshot | None = None
    window: Interval | None = None
    while not stop.wait(interval):
        _, snapshot, error = engine.channel.drain()
        if error is not None:
            return 1
        if snapshot is not None:
            window = Interval.between(latest, snapshot)
            latest = snapshot
        if latest is None or window is None:
            continue
        line = (stats_json if as_json else stats_line)(latest, window)
        print(line, file=out or sys.stdout, flush=True)
    return 0
