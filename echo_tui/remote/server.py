"""`--listen-ui`: the engine's stream served to viewers (`echo-tui attach`), from a thread.

The viewer server is a subscriber of the engine, as the recorder is: the engine
only puts into a bounded channel and never waits.  This thread drains it, folds
the state (a viewer that arrives gets every open client at once) and hands each
viewer its share through a bounded, merging channel of its own; a viewer's next
batch is encoded only once its last one is sent, so a slow viewer gets merged
snapshots and counted drops, and one that acknowledges nothing for a few
seconds is disconnected.  Commands go through the engine's public methods.
The protocol: docs/protocol.md.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import ipaddress
import os
import selectors
import socket
import stat
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

from echo_tui.engine.events import (
    CommandResult,
    ConnectionStats,
    EngineError,
    EventChannel,
    Snapshot,
)
from echo_tui.engine.server import bind_listener
from echo_tui.recordings.recording import Described, engine_header
from echo_tui.remote.protocol import (
    COMMANDS,
    CONTROLS,
    INSPECT,
    MAX_VIEWER_FRAME,
    VERSION,
    WATCHING_CONTROLS,
    Ack,
    Command,
    FrameReader,
    FrameTooLong,
    Hello,
    ProtocolError,
    VersionMismatch,
    Welcome,
    parse_frame,
    record_frame,
    refused_frame,
    reply_frame,
    trace_frame,
    welcome_frame,
)
from echo_tui.source import Controls

DRAIN_EVERY = 0.05  # seconds between takes from the engine's channel (under its 0.1 s tick)
HELLO_TIMEOUT = 5.0  # a peer that says nothing for this long is closed
STALL_TIMEOUT = 5.0  # a viewer that acknowledges nothing for this long, with frames sent, too
MAX_PEERS = 64  # connections at once, viewers or not: beyond, refused at once
COMMANDS_IN_FLIGHT = 64  # a viewer's commands waiting for the engine
VIEWER_CAPACITY = 10_000  # lifecycle events a viewer's channel holds between sends
NOTICES_KEPT = 100  # notices waiting for take_notices(), the oldest dropped beyond
UNIX_PREFIX = "unix:"


def parse_address(text: str, default_host: str = "127.0.0.1") -> str | tuple[str, int]:
    """`unix:PATH` (a path), or `[HOST:]PORT` (an IPv6 HOST in brackets); ValueError if bad."""
    if text.startswith(UNIX_PREFIX):
        path = text[len(UNIX_PREFIX) :]
        if not path:
            raise ValueError("unix: needs a path (unix:/tmp/echo-tui.sock)")
        return path
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets: [{host}]:{port}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port!r}")
    return (host if colon and host else default_host), int(port)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (a name other than localhost: no)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def format_address(address: str | tuple[str, int]) -> str:
    """As `attach` takes it: unix:PATH, HOST:PORT or [IPv6]:PORT."""
    if isinstance(address, str):
        return UNIX_PREFIX + address
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Stepping(Protocol):
    @property
    def stepping(self) -> bool: ...


class Served(Described, Controls, Protocol):
    """What the server serves: the EchoEngine, or anything that acts as one (a probed loop,
    echo_tui.remote.probed): its stream through subscribe(), its header, its controls."""

    @property
    def steps(self) -> Stepping: ...

    def subscribe(self, capacity: int | None = None) -> EventChannel: ...


@dataclass(eq=False)
class Peer:
    """One connection: a viewer once its hello was good."""

    sock: socket.socket
    name: str
    opened: float  # monotonic
    reader: FrameReader = field(default_factory=lambda: FrameReader(MAX_VIEWER_FRAME))
    out: bytearray = field(default_factory=bytearray)
    channel: EventChannel | None = None  # set once welcomed
    closing: bool = False  # refused: flushing the refusal, then closed
    sent_seq: int = 0  # the last snapshot sent ...
    acked_seq: int = 0  # ... and the last it acknowledged
    waiting_since: float | None = None  # monotonic: since when it owes an acknowledgement
    blocked_since: float | None = None  # monotonic: since when its socket takes nothing
    error_sent: bool = False
    tracing: bool = False
    replies: list[bytes] = field(default_factory=list)
    commands: list[tuple[int, str, list[Future[CommandResult]]]] = field(default_factory=list)


class ViewerServer:
    """Serves `engine`'s stream to viewers at `address` (a (host, port) or a Unix path).

    Create it before engine.start() (it subscribes then, so it misses nothing),
    call start() once the engine listens, stop() before or after the engine stops.
    """

    def __init__(
        self,
        engine: Served,
        address: str | tuple[str, int],
        *,
        token: str | None = None,
        readonly: bool = False,
        offered: tuple[str, ...] = CONTROLS,
        selector: Callable[[], selectors.BaseSelector] = selectors.DefaultSelector,
        program: str = "echo-tui",
        reasons: Mapping[str, str] | None = None,
        notify: Callable[[str], None] | None = None,
        hello_timeout: float = HELLO_TIMEOUT,
        stall_timeout: float = STALL_TIMEOUT,
        capacity: int = VIEWER_CAPACITY,
    ) -> None:
        """A non-loopback TCP address needs a `token` (ValueError without one).  `offered`:
        the commands `engine` takes (read-only: only those of WATCHING_CONTROLS); `selector`:
        the class of this server's own selector (inside a probed program: the real one);
        `program`: what the welcome says it serves; `reasons`: why it does not offer a
        command, in a few words, for the viewer to say."""
        if isinstance(address, tuple) and not is_loopback(address[0]) and not token:
            raise ValueError("a --listen-ui address other than loopback needs a token")
        self.engine = engine
        self.requested = address
        self.address: str | tuple[str, int] = address  # as bound, once started
        self.token = token
        self.readonly = readonly
        self.controls = tuple(c for c in offered if not readonly or c in WATCHING_CONTROLS)
        self.program = program
        self.reasons = tuple((reasons or {}).items())
        self.hello_timeout = hello_timeout
        self.stall_timeout = stall_timeout
        self.capacity = capacity  # lifecycle events each viewer's channel holds
        self.refused: Counter[str] = Counter()  # peers refused, by cause
        self.disconnected: Counter[str] = Counter()  # viewers gone, by cause
        self._source = engine.subscribe()
        self._notices: deque[str] = deque(maxlen=NOTICES_KEPT)
        self._notify = notify or self._notices.append
        self._peers: dict[socket.socket, Peer] = {}
        # Every snapshot folded, what a new viewer gets first: the last one, and every open
        # client's latest stats (kept in place: each snapshot costs what it changed).
        self._last: Snapshot | None = None
        self._clients: dict[int, ConnectionStats] = {}
        self._error: EngineError | None = None
        self._step_holders: set[Peer] = set()  # viewers that turned step mode on
        self._stepping_before = False  # it was on when the first of them took it
        self._inspector: Peer | None = None  # the viewer that asked for the inspection
        self._listener: socket.socket | None = None
        self._selector = selector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="echo-viewers", daemon=True)

    # ----------------------------------------------------------------- control

    def start(self) -> None:
        """Listen (OSError as bind raises, in the caller's thread), then serve from a thread."""
        if isinstance(self.requested, str):
            self._listener = _bind_unix(self.requested)
        else:
            self._listener = bind_listener(*self.requested, backlog=16)
            self.address = self._listener.getsockname()[:2]
        self._listener.setblocking(False)
        self._wake_reader.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._thread.start()

    def stop(self) -> None:
        """Send what is waiting (best effort), close every connection, and join the thread."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        if self._thread.is_alive():
            self._thread.join(5)
        for peer in list(self._peers.values()):
            self._close(peer, "server stopped", quiet=True)
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            if sock is not None:
                sock.close()
        self._selector.close()
        if isinstance(self.address, str) and self._listener is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.address)

    @property
    def url(self) -> str:
        return format_address(self.address)

    @property
    def viewers(self) -> int:
        """Viewers connected now (past their hello)."""
        return sum(1 for peer in self._peers.values() if peer.channel is not None)

    def take_notices(self) -> list[str]:
        """What happened to viewers since the last call (refusals, disconnections)."""
        notices = []
        while self._notices:
            notices.append(self._notices.popleft())
        return notices

    # ----------------------------------------------------------------- the loop

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:  # a bug here must not leave the loop frozen for nobody
            self._notify(f"viewer server failed: {type(exc).__name__}: {exc}")
            for peer in list(self._peers.values()):
                self._close(peer, "the viewer server failed")

    def _serve(self) -> None:
        next_drain = time.monotonic()
        while not self._stopping:
            for key, mask in self._selector.select(max(0.0, next_drain - time.monotonic())):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_reader:
                    with contextlib.suppress(OSError):
                        self._wake_reader.recv(64)
                else:
                    peer = self._peers.get(key.fileobj)  # type: ignore[call-overload]
                    if peer is not None and mask & selectors.EVENT_READ:
                        self._read(peer)
                    if peer is not None and mask & selectors.EVENT_WRITE:
                        self._send(peer)
            now = time.monotonic()
            if now >= next_drain:
                next_drain = now + DRAIN_EVERY
                self._distribute()
            self._answer_commands()
            self._check_time(now)
            for peer in list(self._peers.values()):
                self._fill(peer, now)
        self._distribute()  # the engine's last words (it may have stopped)
        for peer in list(self._peers.values()):
            self._fill(peer, time.monotonic())

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors: a viewer waits in the backlog
                self._notify(f"viewer connections paused: {exc.strerror or exc}")
                return
            sock.setblocking(False)
            name = format_address(address) if isinstance(address, tuple) else "unix socket peer"
            peer = Peer(sock, name, time.monotonic())
            self._peers[sock] = peer
            self._selector.register(sock, selectors.EVENT_READ)
            if len(self._peers) > MAX_PEERS:
                self._refuse(peer, f"too many connections ({MAX_PEERS})", "too-many")

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close(peer, f"connection lost: {exc.strerror or exc}")
            return
        if not data:
            self._close(peer, "left", quiet=peer.closing)
            return
        if peer.closing:
            return  # refused: its bytes are not read further
        try:
            frames = peer.reader.feed(data)
            for line in frames:
                self._receive(peer, parse_frame(line))
                if peer.closing or peer.sock not in self._peers:
                    return
        except FrameTooLong as exc:
            self._refuse(peer, str(exc), "oversized")
        except VersionMismatch as exc:
            self._refuse(peer, str(exc), "version")
        except ProtocolError as exc:
            self._refuse(peer, str(exc), "garbage" if peer.channel is None else "bad frame")

    def _receive(self, peer: Peer, frame: object) -> None:
        if peer.channel is None:
            if not isinstance(frame, Hello):
                raise ProtocolError("not an echo-tui viewer hello")
            self._welcome(peer, frame)
        elif isinstance(frame, Ack):
            peer.acked_seq = max(peer.acked_seq, min(frame.seq, peer.sent_seq))
            peer.waiting_since = None if peer.acked_seq >= peer.sent_seq else time.monotonic()
        elif isinstance(frame, Command):
            self._command(peer, frame)
        else:
            raise ProtocolError(f"unexpected {type(frame).__name__} frame from a viewer")

    def _welcome(self, peer: Peer, hello: Hello) -> None:
        token = self.token
        if token is not None and not (
            hello.token is not None and hmac.compare_digest(hello.token.encode(), token.encode())
        ):
            self._refuse(peer, "a valid token is required", "token")
            return
        welcome = Welcome(
            VERSION,
            self.program,
            os.getpid(),
            socket.gethostname(),
            self.controls,
            self.readonly,
            engine_header(self.engine),
            self.reasons,
        )
        peer.out += welcome_frame(welcome)
        peer.channel = channel = EventChannel(self.capacity)
        if self._last is not None:  # every open client, at once
            clients = MappingProxyType(dict(self._clients))
            channel.put_snapshot(replace(self._last, changed=clients, closed=frozenset()))
        if self._error is not None:
            channel.put_error(self._error)
        self._notify(f"viewer {peer.name} attached ({hello.client or 'unnamed'})")

    def _refuse(self, peer: Peer, reason: str, cause: str) -> None:
        """Say why in one frame, then close: counted and logged, nothing more said."""
        self.refused[cause] += 1
        self._notify(f"viewer connection from {peer.name} refused: {reason}")
        peer.out[:] = refused_frame(reason)
        peer.closing = True
        self._send(peer)
        with contextlib.suppress(OSError):  # what it sent and we did not read: a close with
            for _ in range(16):  # unread bytes would reset the connection, refusal unread
                if not peer.sock.recv(65536):
                    break
        self._close(peer, reason, quiet=True)

    def _close(self, peer: Peer, why: str, quiet: bool = False) -> None:
        if self._peers.pop(peer.sock, None) is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(peer.sock)
        with contextlib.suppress(OSError):
            peer.sock.shutdown(socket.SHUT_RDWR)
        peer.sock.close()
        if peer.channel is not None and not quiet:
            self.disconnected[why] += 1
            self._notify(f"viewer {peer.name} disconnected: {why}")
        self._forget(peer)

    def _forget(self, peer: Peer) -> None:
        """Undo what `peer` left on: its trace, its inspection, and step mode it holds."""
        engine = self.engine
        if peer in self._step_holders:
            self._step_holders.discard(peer)
            if not self._step_holders and not self._stepping_before:
                self._notify(f"viewer {peer.name} left step mode on: the loop runs again")
                engine.set_stepping(False)
        if peer.tracing:
            peer.tracing = False
            if not any(p.tracing for p in self._peers.values()):
                engine.trace(False)
        if self._inspector is peer:
            self._inspector = None
            engine.inspect(None)

    # ----------------------------------------------------------------- the stream

    def _distribute(self) -> None:
        events, snapshot, error = self._source.drain()
        viewers = [p for p in self._peers.values() if p.channel is not None]
        trace = self._source.take_trace(None if any(p.tracing for p in viewers) else 0)
        if snapshot is not None:
            self._last = snapshot
            for conn_id in snapshot.closed:
                self._clients.pop(conn_id, None)
            self._clients.update(snapshot.changed)
        self._error = error
        for peer in viewers:
            channel = peer.channel
            for event in events:
                channel.put_event(event)  # type: ignore[union-attr]
            if snapshot is not None:
                channel.put_snapshot(snapshot)  # type: ignore[union-attr]
            if error is not None:
                channel.put_error(error)  # type: ignore[union-attr]
            if trace and peer.tracing:
                channel.put_trace(trace)  # type: ignore[union-attr]

    def _fill(self, peer: Peer, now: float) -> None:
        """Encode the viewer's next batch once the last one is sent, and send it."""
        channel = peer.channel
        if peer.out or channel is None:
            if peer.out:
                self._send(peer)
            return
        events, snapshot, error = channel.drain()
        origin = self.engine.started_at
        chunks = [record_frame(event.at - origin, event) for event in events]
        if snapshot is not None:
            dropped = self._source.dropped + channel.dropped  # what *this* viewer lost
            snapshot = replace(snapshot, events_dropped=dropped)
            chunks.append(record_frame(snapshot.at - origin, snapshot))
            peer.sent_seq = snapshot.seq
            if peer.waiting_since is None:
                peer.waiting_since = now
        if error is not None and not peer.error_sent:
            peer.error_sent = True
            chunks.append(record_frame(error.at - origin, error))
        if peer.tracing:
            calls = channel.take_trace()
            if calls:
                chunks.append(trace_frame(calls))
        chunks += peer.replies
        peer.replies.clear()
        if chunks:
            peer.out += b"".join(chunks)
            self._send(peer)

    def _send(self, peer: Peer) -> None:
        try:
            sent = peer.sock.send(peer.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            if not peer.closing:
                self._close(peer, f"connection lost: {exc.strerror or exc}")
            return
        del peer.out[:sent]
        if sent or not peer.out:
            peer.blocked_since = None
        elif peer.blocked_since is None:
            peer.blocked_since = time.monotonic()
        if peer.closing or peer.sock not in self._peers:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.out else 0)
        with contextlib.suppress(KeyError, ValueError):
            if self._selector.get_key(peer.sock).events != events:
                self._selector.modify(peer.sock, events)

    def _check_time(self, now: float) -> None:
        for peer in list(self._peers.values()):
            if peer.channel is None:
                if now - peer.opened > self.hello_timeout:
                    self._refuse(peer, f"no hello within {self.hello_timeout:g} s", "silent")
            elif any(
                since is not None and now - since > self.stall_timeout
                for since in (peer.waiting_since, peer.blocked_since)
            ):  # it acknowledges nothing, or its socket takes nothing
                self._close(peer, f"not reading for {self.stall_timeout:g} s")

    # ----------------------------------------------------------------- commands

    def _command(self, peer: Peer, command: Command) -> None:
        if len(peer.replies) >= COMMANDS_IN_FLIGHT:  # it asks and does not read the answers
            raise ProtocolError(f"over {COMMANDS_IN_FLIGHT} replies unread")
        name = command.name
        if COMMANDS[name] not in self.controls or (
            self.readonly and name == INSPECT and command.args.get("preview")
        ):
            result = CommandResult(name, False, "read-only: this server's viewers may only watch")
        elif len(peer.commands) >= COMMANDS_IN_FLIGHT:
            result = CommandResult(name, False, f"over {COMMANDS_IN_FLIGHT} commands waiting")
        else:
            try:
                futures = self._execute(peer, name, command.args)
            except (KeyError, TypeError, ValueError) as exc:
                result = CommandResult(name, False, f"bad arguments: {exc}")
            else:
                peer.commands.append((command.id, name, futures))
                return
        peer.replies.append(reply_frame(command.id, result))

    def _execute(
        self, peer: Peer, name: str, args: Mapping[str, Any]
    ) -> list[Future[CommandResult]]:
        """Ask the engine; the futures that answer (already done for what answers at once)."""
        engine = self.engine
        match name:
            case "kick":
                return [engine.kick(_id(args["conn_id"]))]
            case "kick_ids":
                return [engine.kick(_id(conn_id)) for conn_id in args["conn_ids"]]
            case "mute":
                return [engine.mute(_id(args["conn_id"]), bool(args["muted"]))]
            case "switch_selector":
                return [engine.switch_selector(str(args["name"]))]
            case "trace":
                on = bool(args["on"])
                peer.tracing = on
                if not on and any(p.tracing for p in self._peers.values()):
                    return [_done(CommandResult("trace", True, "trace on for other viewers"))]
                return [engine.trace(on)]
            case "inspect":
                conn_id = None if args["conn_id"] is None else _id(args["conn_id"])
                self._inspector = None if conn_id is None else peer
                return [engine.inspect(conn_id, bool(args.get("preview", False)))]
            case "set_stepping":
                on = bool(args["on"])
                if on:
                    if not self._step_holders:
                        self._stepping_before = engine.steps.stepping
                    self._step_holders.add(peer)
                else:  # the loop is one: resuming it resumes it for everyone
                    self._step_holders.clear()
                    self._stepping_before = False
                engine.set_stepping(on)
                return [_done(CommandResult("set_stepping", True, f"step mode {_on(on)}"))]
            case _:  # "step"
                engine.step()
                return [_done(CommandResult("step", True, "stepped"))]

    def _answer_commands(self) -> None:
        for peer in self._peers.values():
            if not peer.commands:
                continue
            waiting = []
            for command_id, name, futures in peer.commands:
                if all(future.done() for future in futures):
                    peer.replies.append(reply_frame(command_id, _outcome(name, futures)))
                else:
                    waiting.append((command_id, name, futures))
            peer.commands = waiting


def _outcome(name: str, futures: list[Future[CommandResult]]) -> CommandResult:
    results = [future.result() for future in futures]
    if name != "kick_ids":
        return results[0]
    kicked = sum(result.ok for result in results)  # the others were gone already
    return CommandResult("kick_where", True, f"kicked {kicked}", None, kicked, time.time())


def _id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a client id is a number, got {value!r}")
    return value


def _on(on: bool) -> str:
    return "on" if on else "off"


def _done(result: CommandResult) -> Future[CommandResult]:
    future: Future[CommandResult] = Future()
    future.set_result(result)
    return future


def _bind_unix(path: str) -> socket.socket:
    """A listening Unix socket at `path`, mode 0600 from its creation; a stale one is replaced."""
    if os.path.exists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode) or _answers(path):
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE), path)
        os.unlink(path)  # left by a process that died: nobody listens
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)  # never a moment with wider permissions
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(umask)
    os.chmod(path, 0o600)
    sock.listen(16)
    return sock


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
        return True
