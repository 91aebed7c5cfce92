"""`echo-tui load`: a closed-loop load generator for any TCP echo server.

Each connection keeps one message in flight (or paces itself to `--rate`
messages per second) and checks that every echo matches, byte for byte, what it
sent.  Every message carries its connection number and sequence number, so a
reordered, duplicated or corrupted echo is caught.  Each process runs one
event loop on epoll (`selectors` where there is no epoll) that does per echo
only a recv(), one comparison, one latency append and the next send: one process
keeps up with a uvloop client (benchmarks/load_generator.py).  Connections can
be spread over worker processes (spawned) too.

Exit codes: 0 all echoes matched; 1 mismatches or connections lost during the
run; 2 usage error or the server could not be reached.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import select
import selectors
import socket
import struct
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from echo_tui.arguments import (
    USAGE_ERROR,
    DefaultsHelpFormatter,
    OneLineParser,
    UsageError,
    number_type,
    port_type,
    size_type,
)
from echo_tui.portable import raise_fd_limit
from echo_tui.tools.client import connect_failure
from echo_tui.units import MIB, format_size

HEADER = struct.Struct(">II")  # connection number, sequence number
# epoll's event bits (select.EPOLLIN, select.EPOLLOUT), spelled out: select has them only
# where there is epoll, and SelectorPoller speaks them too.
EPOLLIN = 0x001
EPOLLOUT = 0x004
PROGRESS_EVERY = 0.2  # seconds between progress updates from a worker
# recv() allocates this much for every call: past malloc's mmap threshold (128 KiB) that
# is an mmap per echo, which took 256 KiB reads to 5x the CPU per message.
RECV_SIZE = 64 * 1024
DRAIN_GRACE = 1.0  # seconds to wait for the echoes in flight when time is up
MAX_REASONS = 3  # error/mismatch descriptions kept per worker


@dataclass(frozen=True)
class LoadSpec:
    """What to run: the target, the load shape and how long."""

    host: str = "127.0.0.1"
    port: int = 1234
    connections: int = 10
    size: int = 100
    rate: float | None = None  # messages per second per connection; None: closed loop
    duration: float = 5.0
    processes: int = 1
    connect_timeout: float = 3.0


@dataclass
class LoadResult:
    """What one worker (or, merged, the whole run) measured."""

    connections: int = 0
    messages: int = 0
    errors: int = 0
    mismatches: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0  # CPU seconds the loop's process used while it ran (all workers, summed)
    latencies: array = field(default_factory=lambda: array("d"))  # seconds
    reasons: list[str] = field(default_factory=list)
    connect_error: str | None = None

    def merge(self, other: LoadResult) -> None:
        """Add another worker's counts into this one."""
        self.connections += other.connections
        self.messages += other.messages
        self.errors += other.errors
        self.mismatches += other.mismatches
        self.elapsed = max(self.elapsed, other.elapsed)
        self.cpu += other.cpu
        self.latencies.extend(other.latencies)
        self.reasons.extend(other.reasons[: MAX_REASONS - len(self.reasons)])
        self.connect_error = self.connect_error or other.connect_error


class _Conn:
    """One client connection: its message buffer and what has come back of the message in flight."""

    __slots__ = (
        "busy",
        "due",
        "expect",
        "fd",
        "message",
        "number",
        "received",
        "recv",
        "send",
        "sent",
        "sent_at",
        "seq",
        "sock",
    )

    def __init__(self, number: int, sock: socket.socket, message: bytearray) -> None:
        self.number = number
        self.sock = sock
        self.fd = sock.fileno()
        self.recv = sock.recv  # bound once: the hot loop calls them for every message
        self.send = sock.send
        self.message = message  # reused: stamped in place with each new sequence number
        self.seq = 0  # of the message in flight; the first is number 1
        self.sent = 0  # bytes of `message` written so far
        self.received = bytearray()  # an echo that arrived in pieces, until it is whole
        # `message` while the next recv() can return the whole echo in one piece (all of it
        # sent, nothing partial received): one bytes comparison verifies it; else None.
        self.expect: bytearray | None = None
        self.sent_at = 0.0
        self.busy = False  # a message is in flight
        self.due = 0.0  # when the next paced message is due


class Payloads:
    """Distinct messages of a fixed size: a header (connection, sequence) and a body per connection.

    Messages shorter than the header carry the low bytes of the sequence number only.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        pattern = bytes(range(33, 127)) + bytes(range(256))
        self._pattern = pattern * (size // len(pattern) + 2)
        self._period = len(pattern)
        self._last_byte = min(size, HEADER.size) - 1  # where the sequence number's last byte is

    def blank(self, number: int) -> bytearray:
        """Connection `number`'s message buffer, holding its message 0."""
        start = (number * 7) % self._period
        message = bytearray(self._pattern[start : start + self.size])
        self.stamp(message, number, 0)
        return message

    def stamp(self, message: bytearray, number: int, seq: int) -> None:
        """Write the header of message `seq` into connection `number`'s buffer."""
        header = HEADER.pack(number & 0xFFFFFFFF, seq & 0xFFFFFFFF)
        if self.size >= HEADER.size:
            message[: HEADER.size] = header
        else:
            message[:] = header[-self.size :]

    def advance(self, message: bytearray, number: int, seq: int) -> None:
        """Turn the buffer holding message `seq - 1` into message `seq`, cheaply.

        Per message only the sequence number's last byte changes: write that one
        byte, and the whole header when it wraps (a full stamp costs about 5x more).
        """
        message[self._last_byte] = low = seq & 0xFF
        if not low:
            self.stamp(message, number, seq)

    def make(self, number: int, seq: int) -> bytes:
        """The message `seq` of connection `number`."""
        message = self.blank(number)
        self.stamp(message, number, seq)
        return bytes(message)


class SelectorPoller:
    """`select.epoll`'s interface (fds, EPOLLIN/EPOLLOUT bits) over `selectors`, for want of it."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def register(self, fd: int, mask: int) -> None:
        self._selector.register(fd, _selector_events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._selector.modify(fd, _selector_events(mask))

    def unregister(self, fd: int) -> None:
        self._selector.unregister(fd)

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        return [
            (key.fd, (EPOLLIN if events & selectors.EVENT_READ else 0)
             | (EPOLLOUT if events & selectors.EVENT_WRITE else 0))
            for key, events in self._selector.select(timeout)
        ]  # fmt: skip

    def close(self) -> None:
        self._selector.close()


def _selector_events(mask: int) -> int:
    return (selectors.EVENT_READ if mask & EPOLLIN else 0) | (
        selectors.EVENT_WRITE if mask & EPOLLOUT else 0
    )


def new_poller() -> select.epoll | SelectorPoller:
    """epoll where there is one: it hands back fds, with no per-event key objects to build."""
    return select.epoll() if hasattr(select, "epoll") else SelectorPoller()


class LoadClient:
    """A group of connections driven by one event loop in the current process."""

    def __init__(
        self,
        spec: LoadSpec,
        first: int,
        count: int,
        poller: select.epoll | SelectorPoller | None = None,
    ) -> None:
        self.spec = spec
        self.first = first
        self.count = count
        self.payloads = Payloads(spec.size)
        self.result = LoadResult()
        self.conns: dict[int, _Conn] = {}  # by fd
        self.poller = poller or new_poller()
        self.in_flight = 0  # connections waiting for an echo

    def connect(self) -> bool:
        """Open every connection; False (with `result.connect_error`) if one fails."""
        raise_fd_limit(self.count + 64)
        spec = self.spec
        for number in range(self.first, self.first + self.count):
            try:
                sock = socket.create_connection((spec.host, spec.port), spec.connect_timeout)
            except OSError as exc:
                failure = connect_failure(spec.host, spec.port, exc, spec.connect_timeout)
                self.result.connect_error = failure
                self.close()
                return False
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            conn = _Conn(number, sock, self.payloads.blank(number))
            self.conns[conn.fd] = conn
        self.result.connections = len(self.conns)
        return True

    def close(self) -> None:
        """Close every socket and the poller."""
        for conn in self.conns.values():
            conn.sock.close()
        self.conns.clear()
        self.poller.close()

    def run(self, progress: Callable[[int], None] | None = None) -> LoadResult:
        """Drive the connections for the spec's duration; returns the result.

        The loop is the hot path: per echo it does one recv(), one comparison of the
        whole echo with the message sent, one latency append and the next send.
        Pieces, mismatches and errors go to the slower methods.  A message's latency
        runs from just before its send() to the return of the poll() that reported its
        echo: the time this loop then takes to reach it in the batch is not counted.
        Every latency is kept, so the percentiles are exact.
        """
        spec = self.spec
        result = self.result
        latencies = result.latencies
        record = latencies.append
        conns = self.conns
        poll = self.poller.poll
        clock = time.monotonic
        cpu_start = time.process_time()
        start = clock()
        deadline = start + spec.duration
        interval = 1.0 / spec.rate if spec.rate else 0.0
        schedule: list[tuple[float, int, _Conn]] = []  # (when, number, conn) of paced sends
        conn: _Conn | None  # None: a ready fd lost earlier in its batch
        for index, conn in enumerate(list(conns.values())):
            self.poller.register(conn.fd, EPOLLIN)
            if interval:
                conn.due = start + interval * index / len(conns)
                schedule.append((conn.due, conn.number, conn))
            else:
                self._start(conn)
        heapq.heapify(schedule)
        next_progress = start + PROGRESS_EVERY
        now = start
        while conns:
            sending = now < deadline
            if sending:
                timeout = deadline - now
                if schedule:
                    timeout = min(timeout, max(0.0, schedule[0][0] - now))
            elif self.in_flight and now < deadline + DRAIN_GRACE:
                timeout = deadline + DRAIN_GRACE - now  # let echoes in flight come back
            else:
                break
            events = poll(timeout)
            now = clock()  # when these echoes were seen: one clock read for the batch
            for fd, mask in events:
                conn = conns.get(fd)
                if conn is None:  # lost earlier in this batch
                    continue
                if mask & EPOLLOUT and (not self._flush(conn) or mask == EPOLLOUT):
                    continue
                try:
                    data = conn.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self._lose(conn, f"recv failed: {exc.strerror or exc}")
                    continue
                if conn.expect != data and not self._reassemble(conn, data):
                    continue
                record(now - conn.sent_at)
                if sending and not interval:
                    self._send(conn)  # the next message at once: the connection stays busy
                    continue
                conn.busy = False
                conn.expect = None
                self.in_flight -= 1
                if sending:  # the next send is due one interval after the last was
                    conn.due = max(conn.due + interval, now)
                    heapq.heappush(schedule, (conn.due, conn.number, conn))
            while sending and schedule and schedule[0][0] <= now:
                conn = heapq.heappop(schedule)[2]
                if conns.get(conn.fd) is conn:  # not lost meanwhile
                    self._start(conn)
            if progress is not None and now >= next_progress:
                progress(len(latencies))
                next_progress = now + PROGRESS_EVERY
        result.elapsed = now - start
        result.cpu = time.process_time() - cpu_start
        result.messages = len(latencies)
        if progress is not None:
            progress(result.messages)
        self.close()
        return result

    def _start(self, conn: _Conn) -> None:
        """Send the next message on an idle connection."""
        conn.busy = True
        self.in_flight += 1
        self._send(conn)

    def _send(self, conn: _Conn) -> None:
        """Stamp the next sequence number into the message and send it."""
        message = conn.message
        conn.seq += 1
        self.payloads.advance(message, conn.number, conn.seq)
        conn.sent_at = time.monotonic()
        try:
            sent = conn.send(message)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lose(conn, f"send failed: {exc.strerror or exc}")
            return
        conn.sent = sent
        if sent == len(message):
            conn.expect = message
        else:
            conn.expect = None
            self.poller.modify(conn.fd, EPOLLIN | EPOLLOUT)

    def _flush(self, conn: _Conn) -> bool:
        """Send more of a message that did not fit in the socket buffer at once.

        False if the connection was lost.
        """
        try:
            conn.sent += conn.send(memoryview(conn.message)[conn.sent :])
        except BlockingIOError:
            return True
        except OSError as exc:
            self._lose(conn, f"send failed: {exc.strerror or exc}")
            return False
        if conn.sent == len(conn.message):
            self.poller.modify(conn.fd, EPOLLIN)
            if not conn.received:
                conn.expect = conn.message
        return True

    def _reassemble(self, conn: _Conn, data: bytes) -> bool:
        """Take what arrived outside the fast path; True when the echo in flight is complete."""
        if not data:
            self._lose(conn, "server closed the connection")
            return False
        if not conn.busy:
            self._mismatch(conn, f"{len(data)} bytes came back with no message in flight")
            return False
        conn.expect = None  # pieces pending: the next recv() cannot hold a whole echo
        received = conn.received
        received += data
        size = len(conn.message)
        if len(received) < size:
            return False
        if len(received) > conn.sent:  # more than the message, or bytes not sent yet
            self._mismatch(conn, f"{len(received)} bytes came back for {conn.sent} sent")
            received.clear()
            return conn.sent == size
        if received != conn.message:
            self._mismatch(conn, _describe_mismatch(bytes(conn.message), bytes(received)))
        received.clear()
        return True

    def _mismatch(self, conn: _Conn, reason: str) -> None:
        self.result.mismatches += 1
        if len(self.result.reasons) < MAX_REASONS:
            self.result.reasons.append(f"connection {conn.number} message {conn.seq}: {reason}")

    def _lose(self, conn: _Conn, reason: str) -> None:
        self.result.errors += 1
        if conn.busy:
            self.in_flight -= 1
        if len(self.result.reasons) < MAX_REASONS:
            self.result.reasons.append(f"connection {conn.number}: {reason}")
        self.poller.unregister(conn.fd)
        del self.conns[conn.fd]
        conn.sock.close()


def _describe_mismatch(expected: bytes, got: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), len(got))
    return f"echo differs at byte {at} of {len(expected)}"


def _worker(spec: LoadSpec, first: int, count: int, pipe, progress_slots, slot: int) -> None:
    """Worker process: connect, report, wait for go, run, send the result back."""
    client = LoadClient(spec, first, count)
    ok = client.connect()
    pipe.send(("ready", client.result.connect_error))
    try:
        go = pipe.recv()
    except EOFError:
        go = "stop"
    if not ok or go != "go":
        client.close()
        return

    def progress(messages: int) -> None:
        progress_slots[slot] = messages

    pipe.send(("done", client.run(progress)))


def run_load(spec: LoadSpec, progress: Callable[[int, float], None] | None = None) -> LoadResult:
    """Run the whole load (in-process or across worker processes) and merge the results.

    `progress(messages, elapsed)` is called a few times a second while it runs.
    """
    processes = max(1, min(spec.processes, spec.connections))
    if processes == 1:
        client = LoadClient(spec, 0, spec.connections)
        if not client.connect():
            return client.result
        started = time.monotonic()
        callback = None if progress is None else lambda n: progress(n, time.monotonic() - started)
        return client.run(callback)
    return _run_processes(spec, processes, progress)


def _run_processes(
    spec: LoadSpec, processes: int, progress: Callable[[int, float], None] | None
) -> LoadResult:
    ctx = multiprocessing.get_context("spawn")
    slots = ctx.Array("q", processes, lock=False)
    workers = []
    base, extra = divmod(spec.connections, processes)
    first = 0
    for slot in range(processes):
        count = base + (slot < extra)
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=_worker, args=(spec, first, count, child_end, slots, slot), daemon=True
        )
        proc.start()
        child_end.close()
        workers.append((proc, parent_end))
        first += count
    merged = LoadResult()
    try:
        failures = [error for _, pipe in workers if (error := _receive(pipe, "ready"))]
        command = "stop" if failures else "go"
        for _, pipe in workers:
            pipe.send(command)
        if failures:
            merged.connect_error = failures[0]
            return merged
        started = time.monotonic()
        pending = [pipe for _, pipe in workers]
        while pending:
            ready = multiprocessing.connection.wait(pending, timeout=PROGRESS_EVERY)
            for pipe in [p for p in pending if p in ready]:
                merged.merge(_receive(pipe, "done"))
                pending.remove(pipe)
            if progress is not None:
                progress(sum(slots), time.monotonic() - started)
        return merged
    finally:
        for proc, pipe in workers:
            pipe.close()
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _receive(pipe, kind: str):
    try:
        got, value = pipe.recv()
    except EOFError:
        raise RuntimeError("a load worker process died") from None
    if got != kind:
        raise RuntimeError(f"load worker sent {got!r}, expected {kind!r}")
    return value


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of an ascending sequence (nearest rank); 0 if empty."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(spec: LoadSpec, result: LoadResult) -> dict:
    """The run as one JSON-ready dict (rates over the measured time, latencies in ms)."""
    ordered = sorted(result.latencies)
    elapsed = result.elapsed or spec.duration
    rate = result.messages / elapsed if elapsed > 0 else 0.0
    return {
        "host": spec.host,
        "port": spec.port,
        "connections": result.connections,
        "processes": max(1, min(spec.processes, spec.connections)),
        "size": spec.size,
        "rate": spec.rate,
        "duration": round(elapsed, 3),
        "messages": result.messages,
        "messages_per_s": round(rate, 1),
        "mib_per_s": round(rate * spec.size / MIB, 3),
        "latency_ms": {
            name: round(percentile(ordered, q) * 1000, 3)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
        "cpu_s": round(result.cpu, 3),
        "errors": result.errors,
        "mismatches": result.mismatches,
        "reasons": result.reasons,
    }


def format_summary(summary: dict) -> str:
    """The human-readable summary printed at the end of a run."""
    lat = summary["latency_ms"]
    pacing = "closed loop" if not summary["rate"] else f"{summary['rate']:g} msg/s per connection"
    lines = [
        f"target       {summary['host']}:{summary['port']}",
        f"connections  {summary['connections']} ({summary['processes']} process"
        f"{'es' if summary['processes'] > 1 else ''})",
        f"messages     {summary['size']} B, {pacing}",
        f"duration     {summary['duration']:.2f} s",
        f"echoed       {summary['messages']:,} ({summary['messages_per_s']:,.0f} msg/s, "
        f"{summary['mib_per_s']:.2f} MiB/s each way)",
        f"latency      p50 {lat['p50']:.3f} ms  p90 {lat['p90']:.3f} ms  "
        f"p99 {lat['p99']:.3f} ms  max {lat['max']:.3f} ms",
        f"errors       {summary['errors']}",
        f"mismatches   {summary['mismatches']}",
    ]
    lines.extend(f"  {reason}" for reason in summary["reasons"])
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `echo-tui load`."""
    parser = OneLineParser(
        prog="echo-tui load",
        description="Drive an echo server with closed-loop (or paced) load and verify every echo.",
        epilog="Exit status: 0 all echoes matched, 1 mismatches or lost connections, "
        "2 usage error or server unreachable.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="server host")
    parser.add_argument("--port", type=port_type(1), default=1234, help="server port")
    parser.add_argument(
        "--connections", type=number_type(int, 1), default=10, help="connections to open"
    )
    parser.add_argument(
        "--size",
        type=size_type(1),
        default=format_size(100),
        metavar="SIZE",
        help="bytes per message (or 4KiB, 1MiB...)",
    )
    parser.add_argument(
        "--rate",
        type=number_type(float, 0, strict=True),
        default=None,
        help="messages/s per connection (default: unlimited, one message in flight)",
    )
    parser.add_argument(
        "--duration", type=number_type(float, 0, strict=True), default=5.0, help="seconds"
    )
    parser.add_argument(
        "--processes",
        type=number_type(int, 1),
        default=None,
        help="worker processes (default: 1 below 32 connections, else min(2, cores - 1))",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def default_processes(connections: int, cores: int | None = None) -> int:
    """One process for a few connections, else two, leaving a core to the server
    (usually on the same machine): one process already keeps up with a uvloop client."""
    cores = cores if cores is not None else os.cpu_count() or 1
    return 1 if connections < 32 else max(1, min(2, cores - 1))


def load_main(argv: list[str]) -> int:
    """Run `echo-tui load` with `argv` (without the `load` word); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"echo-tui load: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    spec = LoadSpec(
        host=args.host,
        port=args.port,
        connections=args.connections,
        size=args.size,
        rate=args.rate,
        duration=args.duration,
        processes=args.processes or default_processes(args.connections),
    )
    show_progress = not args.json and sys.stderr.isatty()
    try:
        result = _run_with_progress(spec) if show_progress else run_load(spec)
    except KeyboardInterrupt:
        print("echo-tui load: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # a worker process died or broke the protocol
        print(f"echo-tui load: {exc}", file=sys.stderr)
        return 1
    if result.connect_error:
        print(f"echo-tui load: {result.connect_error}", file=sys.stderr)
        return 2
    summary = summarize(spec, result)
    print(json.dumps(summary) if args.json else format_summary(summary), flush=True)
    if result.mismatches or result.errors:
        first = result.reasons[0] if result.reasons else ""
        print(
            f"echo-tui load: {result.mismatches} mismatched echoes, {result.errors} lost "
            f"connections{': ' + first if first else ''}",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_with_progress(spec: LoadSpec) -> LoadResult:
    """run_load with a transient Rich progress bar on stderr."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]load[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[messages]:>12,} msgs  {task.fields[rate]:>10,.0f} msg/s"),
        TimeRemainingColumn(),
    )
    target = escape(f"{spec.host}:{spec.port} x{spec.connections}")
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(target, total=spec.duration, messages=0, rate=0.0)

        def update(messages: int, elapsed: float) -> None:
            rate = messages / elapsed if elapsed > 0 else 0.0
            bar.update(task, completed=min(elapsed, spec.duration), messages=messages, rate=rate)

        return run_load(spec, update)


if __name__ == "__main__":
    sys.exit(load_main(sys.argv[1:]))
