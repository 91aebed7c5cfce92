"""`--headless`: run the engine without a UI, print one stats line per interval, then a summary."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import TextIO

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import (
    AcceptPaused,
    ConnectionStats,
    LifecycleEvent,
    LoopStats,
    Snapshot,
    Totals,
    duration_figures,
    histogram_label,
)
from echo_tui.source import Source
from echo_tui.units import format_bytes, format_bytes_short, format_count, format_duration


def headless_config(config: EngineConfig, interval: float) -> EngineConfig:
    """`config` with snapshots at least twice per interval, so every line has fresh numbers."""
    return replace(
        config, tick=min(config.tick, interval / 2), heartbeat=min(config.heartbeat, interval / 2)
    )


# LoopStats fields that are maxima since start, not counts: an interval keeps them as they are.
_MAXIMA = frozenset({"max_batch", "iteration_max", "loop_delay_max"})


def loop_increase(old: LoopStats, new: LoopStats) -> LoopStats:
    """How much each loop counter grew from `old` to `new` (maxima stay the all-time ones)."""
    grown = {}
    for field in fields(LoopStats):
        before, after = getattr(old, field.name), getattr(new, field.name)
        if field.name in _MAXIMA:
            grown[field.name] = after
        elif isinstance(after, tuple):
            grown[field.name] = tuple(a - b for a, b in zip(after, before, strict=True))
        else:
            grown[field.name] = after - before
    return LoopStats(**grown)


@dataclass(frozen=True, slots=True)
class Interval:
    """What happened between two snapshots: traffic as rates, the loop's counters as increases."""

    seconds: float
    bytes_in_per_s: float
    bytes_out_per_s: float
    msgs_per_s: float
    loop: LoopStats

    @classmethod
    def between(cls, old: Snapshot | None, new: Snapshot) -> Interval:
        if old is None:
            seconds, totals, loop = new.at - new.started_at, Totals(), LoopStats()
        else:
            seconds, totals, loop = new.monotonic - old.monotonic, old.totals, old.loop
        seconds = max(seconds, 1e-9)
        return cls(
            seconds=seconds,
            bytes_in_per_s=(new.totals.bytes_in - totals.bytes_in) / seconds,
            bytes_out_per_s=(new.totals.bytes_out - totals.bytes_out) / seconds,
            msgs_per_s=(new.totals.msgs_in - totals.msgs_in) / seconds,
            loop=loop_increase(loop, new.loop),
        )

    @property
    def selects_per_s(self) -> float:
        return self.loop.selects / self.seconds

    @property
    def events_per_select(self) -> float:
        return self.loop.events / self.loop.selects if self.loop.selects else 0.0

    @property
    def busy(self) -> float:
        """The share of the interval the loop spent outside select() (event-loop utilization)."""
        return busy_share(self.loop)


def busy_share(loop: LoopStats) -> float:
    """Time outside select() ÷ wall time, of `loop`'s period (Node.js: event-loop utilization)."""
    spent = loop.busy_seconds + loop.wait_seconds
    return loop.busy_seconds / spent if spent > 0 else 0.0


def loop_health(loop: LoopStats) -> dict:
    """The loop-health figures of `loop`'s period (all or an interval), seconds rounded to µs."""
    iteration = duration_figures(loop.iterations, loop.iteration_max, (0.5, 0.99, 1.0))
    delay = duration_figures(loop.loop_delays, loop.loop_delay_max, (0.99, 1.0))
    return {
        "busy": round(busy_share(loop), 4),
        "iteration_seconds": {k: round(v, 6) for k, v in iteration.items()},
        "iterations_timed": sum(loop.iterations),
        "loop_delay_seconds": {k: round(v, 6) for k, v in delay.items()},
    }


class Report:
    """What the headless lines say: the latest snapshot and interval, the clients, the pauses."""

    def __init__(self, with_clients: bool = False) -> None:
        self.latest: Snapshot | None = None
        self.window: Interval | None = None
        # Every client's stats, only for --json-clients: with 10,000 idle clients they
        # would be a fifth of the server's memory.
        self.with_clients = with_clients
        self.clients: dict[int, ConnectionStats] = {}
        # Bytes in and out per second over `window` of the clients that changed in it.
        self.client_rates: dict[int, tuple[float, float]] = {}
        self.accept_pauses = 0

    def take(self, events: list[LifecycleEvent], snapshot: Snapshot | None) -> None:
        """Fold what the channel gave into the report."""
        self.accept_pauses += sum(type(event) is AcceptPaused for event in events)
        if snapshot is None:
            return
        window = Interval.between(self.latest, snapshot)
        if self.with_clients:
            self._take_clients(snapshot, window)
        self.latest, self.window = snapshot, window

    def _take_clients(self, snapshot: Snapshot, window: Interval) -> None:
        clients = self.clients
        self.client_rates = {}
        for conn_id, stats in snapshot.changed.items():
            old = clients.get(conn_id)
            self.client_rates[conn_id] = (
                (stats.bytes_in - (old.bytes_in if old else 0)) / window.seconds,
                (stats.bytes_out - (old.bytes_out if old else 0)) / window.seconds,
            )
        for conn_id in snapshot.closed:
            clients.pop(conn_id, None)
        clients.update(snapshot.changed)


def since_start(snapshot: Snapshot, now: float) -> dict:
    """The fields stats lines and the summary share: when, and the totals since start."""
    totals = snapshot.totals
    return {
        "time": now,
        "uptime": round(now - snapshot.started_at, 3),
        "selector": snapshot.selector,
        "accepted": totals.accepted,
        # Reasons that never happened are left out.
        "closed": {reason: count for reason, count in totals.closed.items() if count},
        "bytes_in": totals.bytes_in,
        "bytes_out": totals.bytes_out,
        "msgs_in": totals.msgs_in,
        "msgs_out": totals.msgs_out,
    }


def clock_text(at: float, interval: float) -> str:
    """Wall-clock time with enough decimals to tell lines `interval` seconds apart."""
    decimals = 0 if interval >= 1 else min(3, math.ceil(-math.log10(interval) - 1e-9))
    whole = time.strftime("%H:%M:%S", time.localtime(at))
    if not decimals:
        return whole
    return f"{whole}.{int(at % 1 * 10**decimals):0{decimals}d}"


def stats_line(report: Report, now: float, interval: float) -> str:
    """The text stats line, within 120 characters (a terminal) under heavy load: rates and
    what is pending now. Totals are in the summary, messages per second in the JSON line
    (about events/s: a read event is one recv())."""
    snapshot, window = report.latest, report.window
    assert snapshot is not None and window is not None
    totals = snapshot.totals
    return (
        f"{clock_text(now, interval)}"
        f"  clients {snapshot.open_count:,}"
        f"  in {format_bytes_short(window.bytes_in_per_s)}/s"
        f"  out {format_bytes_short(window.bytes_out_per_s)}/s"
        f"  pending {format_bytes_short(totals.pending)}"
        f"  selects/s {format_count(window.selects_per_s)}"
        f"  per select {window.events_per_select:.1f}"
        f"  busy {100 * window.busy:.0f}%" + ("  BUFFER FULL" if totals.buffer_full else "")
    )


def stats_record(report: Report, now: float) -> dict:
    """The JSON stats line: cumulative totals, then the last interval's rates and loop split."""
    snapshot, window = report.latest, report.window
    assert snapshot is not None and window is not None
    totals, loop = snapshot.totals, window.loop
    record = {
        "event": "stats",
        **since_start(snapshot, now),
        "connections": snapshot.open_count,
        "pending": totals.pending,
        "buffer_full": totals.buffer_full,
        "accept_paused": totals.accept_paused,
        "accept_pauses": report.accept_pauses,
        "events_dropped": snapshot.events_dropped,
        "interval": round(window.seconds, 3),
        "bytes_in_per_s": round(window.bytes_in_per_s, 1),
        "bytes_out_per_s": round(window.bytes_out_per_s, 1),
        "msgs_per_s": round(window.msgs_per_s, 1),
        "selects_per_s": round(window.selects_per_s, 2),
        "events_per_s": round(loop.events / window.seconds, 2),
        "events_per_select": round(window.events_per_select, 3),
        "max_events_per_select": snapshot.loop.max_batch,
        **loop_health(loop),
        "busy_seconds": round(loop.busy_seconds, 6),
        "empty_selects": loop.empty_selects,
        "accept_events": loop.accept_events,
        "read_events": loop.read_events,
        "write_events": loop.write_events,
        "wakeup_events": loop.wakeup_events,
        "housekeeping_events": loop.housekeeping_events,
        "histogram": {histogram_label(i): count for i, count in enumerate(loop.histogram)},
        "since_start": loop_health(snapshot.loop),
    }
    if report.with_clients:
        record["clients"] = [client_record(report, stats) for stats in report.clients.values()]
    return record


def client_record(report: Report, stats: ConnectionStats) -> dict:
    rate_in, rate_out = report.client_rates.get(stats.conn_id, (0.0, 0.0))
    return {
        "id": stats.conn_id,
        "peer": stats.peer,
        "state": stats.state,
        "connected_at": stats.connected_at,
        "last_activity": stats.last_activity,
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
        "msgs_in": stats.msgs_in,
        "msgs_out": stats.msgs_out,
        "pending": stats.pending,
        "read_ready": stats.read_ready,
        "write_ready": stats.write_ready,
        "bytes_in_per_s": round(rate_in, 1),
        "bytes_out_per_s": round(rate_out, 1),
    }


def summary_record(report: Report) -> dict:
    """The final JSON object: totals since start, close reasons and uptime."""
    snapshot = report.latest
    assert snapshot is not None
    loop = snapshot.loop
    return {
        "event": "summary",
        **since_start(snapshot, snapshot.at),
        "selects": loop.selects,
        "events": loop.events,
        "busy_seconds": round(loop.busy_seconds, 6),
        **loop_health(loop),
        "accept_pauses": snapshot.totals.accept_pauses,
        "events_dropped": snapshot.events_dropped,
    }


def summary_line(report: Report) -> str:
    record = summary_record(report)
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(record["closed"].items()))
    closed = sum(record["closed"].values())
    return (
        f"summary: up {format_duration(record['uptime'])}"
        f"  accepted {record['accepted']:,}"
        f"  closed {closed:,}{f' ({reasons})' if reasons else ''}"
        f"  in {format_bytes(record['bytes_in'])}  out {format_bytes(record['bytes_out'])}"
        f"  msgs in {record['msgs_in']:,}  out {record['msgs_out']:,}"
        f"  selects {record['selects']:,}"
        f"  accept pauses {record['accept_pauses']:,}"
        f"  events dropped {record['events_dropped']:,}"
    )


def run_headless(
    engine: Source,
    stop: threading.Event,
    interval: float,
    as_json: bool,
    out: TextIO | None = None,
    with_clients: bool = False,
) -> int:
    """Print stats to `out` (default stdout) every `interval` s until `stop` or an engine failure.

    Lines come one interval apart from the call (a first one waits for the engine's
    first snapshot); a line that comes before the next snapshot repeats the latest
    rates.  Then the engine is stopped and a summary printed.  Returns 0 on a
    requested stop, 1 when the engine failed (engine.error says why).
    """
    report = Report(with_clients)
    status = 0
    started = time.monotonic()
    ticks = 0
    while True:
        ticks = max(ticks + 1, int((time.monotonic() - started) / interval))
        if stop.wait(max(0.0, started + ticks * interval - time.monotonic())):
            break
        events, snapshot, error = engine.channel.drain()
        report.take(events, snapshot)
        while report.latest is None and error is None and not stop.wait(0.01):
            events, snapshot, error = engine.channel.drain()
            report.take(events, snapshot)
        if error is not None:
            status = 1
            break
        if report.latest is not None:
            print_line(out, report_line(report, time.time(), interval, as_json))
    engine.stop()
    events, snapshot, _ = engine.channel.drain()
    report.take(events, snapshot)
    if report.latest is not None:
        print_line(out, final_line(report, as_json))
    return status


def final_line(report: Report, as_json: bool) -> str:
    """The summary printed when the server stops (or a replay ends)."""
    return json.dumps(summary_record(report)) if as_json else summary_line(report)


def report_line(report: Report, now: float, interval: float, as_json: bool) -> str:
    """One stats line as of `now` (wall clock), as text or JSON."""
    if as_json:
        return json.dumps(stats_record(report, now))
    return stats_line(report, now, interval)


def print_line(out: TextIO | None, line: str) -> None:
    print(line, file=out or sys.stdout, flush=True)
