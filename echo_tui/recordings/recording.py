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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Protocol, TextIO

from echo_tui import __version__
from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import Connected, EventChannel, LifecycleEvent
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.records import (  # the codec, also the wire's; re-exported for readers
    FORMAT_VERSION,
    ClientKind,
    Header,
    Item,
    Record,
    RecordingError,
    parse_header,
    parse_line,
    record_line,
)
from echo_tui.units import format_bytes

DRAIN_EVERY = 0.05  # seconds between takes from the channel (under the engine's 0.1 s tick)
FLUSH_EVERY = 0.5  # seconds between flushes to the OS: a kill -9 loses at most this much
DEFAULT_MAX_BYTES = 1 << 30
GZIP_LEVEL = 3  # JSON compresses about 20 times at 3, at a fraction of the default 9's CPU
CHANNEL_CAPACITY = 10_000  # lifecycle events the recorder's channel holds between writes
KIND_WAIT = 5.0  # seconds a new client's --demo kind is waited for


# ---------------------------------------------------------------------- writing


def engine_header(engine: EchoEngine | Described) -> Header:
    """What a recording's header (and a viewer's welcome) says about a started engine."""
    return Header(
        version=FORMAT_VERSION,
        echo_tui=__version__,
        started_at=engine.started_at,
        address=tuple(engine.address),  # type: ignore[arg-type]
        selector=engine.selector_name,
        limits=asdict(engine.config),
    )


class Described(Protocol):
    """What a header says of a source that is not an engine (a probed program's loop)."""

    @property
    def started_at(self) -> float: ...

    @property
    def address(self) -> tuple[str, int]: ...

    @property
    def selector_name(self) -> str: ...

    @property
    def config(self) -> EngineConfig: ...


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
        self._origin = self._engine.started_at
        header = engine_header(self._engine)
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
                # Flushes come at drains: waiting for a full FLUSH_EVERY would make them
                # up to one drain late, and a kill -9 lose more than FLUSH_EVERY.
                if time.monotonic() - flushed >= FLUSH_EVERY - DRAIN_EVERY:
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
        header = parse_header(first)
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
