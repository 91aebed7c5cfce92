"""The viewer's side: a remote engine that looks to the dashboard like a local one.

`RemoteSource` has what the dashboard reads of an EchoEngine (a bounded channel
with drain() and take_trace(), address, selector name, config, error) and what
it asks (kick, mute, switch_selector, trace, inspect, step mode), each command
answered by a Future as the engine answers.  A thread of its own reads the
socket; the connection lost, it says so (`status`), keeps what it had, and
reconnects with backoff, telling the dashboard which clients went meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from echo_tui import __version__
from echo_tui.engine.events import (
    CommandResult,
    ConnectionStats,
    EngineError,
    EventChannel,
    Snapshot,
)
from echo_tui.recordings.playback import recorded_config
from echo_tui.recordings.records import ClientKind, Record
from echo_tui.recordings.timeline import fold
from echo_tui.remote.protocol import (
    MAX_SERVER_FRAME,
    Frame,
    FrameReader,
    Hello,
    ProtocolError,
    Refused,
    Reply,
    Trace,
    VersionMismatch,
    Welcome,
    ack_frame,
    command_frame,
    hello_frame,
    parse_frame,
)
from echo_tui.remote.server import parse_address

CONNECT_TIMEOUT = 5.0  # to connect, and for the server's welcome
IO_TIMEOUT = 5.0  # a send to the server that takes longer: the connection is lost
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)  # seconds between reconnection attempts (then the last)
CHANNEL_CAPACITY = 10_000
READ_SIZE = 1 << 16


class AttachError(Exception):
    """Attaching failed; the message says why, in one line."""


def connect(address: str, token: str | None, timeout: float = CONNECT_TIMEOUT) -> Session:
    """A session with the viewer server at `address` (unix:PATH or [HOST:]PORT), welcomed.

    AttachError (one line) when nothing listens there, when what listens is not an
    echo-tui viewer port, or when it refuses (token, protocol version).
    """
    try:
        target = parse_address(address, default_host="127.0.0.1")
    except ValueError as exc:
        raise AttachError(f"bad address {address!r}: {exc}") from None
    where = address
    try:
        if isinstance(target, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(target)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(target, timeout=timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        raise AttachError(
            f"nothing listens at {where}: is echo-tui running with --listen-ui?"
        ) from None
    except TimeoutError:
        raise AttachError(f"{where} does not answer (connecting timed out)") from None
    except OSError as exc:
        raise AttachError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    try:
        return _open(sock, where, token)
    except BaseException:
        sock.close()
        raise


def _open(sock: socket.socket, where: str, token: str | None) -> Session:
    reader = FrameReader(MAX_SERVER_FRAME)
    not_ours = f"{where} is not an echo-tui viewer port"
    try:
        sock.sendall(hello_frame(token, f"echo-tui attach {__version__}"))
        frames: list[bytes] = []
        while not frames:
            data = sock.recv(READ_SIZE)
            if not data:
                raise AttachError(f"{not_ours} (it closed the connection without a word)")
            frames = reader.feed(data)
    except TimeoutError:
        raise AttachError(f"{not_ours} (it said nothing)") from None
    except OSError as exc:
        raise AttachError(f"{where}: connection lost: {exc.strerror or exc}") from None
    except ProtocolError:
        raise AttachError(f"{not_ours} (it sent something else)") from None
    try:
        first = parse_frame(frames[0])
    except VersionMismatch as exc:
        raise AttachError(f"{where}: {exc}: upgrade the older echo-tui") from None
    except ProtocolError:
        raise AttachError(f"{not_ours} (it sent something else)") from None
    if isinstance(first, Refused):
        raise AttachError(f"{where} refused: {first.reason}")
    if isinstance(first, Hello):
        raise AttachError(f"{where} echoes: that is the echo server's port, not its --listen-ui")
    if not isinstance(first, Welcome):
        raise AttachError(f"{not_ours} (it sent something else)")
    sock.settimeout(IO_TIMEOUT)
    return Session(sock, first, reader, frames[1:])


class Session:
    """One connection to a viewer server, past its welcome."""

    def __init__(
        self, sock: socket.socket, welcome: Welcome, reader: FrameReader, early: list[bytes]
    ) -> None:
        self.sock = sock
        self.welcome = welcome
        self.reader = reader
        self.early = early  # frames that came with the welcome
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        """Send a frame (OSError: the connection is lost)."""
        with self._send_lock:
            self.sock.sendall(data)

    def frames(self) -> Iterator[Frame]:
        """The server's frames, decoded, until the connection ends (OSError, ProtocolError)."""
        fields = self.welcome.header.connection_fields
        for line in self.early:
            yield parse_frame(line, fields)
        while True:
            try:
                data = self.sock.recv(READ_SIZE)
            except TimeoutError:
                continue  # the server is quiet (it publishes a snapshot every second)
            if not data:
                return
            for line in self.reader.feed(data):
                yield parse_frame(line, fields)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class RemoteSource:
    """A remote engine, as the dashboard watches and commands a local one."""

    def __init__(
        self,
        address: str,
        session: Session,
        token: str | None = None,
        capacity: int = CHANNEL_CAPACITY,
    ) -> None:
        self.url = address
        self._token = token
        self._session: Session | None = session
        self.welcome = session.welcome
        header = session.welcome.header
        self.channel = EventChannel(capacity)
        self._channels = [self.channel]
        self.address = header.address
        self.selector_name = header.selector
        self.started_at = header.started_at
        self.config = recorded_config(header)
        self.error: EngineError | None = None
        self.stopped = threading.Event()  # never set: a server that stops is reconnected to
        self.status: str | None = None  # while disconnected: DISCONNECTED and what happens
        self._state: Snapshot | None = None  # what the dashboard was shown, folded
        self._resync = False  # the next snapshot is a new session's whole state
        self._commands: dict[int, tuple[str, Future[CommandResult]]] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._notices: deque[str] = deque(maxlen=100)
        self._thread = threading.Thread(target=self._run, name="echo-attach", daemon=True)

    def start(self) -> None:
        """Start reading (after any subscribe(), so that subscribers miss nothing)."""
        self._thread.start()

    # ----------------------------------------------------------------- as the engine

    @property
    def running(self) -> bool:
        return self._session is not None

    @property
    def controls(self) -> tuple[str, ...]:
        return self.welcome.controls

    def unavailable(self, action: str) -> str | None:
        """Why the dashboard may not ask `action` of this server; None when it may."""
        if action in self.welcome.controls:
            return None
        reasons = dict(self.welcome.reasons)
        if action in reasons:
            return reasons[action]
        return (
            "the server is read-only" if self.welcome.readonly else "the server does not offer it"
        )

    def subscribe(self, capacity: int | None = None) -> EventChannel:
        """Another channel that gets every event and snapshot (a recorder's: attach --record)."""
        channel = EventChannel(capacity or CHANNEL_CAPACITY)
        self._channels = [*self._channels, channel]
        return channel

    def stop(self, timeout: float = 2.0) -> None:
        """Leave: close the connection (the server runs on) and join the thread."""
        self._stopping.set()
        session = self._session
        if session is not None:
            session.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def take_notices(self) -> list[str]:
        """What happened to the connection since the last call (lost, reconnected)."""
        notices = []
        while self._notices:
            notices.append(self._notices.popleft())
        return notices

    def kick(self, conn_id: int) -> Future[CommandResult]:
        return self._ask("kick", conn_id=conn_id)

    def kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> Future[CommandResult]:
        """Kick the clients matching `predicate` as this viewer last saw them."""
        state = self._state
        clients = state.changed.values() if state is not None else ()
        return self._ask("kick_ids", conn_ids=[s.conn_id for s in clients if predicate(s)])

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]:
        return self._ask("mute", conn_id=conn_id, muted=muted)

    def unmute(self, conn_id: int) -> Future[CommandResult]:
        return self.mute(conn_id, False)

    def switch_selector(self, name: str) -> Future[CommandResult]:
        return self._ask("switch_selector", name=name)

    def trace(self, on: bool = True) -> Future[CommandResult]:
        return self._ask("trace", on=on)

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        return self._ask("inspect", conn_id=conn_id, preview=preview)

    def set_stepping(self, on: bool) -> None:
        self._ask("set_stepping", on=on)

    def step(self) -> None:
        self._ask("step")

    def _ask(self, name: str, /, **args: Any) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        session = self._session
        if session is None:
            future.set_result(CommandResult(name, False, f"not connected to {self.url}"))
            return future
        with self._lock:
            command_id = self._next_id
            self._next_id += 1
            self._commands[command_id] = (name, future)
        try:
            session.send(command_frame(command_id, name, **args))
        except OSError:
            session.close()  # the reading thread notices, and fails what waits
        return future

    # ----------------------------------------------------------------- the thread

    def _run(self) -> None:
        while not self._stopping.is_set():
            session = self._session
            if session is not None:
                why = self._read(session)
                session.close()
                self._session = None
                if self._stopping.is_set():
                    break
                self._lost(why)
            self._session = self._reconnect()

    def _read(self, session: Session) -> str:
        """Hand the server's frames on until the connection ends; say why it did."""
        try:
            for frame in session.frames():
                self._take(session, frame)
        except ProtocolError as exc:
            return str(exc)
        except OSError as exc:
            return exc.strerror or str(exc)
        except Exception as exc:  # a bug: said, and the connection made again, never a traceback
            return f"{type(exc).__name__}: {exc}"
        return "the server closed the connection"

    def _take(self, session: Session, frame: object) -> None:
        if isinstance(frame, Record):
            item = frame.item
            if isinstance(item, Snapshot):
                self._snapshot(item)
                session.send(ack_frame(item.seq))
            elif isinstance(item, EngineError):
                self.error = item
                for channel in self._channels:
                    channel.put_error(item)
            elif not isinstance(item, (str, ClientKind)):  # notes and kinds: for files
                for channel in self._channels:
                    channel.put_event(item)
        elif isinstance(frame, Trace):
            self.channel.put_trace(frame.calls)
        elif isinstance(frame, Reply):
            with self._lock:
                _, future = self._commands.pop(frame.id, (None, None))
            if future is not None:
                future.set_result(frame.result)
        else:
            raise ProtocolError(f"unexpected {type(frame).__name__} frame from the server")

    def _snapshot(self, snapshot: Snapshot) -> None:
        state = self._state
        if self._resync and state is not None:
            # A new session's first snapshot holds every open client: those the dashboard
            # still shows but it does not hold went away while the connection was down.
            self._resync = False
            gone = state.changed.keys() - snapshot.changed.keys()
            snapshot = replace(snapshot, closed=snapshot.closed | gone)
        self._state = fold(state, snapshot)
        self.selector_name = snapshot.selector
        self.address = snapshot.address  # a probed program may start listening later
        for channel in self._channels:
            channel.put_snapshot(snapshot)

    def _lost(self, why: str) -> None:
        with self._lock:
            waiting, self._commands = self._commands, {}
        for name, future in waiting.values():
            future.set_result(CommandResult(name, False, f"connection lost: {why}"))
        self.status = f"DISCONNECTED from {self.url}: {why}; reconnecting"
        self._notices.append(f"connection to {self.url} lost: {why}; reconnecting")

    def _reconnect(self) -> Session | None:
        """Try again with backoff until connected (or stopped); None when stopped."""
        for attempt in range(1 << 30):
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            if self._stopping.wait(delay):
                return None
            try:
                session = connect(self.url, self._token)
            except AttachError as exc:
                self.status = f"DISCONNECTED from {self.url}: {exc}; retrying every {delay:g} s"
                continue
            self.welcome = session.welcome
            self.started_at = session.welcome.header.started_at
            self._resync = True
            self.status = None
            self._notices.append(f"reconnected to {self.url}")
            return session
        return None
