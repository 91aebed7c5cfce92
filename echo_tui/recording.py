"""Recording a session to disk (`--record FILE`) and reading it back (`echo-tui replay`).

The format (documented in docs/recording.md) is JSON Lines, gzip-compressed when
the file name ends in `.gz`: a header object, then one record per line, each
`{"t": seconds since the engine started, "kind": "<type>", "data": {...}}` where
kind names an event type of echo_tui.engine.events, `Snapshot`, or `note`.

The recorder is a subscriber of the engine (a channel of its own), drained by a
writer thread: the engine never waits for the disk.  A disk that falls behind
makes the channel merge snapshots (totals stay exact) and count the events it
could not hold, which the recording carries in its snapshots' `events_dropped`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, TextIO

from echo_tui import __version__
from echo_tui.engine import events
from echo_tui.engine.events import (
    Connected,
    ConnectionStats,
    EngineError,
    EventChannel,
    LifecycleEvent,
    LoopStats,
    Snapshot,
    Totals,
)
from echo_tui.engine.server import EchoEngine
from echo_tui.units import format_bytes

FORMAT = "echo-tui-recording"
FORMAT_VERSION = 3  # 2: ClientKind records (a version-1 reader would stop at one);
# 3: loop health in snapshots (older files replay with those figures at zero)
DRAIN_EVERY = 0.05  # seconds between takes from the channel (under the engine's 0.1 s tick)
FLUSH_EVERY = 0.5  # seconds between flushes to the OS: a kill -9 loses at most this much
DEFAULT_MAX_BYTES = 1 << 30
GZIP_LEVEL = 3  # JSON compresses about 20 times at 3, at a fraction of the default 9's CPU
CHANNEL_CAPACITY = 10_000  # lifecycle events the recorder's channel holds between writes
KIND_WAIT = 5.0  # seconds a new client's --demo kind is waited for

_EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        events.Connected,
        events.Disconnected,
        events.Rejected,
        events.CommandResult,
        events.AcceptPaused,
        events.AcceptResumed,
        events.EngineStopped,
        EngineError,
    )
}


class RecordingError(Exception):
    """The file is not a recording this version can read (the message says why, in one line)."""


# A snapshot's connections are written as arrays of these fields, named once in the header.
CONNECTION_FIELDS = tuple(f.name for f in fields(ConnectionStats))
_connection_values = attrgetter(*CONNECTION_FIELDS)


@dataclass(frozen=True, slots=True)
class Header:
    """What the first line of a recording says about the session."""

    version: int
    echo_tui: str
    started_at: float  # wall clock
    address: tuple[str, int]
    selector: str
    limits: Mapping[str, Any]  # EngineConfig's fields as recorded
    connection_fields: tuple[str, ...] = CONNECTION_FIELDS  # the order of a connection's values

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            **asdict(self),
            "limits": dict(self.limits),
            "connection_fields": list(self.connection_fields),
        }


@dataclass(frozen=True, slots=True)
class Record:
    """One line after the header: `t` seconds after the engine started."""

    t: float
    item: Item


@dataclass(frozen=True, slots=True)
class ClientKind:
    """What a --demo client does (`slow reader`, ...), as the demo swarm reported it."""

    peer: str
    kind: str


# What a record holds; str: a note from the recorder.
Item = LifecycleEvent | Snapshot | EngineError | ClientKind | str


# ---------------------------------------------------------------------- encoding


def encode(item: Item) -> tuple[str, dict[str, Any]]:
    """The record's kind and data for an event, a snapshot or a note."""
    if isinstance(item, str):
        return "note", {"text": item}
    if isinstance(item, Snapshot):
        # Not what the loop inspector records for its screens: a preview of client bytes
        # lives only while the operator looks at it, never in a file.
        data = {f.name: getattr(item, f.name) for f in fields(Snapshot) if f.name != "inspected"}
        totals = item.totals
        data["totals"] = {f.name: getattr(totals, f.name) for f in fields(Totals)}
        data["totals"]["closed"] = dict(totals.closed)
        data["loop"] = asdict(item.loop)
        data["changed"] = [_connection_values(stats) for stats in item.changed.values()]
        data["closed"] = sorted(item.closed)
        return "Snapshot", data
    return type(item).__name__, asdict(item)


def decode(
    kind: str, data: Mapping[str, Any], connection_fields: tuple[str, ...] = CONNECTION_FIELDS
) -> Item:
    """The inverse of encode(); unknown fields are ignored, missing ones take their defaults.

    `connection_fields` names the values of a snapshot's connections (from the header).
    """
    if kind == "note":
        return str(data["text"])
    if kind == "ClientKind":
        return ClientKind(str(data["peer"]), str(data["kind"]))
    if kind == "Snapshot":
        totals = _build(Totals, data["totals"])
        totals = replace(totals, closed=MappingProxyType(dict(totals.closed)))
        loop = _build(LoopStats, data["loop"])
        loop = replace(
            loop,
            histogram=tuple(loop.histogram),
            iterations=tuple(loop.iterations),
            loop_delays=tuple(loop.loop_delays),
        )
        changed = [_connection(values, connection_fields) for values in data["changed"]]
        return _build(
            Snapshot,
            {
                **data,
                "address": tuple(data["address"]),
                "totals": totals,
                "loop": loop,
                "changed": MappingProxyType({stats.conn_id: stats for stats in changed}),
                "closed": frozenset(data["closed"]),
            },
        )
    cls = _EVENT_TYPES.get(kind)
    if cls is None:
        raise KeyError(kind)
    return _build(cls, data)


def record_line(t: float, item: Item) -> str:
    """The line (without its newline) that records `item` at `t` seconds."""
    kind, data = encode(item)
    return json.dumps({"t": round(t, 6), "kind": kind, "data": data}, separators=(",", ":"))


def parse_line(line: str, connection_fields: tuple[str, ...] = CONNECTION_FIELDS) -> Record:
    """The record on a line (ValueError, KeyError or TypeError when it is damaged)."""
    record = json.loads(line)
    return Record(float(record["t"]), decode(record["kind"], record["data"], connection_fields))


def _connection(values: list[Any], connection_fields: tuple[str, ...]) -> ConnectionStats:
    if connection_fields == CONNECTION_FIELDS and len(values) == len(CONNECTION_FIELDS):
        return ConnectionStats(*values)  # most of a replay's decoding: make it quick
    return _build(ConnectionStats, dict(zip(connection_fields, values, strict=False)))


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    known = _field_names(cls)
    return cls(**{name: value for name, value in data.items() if name in known})


# ---------------------------------------------------------------------- writing


class Recorder:
    """Writes what `engine` reports to a file, from a thread of its own.

    Create it before engine.start() (it subscribes then, so it misses nothing),
    call start() once the engine listens (the header needs the address), and
    stop() after the engine stopped: it writes the last snapshot and closes.
    """

    def __init__(
        self,
        engine: EchoEngine,
        path: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        overwrite: bool = False,
        stream: IO[bytes] | None = None,
        capacity: int = CHANNEL_CAPACITY,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        """Open the file (FileExistsError unless `overwrite`; OSError as open() raises).

        Notices for the user (the size bound reached, a disk error) go to `notify`
        as they happen, from whichever thread has them; without it they wait for
        take_notices().
        """
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._engine = engine
        self._raw = stream or open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115
        self._out: IO[bytes] | gzip.GzipFile = (
            gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=GZIP_LEVEL)
            if self.path.suffix == ".gz"
            else self._raw
        )
        self.channel: EventChannel = engine.subscribe(capacity)  # drained by the writer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="echo-recorder", daemon=True)
        self._notices: deque[str] = deque()
        self._notify = notify or self._notices.append
        self._full = False  # the bound was reached or writing failed: nothing more is written
        self._failed = False  # writing failed (once said, not said again when closing)
        self._written = 0  # bytes handed to the (compressing) stream
        self._origin = 0.0  # wall clock the record times count from
        self._began: float | None = None  # time.monotonic() when recording began
        # With --demo, what each demo client does (set once the swarm runs): peers
        # connected whose kind the swarm has not reported yet, until when to ask.
        self.kind_of: Callable[[str], str | None] | None = None
        self._unnamed: dict[str, float] = {}
        self._seconds = 0.0  # how long it recorded, once stopped

    def start(self) -> None:
        """Write the header (the engine must be listening) and start writing records."""
        engine = self._engine
        self._origin = engine.started_at
        header = Header(
            version=FORMAT_VERSION,
            echo_tui=__version__,
            started_at=engine.started_at,
            address=tuple(engine.address),  # type: ignore[arg-type]
            selector=engine.selector_name,
            limits=asdict(engine.config),
        )
        line = (json.dumps(header.to_json()) + "\n").encode()
        try:  # never refused for --record-max: without its header a file is no recording
            self._out.write(line)
            self._out.flush()
        except OSError as exc:
            self._stopped_by(exc)
            return
        self._written += len(line)
        self._began = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Write what is left (call after the engine stopped) and close the file."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(10)
        if not self._full:
            self._seconds = self._recorded_seconds()
        self._close()

    def _recorded_seconds(self) -> float:
        return 0.0 if self._began is None else time.monotonic() - self._began

    @property
    def recording(self) -> bool:
        """Records are being written (not yet stopped by --record-max or a disk error)."""
        return self._began is not None and not self._full

    def file_size(self) -> int:
        """Bytes in the file so far (compressed when it is gzip; what reached the stream)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # closed: its size on disk, if it has one
            try:
                return self.path.stat().st_size
            except OSError:
                return 0

    def summary(self) -> str | None:
        """What was recorded, once stopped: `recorded 12.3 s, 1.2 MiB to FILE` (None if the
        file could not be written)."""
        if self._began is None or self._failed:  # a failure said so already
            return None
        return f"recorded {self._seconds:.1f} s, {format_bytes(self.file_size())} to {self.path}"

    def discard(self) -> None:
        """Close and delete the file: the engine never started, so nothing was recorded."""
        self._close()
        self.path.unlink(missing_ok=True)

    def take_notices(self) -> list[str]:
        """Notices for the user since the last call (say, the size bound was reached)."""
        notices = []
        while self._notices:
            notices.append(self._notices.popleft())
        return notices

    @property
    def bytes_written(self) -> int:
        """Bytes of records written so far (before compression)."""
        return self._written

    def _run(self) -> None:
        try:
            flushed = time.monotonic()
            while not self._stop.wait(DRAIN_EVERY):
                self._write_pending()
                if time.monotonic() - flushed >= FLUSH_EVERY:
                    self._out.flush()
                    flushed = time.monotonic()
            self._write_pending()
            self._out.flush()
        except (OSError, ValueError) as exc:
            self._stopped_by(exc)

    def _stopped_by(self, exc: Exception) -> None:
        """Disk full, file gone: recording stops and the server goes on."""
        self._notify(f"recording to {self.path} stopped: {exc}")
        self._full = self._failed = True
        self._seconds = self._recorded_seconds()

    def _write_pending(self) -> None:
        events, snapshot, error = self.channel.drain()
        lines = [self._line(event) for event in events]
        if self.kind_of is not None:
            lines += [self._line(kind) for kind in self._kinds(events, self.kind_of)]
        if snapshot is not None:
            # The recording counts what *it* lost, not what the dashboard did.
            snapshot = replace(snapshot, events_dropped=self.channel.dropped)
            lines.append(self._line(snapshot))
        if error is not None and not self._full:
            lines.append(self._line(error))
        self._write(lines)

    def _kinds(
        self, events: list[LifecycleEvent], kind_of: Callable[[str], str | None]
    ) -> list[ClientKind]:
        """The kinds of new clients the swarm has reported (it may report a little after
        the engine accepted them: a client is asked about for KIND_WAIT seconds)."""
        now = time.monotonic()
        unnamed = self._unnamed
        for event in events:
            if isinstance(event, Connected):
                unnamed[event.peer] = now + KIND_WAIT
        named = []
        for peer, until in list(unnamed.items()):
            kind = kind_of(peer)
            if kind is not None:
                named.append(ClientKind(peer, kind))
            if kind is not None or now > until:
                del unnamed[peer]
        return named

    def _line(self, item: Item) -> str:
        at = time.time() if isinstance(item, str) else (getattr(item, "at", 0.0) or time.time())
        return record_line(at - self._origin, item)

    def _write(self, lines: list[str]) -> None:
        if self._full or not lines:
            return
        chunk = ("\n".join(lines) + "\n").encode()
        if self._written + len(chunk) > self.max_bytes:
            note = f"recording stopped: --record-max {self.max_bytes:,} bytes reached"
            chunk = (self._line(note) + "\n").encode()
            self._full = True
            self._seconds = self._recorded_seconds()
            self._notify(f"{note}; the server goes on")
        self._out.write(chunk)
        self._written += len(chunk)

    def _close(self) -> None:
        try:
            try:
                if self._out is not self._raw:
                    self._out.close()  # the gzip layer: writes its end of stream
            finally:
                self._raw.close()
        except OSError as exc:
            if not self._failed:
                self._notify(f"closing {self.path} failed: {exc}")


# ---------------------------------------------------------------------- reading


@dataclass(slots=True)
class Reading:
    """A recording opened for reading: its header and, once read through, any warning."""

    header: Header
    records: Iterator[tuple[Record, str]]  # in file order, each with its line (no newline)
    warning: str | None = None  # set when the file turns out to be cut short
    file: IO[bytes] | None = None  # the file on disk (compressed or not), while it is read
    size: int = 0  # its size in bytes

    def fraction_read(self) -> float:
        """How much of the file on disk has been read so far, from 0 to 1."""
        try:
            return min(1.0, self.file.tell() / self.size) if self.file and self.size else 1.0
        except ValueError:  # closed: read through
            return 1.0


def open_recording(path: str | os.PathLike[str]) -> Reading:
    """Open a recording; RecordingError (one line) when it is not one this version reads.

    Records are read lazily; a file cut short (a crash, kill -9, a gzip stream
    with no end) ends the iteration at the last whole record and sets `warning`.
    """
    raw = open_for_reading(path)  # closed by the iterator
    compressed = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    stream = gzip.GzipFile(fileobj=raw) if compressed else raw
    lines = io.TextIOWrapper(stream, encoding="utf-8", errors="strict")
    try:
        first = lines.readline()
        header = _parse_header(first)
    except RecordingError as exc:
        raw.close()
        raise RecordingError(f"{path}: {exc}") from None
    except (OSError, EOFError, UnicodeDecodeError, ValueError):
        raw.close()
        raise RecordingError(f"{path}: not an echo-tui recording") from None
    reading = Reading(header, iter(()), file=raw, size=os.fstat(raw.fileno()).st_size)
    reading.records = _records(lines, raw, reading, str(path))
    return reading


def open_for_reading(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file at `path`, opened; RecordingError naming it when it cannot be read."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_header(line: str) -> Header:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError("not an echo-tui recording")
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingError(
            f"recording format version {version} is newer than this echo-tui reads "
            f"({FORMAT_VERSION}): upgrade echo-tui"
        )
    try:
        return Header(
            version=version,
            echo_tui=str(data["echo_tui"]),
            started_at=float(data["started_at"]),
            address=(str(data["address"][0]), int(data["address"][1])),
            selector=str(data["selector"]),
            limits=MappingProxyType(dict(data["limits"])),
            connection_fields=tuple(map(str, data["connection_fields"])),
        )
    except (KeyError, IndexError, TypeError, ValueError):
        raise RecordingError("the recording's header is damaged") from None


def _records(
    lines: TextIO, raw: IO[bytes], reading: Reading, path: str
) -> Iterator[tuple[Record, str]]:
    number = 1
    try:
        while True:
            try:
                line = lines.readline()
            except (OSError, EOFError, UnicodeDecodeError) as exc:  # a gzip stream cut short
                reading.warning = f"{path} is cut short after line {number}: {exc}"
                return
            if not line:
                return
            number += 1
            if not line.endswith("\n"):
                reading.warning = f"{path} is cut short in line {number}: replayed up to the cut"
                return
            line = line[:-1]
            try:
                record = parse_line(line, reading.header.connection_fields)
            except (ValueError, KeyError, TypeError):
                reading.warning = f"{path}: line {number} is damaged: replayed up to it"
                return
            yield record, line
    finally:
        raw.close()
