"""EchoEngine: a selectors TCP echo server in a thread of its own, instrumented and bounded."""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from types import MappingProxyType

from echo_tui.engine.commands import (
    QUIET_COMMANDS,
    Command,
    CommandInbox,
    Inspect,
    Kick,
    KickWhere,
    Mute,
    StepControl,
    SwitchSelector,
    Trace,
    command_name,
)
from echo_tui.engine.config import EngineConfig, selector_class
from echo_tui.engine.connection import NO_OUTPUT, Connection, format_peer
from echo_tui.engine.counters import Counters
from echo_tui.engine.events import (
    ERROR,
    FD_LIMIT,
    IDLE,
    KICKED,
    LISTENER,
    MAX_CLIENTS,
    PEER_CLOSED,
    RESET,
    SHUTDOWN,
    TICKER,
    WAKEUP,
    AcceptPaused,
    AcceptResumed,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    EngineError,
    EngineStopped,
    EventChannel,
    InterestChange,
    LifecycleEvent,
    Rejected,
    Snapshot,
    Totals,
)
from echo_tui.engine.inspection import Inspection, amount
from echo_tui.engine.output import PENDING_READ, OutputBuffer
from echo_tui.engine.ticker import Ticker
from echo_tui.engine.tracer import Tracer
from echo_tui.portable import SELECT_LIMIT_TEXT, assert_never, raise_fd_limit, select_can_watch

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class _Tag:
    """Selector key data of the engine's own sockets (not clients); `name` is its role in
    the trace.

    `mask` is never EVENT_READ, so the loop's inline path never takes one (see _loop).
    """

    __slots__ = ("name",)
    mask = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_LISTENER = _Tag(LISTENER)
_WAKEUP = _Tag(WAKEUP)
_TICK = _Tag(TICKER)

# accept() errors that mean "out of resources": pause accepting instead of spinning.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY_DELAY = 0.5
ACCEPTS_PER_EVENT = 128


def bind_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening socket; raises OSError (or socket.gaierror) as bind does."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


class EchoEngine:
    """Echo server owning every socket in its own thread; other threads use the commands."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config = config or EngineConfig()
        self.channel = EventChannel(config.channel_capacity)
        self._channels = [self.channel]  # the consumer's, then any subscriber's (a recorder)
        self.error: EngineError | None = None
        self.stopped = threading.Event()
        self.address: tuple[str, int] = (config.host, config.port)
        self._selector_cls = selector_class(config.selector)
        self.selector_name = self._selector_cls.__name__
        self._inbox = CommandInbox()
        self._ticker = Ticker()
        self._thread: threading.Thread | None = None
        # Opened by start(), so there from then on; _release() closes what start() opened.
        self._listener: socket.socket
        self._selector: selectors.BaseSelector
        self._opened = contextlib.ExitStack()
        self._stopping = False
        self._attention = False  # the ticker or the wake-up was ready in this select()
        self._tick_due = False  # the ticker was: housekeeping is due
        self._conns: dict[int, Connection] = {}
        self._next_id = 1
        # Monotonic clock of the loop, read when something needs a time (an accept, a close,
        # a tick), never per message; wall = monotonic + _to_wall.
        self._now = time.monotonic()
        self._to_wall = time.time() - self._now
        self.started_at = self._now + self._to_wall
        # What changed since the last snapshot: connections with traffic (the only thing
        # done per message besides the echo), connections changed otherwise, the ids
        # closed (and why).
        self._active: set[Connection] = set()
        self._dirty: set[Connection] = set()
        self._closed_since: dict[int, str] = {}
        self._writers: set[Connection] = set()
        # The global bound: bytes pending for all clients, and whether it was reached.
        self._pending_total = 0
        self._buffer_full = False
        self._events_since_snapshot = False
        self._seq = 0
        self._last_snapshot = self._now
        self._next_idle_check = self._now
        self._accept_resume_at: float | None = None  # listener unregistered until then
        self._accept_paused = False  # announced paused; cleared by the next accept that works
        # Never read more than fits under the cap (reads happen only below high water).
        self._read_size = min(config.read_size, config.max_buffer)
        self._counters = Counters()
        self._accepted = 0
        self._closed: Counter[str] = Counter()
        self._accept_pauses = 0
        # The loop inspector (see tracer.py and inspection.py): off unless asked for.
        self.steps = StepControl()
        self._tracer: Tracer | None = None
        self._inspection: Inspection | None = None

    # ----------------------------------------------------------------- control

    def start(self) -> None:
        """Bind (errors raise here, in the caller's thread), then run the loop thread."""
        raise_fd_limit(self.config.max_clients + 64)
        self._listener = bind_listener(self.config.host, self.config.port, self.config.backlog)
        self._opened.callback(self._listener.close)
        try:
            self.address = self._listener.getsockname()[:2]
            self._selector = self._selector_cls()
            self._opened.callback(lambda: self._selector.close())  # the one switched to last
            self._selector.register(self._listener, READ, _LISTENER)
            self._selector.register(self._inbox.wake_reader, READ, _WAKEUP)
            self._selector.register(self._ticker.reader, READ, _TICK)
        except BaseException:
            self._release()  # nothing may stay open when start() fails
            raise
        self._now = time.monotonic()
        self._to_wall = time.time() - self._now
        self.started_at = self._now + self._to_wall
        self._last_snapshot = self._now
        self._ticker.start()
        self._thread = threading.Thread(target=self._run, name="echo-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Close every socket and join the loop thread. Safe to call more than once."""
        if self._thread is None:
            self._release()
            return
        if self._thread.is_alive():
            self._stopping = True
            self.steps.release()
            self._inbox.wake()
            self._thread.join(timeout)

    def subscribe(self, capacity: int | None = None) -> EventChannel:
        """Another channel that gets every event, snapshot and error (call before start()).

        Each channel is bounded and merged on its own, so a slow subscriber (a
        recorder writing to disk) never slows the engine or the main consumer;
        a snapshot's `events_dropped` counts the main channel's drops.
        """
        channel = EventChannel(capacity or self.config.channel_capacity)
        self._channels = [*self._channels, channel]
        return channel

    @property
    def running(self) -> bool:
        """The loop thread is alive (started and not yet finished)."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> EchoEngine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- commands

    def kick(self, conn_id: int) -> Future[CommandResult]:
        """Close client `conn_id` (reason `kicked`)."""
        return self._submit(Kick(conn_id))

    def kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> Future[CommandResult]:
        """Close every client whose stats match `predicate` (run in the engine thread)."""
        return self._submit(KickWhere(predicate))

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]:
        """Stop (or, with muted=False, resume) reading from client `conn_id`."""
        return self._submit(Mute(conn_id, muted))

    def unmute(self, conn_id: int) -> Future[CommandResult]:
        """Resume reading from client `conn_id`."""
        return self._submit(Mute(conn_id, False))

    def switch_selector(self, name: str) -> Future[CommandResult]:
        """Move every registration to a new selector of class `name` (see available_selectors)."""
        return self._submit(SwitchSelector(name))

    def trace(self, on: bool = True) -> Future[CommandResult]:
        """Record every select() call for `channel.take_trace()` (costs CPU), or stop."""
        return self._submit(Trace(on))

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        """Record client `conn_id`'s interest changes (and with `preview` its last bytes) in
        each snapshot's `inspected`; None stops.  One client at a time."""
        return self._submit(Inspect(conn_id, preview))

    def set_stepping(self, on: bool) -> None:
        """Step mode (only while the trace is on): the loop stops before its next select()
        and runs one call per `step()`.  Commands sent meanwhile run at the next step."""
        self.steps.set_stepping(on)
        self._inbox.wake()  # freeze now rather than after a long select() timeout

    def step(self) -> None:
        """In step mode: run one more select() call and its handlers."""
        self.steps.step()

    def _submit(self, command: Command) -> Future[CommandResult]:
        if not self.running:
            future: Future[CommandResult] = Future()
            future.set_result(CommandResult(command_name(command), False, "not running"))
            return future
        future = self._inbox.submit(command)
        if self.stopped.is_set():  # the loop ended meanwhile and will not answer
            self._inbox.refuse_all("engine stopped")
        return future

    # ----------------------------------------------------------------- the loop

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # the loop must never die silently
            self._fail(exc)
        try:
            self._release()
            self._now = time.monotonic()
            self._publish()
        except BaseException as exc:
            self._fail(exc)
        for channel in self._channels:
            channel.put_event(EngineStopped(time.time()))
        self.stopped.set()
        # Commands queued after _release() emptied the inbox (see _submit for the other side).
        self._inbox.refuse_all("engine stopped")

    def _fail(self, exc: BaseException) -> None:
        """Record the first fatal error and hand it to the consumer."""
        if self.error is None:
            self.error = EngineError(
                message=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
                at=time.time(),
            )
            for channel in self._channels:
                channel.put_error(self.error)

    def _loop(self) -> None:
        """select() and dispatch until stop() asks (through the wake-up, see _on_wakeup).

        select() has no timeout: the ticker wakes it when housekeeping is due.  Per
        select() the loop counts the batch's size; per message it reads, counts and
        echoes.  Everything else it reports is derived at the next tick.

        Clock reads cost a tenth of a message at one client, so the loop times calls
        in windows: the Counters.WINDOW calls after each tick (every call, while fewer
        come between ticks).  A timed call ends the iteration before it (from the last
        select() returning, read as it returned) and adds its own wait; outside a
        window a call costs one check of `timing`.
        """
        counters = self._counters
        batches = counters.batches
        clock = time.monotonic_ns
        read_size = self._read_size
        mark_active = self._active.add
        reading = READ
        select = self._selector.select
        counters.start(time.monotonic())
        quiet = self._schedule()
        timing = counters.WINDOW  # calls left to time in this window
        returned = clock()  # ns when select() last returned, while timing (0: not read)
        while True:
            if timing:
                timing -= 1
                called = clock()
                ready = select()
                done = clock()
                if returned:  # the previous call was timed too: its iteration ends here
                    counters.timed(called - returned, done - called)
                returned = done
            else:
                ready = select()
            count = len(ready)
            try:
                batches[count] += 1
            except IndexError:
                self._counters.large_batch(count)
            if self._tracer is not None:  # the loop inspector's one check per select()
                held = self._tracer.run(ready)
                if returned:  # a step's hold is not the loop's work
                    returned += held
                ready = []
            for key, mask in ready:
                conn = key.data
                if conn.mask != reading:  # not a client only reading: see _dispatch
                    self._dispatch(conn, mask)
                    continue
                # The hot path, inline: a client registered for EVENT_READ alone (so
                # with no echo pending) is readable: read, count, echo at once.
                sock = conn.sock
                try:
                    data = sock.recv(read_size)
                except OSError as exc:
                    self._read_failed(conn, exc)
                    continue
                if not data:
                    self._read_eof(conn)
                    continue
                size = len(data)
                conn.bytes_in += size
                conn.msgs_in += 1
                if not conn.active:
                    conn.active = True
                    mark_active(conn)
                try:
                    sent = sock.send(data)
                except OSError as exc:
                    self._echo_refused(conn, data, exc)
                    continue
                if sent != size:
                    self._echo_rest(conn, data, sent)
            if self._attention:  # the ticker or the wake-up was ready
                if self._stopping:
                    return
                self._attention = False
                select = self._selector.select  # it may have been switched
                if self._tick_due:
                    self._tick_due = False
                    self._ticker.take()
                    self._housekeeping()
                    if not timing:  # a new window: its first call only reads the clock
                        returned = 0
                    timing = counters.WINDOW
                    quiet = self._schedule()
                    continue
            if quiet:  # the first change since a quiet tick: publish it at the next tick
                quiet = False
                self._ticker.arm(self._plan()[0])

    def _dispatch(self, data: object, mask: int) -> None:
        """A ready key the inline path does not take: a client with echo pending, closed
        earlier in this batch, muted or inspected; the listener, the ticker, the wake-up."""
        if type(data) is Connection:
            self._serve(data, mask)
        elif type(data) is Inspection:  # an inspected client, see _inspect
            self._serve(data.conn, mask)
        elif data is _LISTENER:
            self._counters.accept_events += 1
            self._on_acceptable()
        elif data is _TICK:
            self._counters.housekeeping_events += 1
            self._tick_due = self._attention = True
        else:
            self._on_wakeup()

    def _serve(self, conn: Connection, mask: int) -> None:
        """One client's ready events on every path but the inline one (see _loop): echo
        pending, a write, an inspected client, one closed earlier in the batch."""
        mask &= conn.mask  # 0 once closed earlier in this batch
        if mask & WRITE:
            self._on_writable(conn)
            mask &= conn.mask
        if not mask & READ:
            return
        if conn.out:
            self._on_readable_pending(conn)
            return
        data = self._receive(conn, self._read_size)
        if data is None:
            return
        size = len(data)
        conn.bytes_in += size
        conn.msgs_in += 1
        self._mark_active(conn)
        try:
            sent = conn.sock.send(data)
        except OSError as exc:
            self._echo_refused(conn, data, exc)
            return
        if sent != size:
            self._echo_rest(conn, data, sent)

    def _freeze(self, wait: Callable[[], float]) -> float:
        """Step mode (see Tracer): publish what the last step did, then block in `wait`.

        The seconds it returns are not idle time: activity clocks move forward by them
        (returned too, for the loop's iteration time).
        """
        self._now = time.monotonic()
        self._publish()
        frozen = wait()
        for conn in self._conns.values():
            conn.last_activity += frozen
        self._next_idle_check += frozen
        self._now = time.monotonic()
        self._attention |= self._stopping  # stop() asked meanwhile: the loop must see it
        return frozen

    def _schedule(self) -> bool:
        """Arm the ticker for the next housekeeping; True when nothing waits to be published."""
        due_tick, due_quiet = self._plan()
        quiet = not self._changed()
        self._ticker.arm(due_quiet if quiet else due_tick)
        return quiet

    def _changed(self) -> bool:
        """Anything to publish since the last snapshot (then snapshots come every tick)."""
        return bool(
            self._active or self._dirty or self._closed_since or self._events_since_snapshot
        )

    def _plan(self) -> tuple[float, float]:
        """When housekeeping is next due: (while anything changes, while nothing does)."""
        config = self.config
        sooner = []
        if self._accept_resume_at is not None:
            sooner.append(self._accept_resume_at)
        if config.idle_timeout is not None:  # also with no clients: one may connect meanwhile
            sooner.append(self._next_idle_check)
        return (
            min([self._last_snapshot + config.tick, *sooner]),
            min([self._last_snapshot + config.heartbeat, *sooner]),
        )

    def _housekeeping(self) -> None:
        self._now = now = time.monotonic()
        self._counters.housekeeping_late(now - self._ticker.fired_for)
        if self._accept_resume_at is not None and now >= self._accept_resume_at:
            self._resume_accepting()
        idle_timeout = self.config.idle_timeout
        if idle_timeout is not None and now >= self._next_idle_check:
            self._next_idle_check = now + min(idle_timeout / 4, 1.0)
            self._stamp_activity()
            for conn in [c for c in self._conns.values() if now - c.last_activity >= idle_timeout]:
                self._close(conn, IDLE, f"idle for {now - conn.last_activity:.1f}s")
        period = self.config.tick if self._changed() else self.config.heartbeat
        if now - self._last_snapshot >= period:
            self._publish()

    def _mark_active(self, conn: Connection) -> None:
        """Note traffic on `conn`: its last_activity is stamped at the next tick."""
        if not conn.active:
            conn.active = True
            self._active.add(conn)

    def _stamp_activity(self) -> None:
        """Date the traffic since the last stamp: last_activity is exact to within a tick."""
        now = self._now
        for conn in self._active:
            conn.last_activity = now
            conn.active = False
        self._dirty |= self._active
        self._active.clear()

    # ----------------------------------------------------------------- handlers

    def _on_acceptable(self) -> None:
        self._now = time.monotonic()
        listener = self._listener
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    self._pause_accepting(exc)
                    return
                continue  # ECONNABORTED, EPROTO, ...: that client is gone, go on
            if self._accept_paused:
                self._accept_paused = False
                self._emit(AcceptResumed(self._now + self._to_wall))
            self._accepted += 1
            peer = format_peer(address)
            if len(self._conns) >= self.config.max_clients:
                refused = MAX_CLIENTS
            elif self._fd_unwatchable(sock):
                refused = FD_LIMIT
            else:
                refused = None
            if refused:
                sock.close()
                self._closed[refused] += 1
                self._emit(Rejected(peer, refused, self._now + self._to_wall))
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # the peer left already: the read will say so
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.config.send_buffer:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer)
            conn = Connection(self._next_id, sock, peer, self._now)
            self._next_id += 1
            self._conns[conn.conn_id] = conn
            self._dirty.add(conn)
            self._set_interest(conn, "accepted")
            self._emit(Connected(conn.conn_id, peer, self._now + self._to_wall))

    def _fd_unwatchable(self, sock: socket.socket) -> bool:
        if not isinstance(self._selector, selectors.SelectSelector):
            return False
        return not select_can_watch(sock.fileno(), len(self._selector.get_map()))

    def _on_readable_pending(self, conn: Connection) -> None:
        """A read while earlier echo still waits: take only what fits, PENDING_READ at
        most, and queue it behind."""
        room = self.config.max_buffer - len(conn.out)  # pending stays <= max_buffer
        data = self._receive(conn, min(self._read_size, PENDING_READ, room))
        if data is None:
            return
        conn.bytes_in += len(data)
        conn.msgs_in += 1
        conn.msgs_out_offset -= 1  # not echoed by its own send()
        self._mark_active(conn)
        conn.out.append(data)
        self._buffered(len(data))
        self._set_interest(conn)

    def _receive(self, conn: Connection, size: int) -> bytes | None:
        """recv() up to `size` bytes off the inline path; None when none came (a miss, an
        error or end of file, each handled here).  An inspected client keeps a preview."""
        try:
            data = conn.sock.recv(size)
        except OSError as exc:
            self._read_failed(conn, exc)
            return None
        if not data:
            self._read_eof(conn)
            return None
        if conn.inspection is not None:
            conn.inspection.receive(data)
        return data

    def _read_failed(self, conn: Connection, exc: OSError) -> None:
        """recv() raised: nothing to read after all, or the connection is gone."""
        conn.read_misses += 1
        match exc:
            case BlockingIOError() | InterruptedError():
                self._dirty.add(conn)
            case ConnectionResetError():
                self._close(conn, RESET)
            case _:
                self._close(conn, ERROR, str(exc))

    def _read_eof(self, conn: Connection) -> None:
        """The client half-closed: flush the rest of the echo, then close."""
        conn.read_misses += 1
        if conn.out:
            conn.closing = True
            self._dirty.add(conn)
            self._set_interest(conn)
        else:
            self._close(conn, PEER_CLOSED)

    def _echo_refused(self, conn: Connection, data: bytes, exc: OSError) -> None:
        """send() of a fresh echo raised: buffer it all, or close on a real error."""
        if isinstance(exc, (BlockingIOError, InterruptedError)):
            self._echo_rest(conn, data, 0)
            return
        conn.out = OutputBuffer(data)  # never sent: bytes_out and msgs_out count only what left
        conn.msgs_out_offset -= 1
        self._buffered(len(data))  # until _close lets it go
        self._send_failed(conn, exc)

    def _echo_rest(self, conn: Connection, data: bytes, sent: int) -> None:
        """The socket took `sent` bytes of a fresh echo: buffer the rest, wait for EVENT_WRITE."""
        if not sent:
            conn.msgs_out_offset -= 1
        if conn.inspection is not None:
            conn.inspection.last_send = (sent, len(data))
        conn.out = OutputBuffer(data, sent)  # holds `data` itself, not a copy
        self._buffered(len(data) - sent)
        self._set_interest(conn)

    def _on_writable(self, conn: Connection) -> None:
        conn.write_ready += 1
        try:
            sent = conn.out.send(conn.sock)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._send_failed(conn, exc)
            return
        if sent:
            conn.msgs_out_offset += 1
            self._mark_active(conn)
            if not conn.out:
                conn.out = NO_OUTPUT  # let a large buffer go
            self._buffered(-sent)
        else:
            self._dirty.add(conn)
        if not conn.out and conn.closing:
            self._close(conn, PEER_CLOSED)
        else:
            self._set_interest(conn)

    def _send_failed(self, conn: Connection, exc: OSError) -> None:
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            self._close(conn, RESET)
        else:
            self._close(conn, ERROR, str(exc))

    def _buffered(self, change: int) -> None:
        """Add `change` to all clients' pending output; set or lift the global bound.

        At --max-total-buffer the engine stops reading from every client with echo
        still pending (each resumes once its own is sent), so clients with nothing
        pending are served at full speed; below three quarters of it, all resume.
        """
        self._pending_total += change
        limit = self.config.max_total_buffer
        if not limit:
            return
        if self._buffer_full:
            if self._pending_total < self.config.total_low_water:
                self._buffer_full = False
                self._events_since_snapshot = True
                for conn in list(self._writers):
                    self._set_interest(conn)
        elif self._pending_total >= limit:
            self._buffer_full = True
            self._events_since_snapshot = True
            for conn in list(self._writers):
                self._set_interest(conn)

    def _set_interest(self, conn: Connection, why: str = "") -> None:
        """Register exactly the events this connection needs now (none: unregistered).

        An inspected client is registered with its Inspection as data (the loop then
        serves it through _serve); `why` names the cause for its record when the state
        alone does not tell it (accepted, muted, ...).
        """
        pending = len(conn.out)
        if conn.backpressured:
            if pending <= self.config.low_water:
                conn.backpressured = False
                conn.backpressured_total += time.monotonic() - conn.backpressured_since
                why = why or f"drained to {amount(pending)}: reading again"
        elif pending >= self.config.high_water:
            conn.backpressured = True
            conn.backpressured_since = time.monotonic()
            why = why or f"backpressure: {amount(pending)} pending"
        wanted = WRITE if pending else 0
        if not (
            conn.muted or conn.backpressured or conn.closing or (pending and self._buffer_full)
        ):
            wanted |= READ
        if wanted == conn.mask:
            return
        selector = self._selector
        inspection = conn.inspection
        data = conn if inspection is None else inspection
        if conn.mask == 0:
            selector.register(conn.sock, wanted, data)
        elif wanted == 0:
            selector.unregister(conn.sock)
        else:
            selector.modify(conn.sock, wanted, data)
        if inspection is not None:
            self._record_interest(conn, inspection, wanted, pending, why)
        conn.mask = wanted
        if pending:
            self._writers.add(conn)
        else:
            self._writers.discard(conn)

    def _record_interest(
        self, conn: Connection, inspection: Inspection, wanted: int, pending: int, why: str
    ) -> None:
        """Add an inspected client's interest change to its record, with its cause."""
        if not why:
            if conn.closing:
                why = "peer closed its side: flush, then close"
            elif pending and self._buffer_full and conn.mask & READ and not wanted & READ:
                why = "all clients' buffered echo at --max-total-buffer"
            elif wanted & WRITE and not conn.mask & WRITE and inspection.last_send:
                sent, offered = inspection.last_send
                why = f"send took {sent:,} of {offered:,} B"
            elif wanted & WRITE:
                why = f"{amount(pending)} pending"
            else:
                why = "all sent"
        inspection.last_send = None
        inspection.interest(time.monotonic() + self._to_wall, conn.mask, wanted, why)

    def _close(self, conn: Connection, reason: str, detail: str = "") -> None:
        if conn.closed:
            return
        conn.closed = True
        self._now = time.monotonic()
        if conn.mask:
            self._selector.unregister(conn.sock)
            if conn.inspection is not None:
                at = self._now + self._to_wall
                conn.inspection.interest(at, conn.mask, 0, f"closed: {reason}")
            conn.mask = 0
        conn.sock.close()
        del self._conns[conn.conn_id]
        self._counters.fold(conn)
        self._active.discard(conn)
        self._dirty.discard(conn)
        self._writers.discard(conn)
        if conn.out:
            self._buffered(-len(conn.out))
        self._closed_since[conn.conn_id] = reason
        self._closed[reason] += 1
        self._emit(
            Disconnected(
                conn.conn_id,
                conn.peer,
                reason,
                conn.bytes_in,
                conn.bytes_out,
                self._now + self._to_wall,
                detail,
            )
        )

    def _pause_accepting(self, exc: OSError) -> None:
        self._selector.unregister(self._listener)
        self._accept_resume_at = self._now + ACCEPT_RETRY_DELAY  # planned at the next tick
        if not self._accept_paused:  # announce the pause once, not at every failed retry
            self._accept_paused = True
            self._accept_pauses += 1
            reason = errno.errorcode.get(exc.errno or 0, str(exc))
            self._emit(AcceptPaused(reason, ACCEPT_RETRY_DELAY, self._now + self._to_wall))

    def _resume_accepting(self) -> None:
        self._accept_resume_at = None
        self._selector.register(self._listener, READ, _LISTENER)

    def _emit(self, event: LifecycleEvent) -> None:
        self._events_since_snapshot = True
        for channel in self._channels:
            channel.put_event(event)  # when full, the channel counts the drop

    # ----------------------------------------------------------------- commands

    def _on_wakeup(self) -> list[str]:
        """Run the queued commands (stop() sets _stopping before it wakes the loop); the
        outcome of each."""
        self._counters.wakeup_events += 1
        self._attention = True
        self._now = time.monotonic()  # a command may stamp activity or close clients
        return self._run_commands()

    def _run_commands(self) -> list[str]:
        ran = []
        for envelope in self._inbox.take_all():
            if self._stopping:  # stop() asked: a backlog of commands must not delay it
                envelope.refuse("engine stopped")
                continue
            try:
                result = self._execute(envelope.command)
            except Exception as exc:  # a bad predicate must not kill the loop
                result = CommandResult(command_name(envelope.command), False, f"failed: {exc}")
            result = CommandResult(
                result.command, result.ok, result.message, result.conn_id, result.count, time.time()
            )
            ran.append(result.message)
            if not isinstance(envelope.command, QUIET_COMMANDS):
                self._emit(result)
            envelope.future.set_result(result)
        return ran

    def _execute(self, command: Command) -> CommandResult:
        match command:
            case Kick(conn_id):
                return self._kick(conn_id)
            case KickWhere(predicate):
                return self._kick_where(predicate)
            case Mute():
                return self._mute(command)
            case SwitchSelector(name):
                return self._switch_selector(name)
            case Trace(on):
                return self._trace(on)
            case Inspect():
                return self._inspect(command)
            case _:
                assert_never(command)

    def _kick(self, conn_id: int) -> CommandResult:
        conn = self._conns.get(conn_id)
        if conn is None:
            return CommandResult("kick", False, f"#{conn_id} is not connected", conn_id)
        self._close(conn, KICKED)
        return CommandResult("kick", True, f"kicked #{conn.conn_id} {conn.peer}", conn.conn_id, 1)

    def _kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> CommandResult:
        self._stamp_activity()  # the predicate sees last_activity as a snapshot would
        matching = [c for c in self._conns.values() if predicate(c.stats(self._to_wall))]
        for conn in matching:
            self._close(conn, KICKED)
        return CommandResult("kick_where", True, f"kicked {len(matching)}", None, len(matching))

    def _trace(self, on: bool) -> CommandResult:
        if on != (self._tracer is not None):
            self._tracer = Tracer(self) if on else None
        return CommandResult("trace", True, f"trace {'on' if on else 'off'}")

    def _inspect(self, command: Inspect) -> CommandResult:
        """Move the inspection to `command.conn_id` (or end it); keep the record if unmoved."""
        old = self._inspection
        conn = self._conns.get(command.conn_id) if command.conn_id is not None else None
        if old is not None and (conn is None or old.conn_id != conn.conn_id):
            self._inspection = None
            if not old.conn.closed:
                self._watch(old.conn, None)
            old = None
        if conn is None:
            if command.conn_id is None:
                return CommandResult("inspect", True, "inspecting no client")
            return CommandResult(
                "inspect", False, f"#{command.conn_id} is not connected", command.conn_id
            )
        if old is None:
            old = self._inspection = Inspection(conn, command.preview)
            at = time.monotonic() + self._to_wall
            old.changes.append(InterestChange(at, "registered", conn.mask, "so far"))
            self._watch(conn, old)
        elif command.preview != (old.received is not None):
            old.received = bytearray() if command.preview else None
        self._dirty.add(conn)
        return CommandResult("inspect", True, f"inspecting #{conn.conn_id}", conn.conn_id, 1)

    def _watch(self, conn: Connection, inspection: Inspection | None) -> None:
        """Start (or end) inspecting `conn`: its selector key's data says which path serves it."""
        conn.inspection = inspection
        if conn.mask:
            data = conn if inspection is None else inspection
            self._selector.modify(conn.sock, conn.mask, data)

    def _mute(self, command: Mute) -> CommandResult:
        verb = "mute" if command.muted else "unmute"
        conn = self._conns.get(command.conn_id)
        if conn is None:
            return CommandResult(
                verb, False, f"#{command.conn_id} is not connected", command.conn_id
            )
        conn.muted = command.muted
        self._dirty.add(conn)
        self._set_interest(conn, f"{verb}d")
        return CommandResult(verb, True, f"{verb}d #{conn.conn_id} {conn.peer}", conn.conn_id, 1)

    def _switch_selector(self, name: str) -> CommandResult:
        try:
            cls = selector_class(name)
        except ValueError as exc:
            return CommandResult("switch_selector", False, str(exc))
        old = self._selector
        keys = list(old.get_map().values())
        # Clients unregistered now (muted, backpressured) count: they register again later.
        fds = {key.fd for key in keys} | {conn.fd for conn in self._conns.values()}
        if cls is selectors.SelectSelector and not all(
            select_can_watch(fd, watched) for watched, fd in enumerate(fds)
        ):
            return CommandResult(
                "switch_selector",
                False,
                f"SelectSelector cannot watch {SELECT_LIMIT_TEXT}; close some clients first",
            )
        new = cls()
        try:
            for key in keys:
                new.register(key.fileobj, key.events, key.data)
        except BaseException:
            new.close()
            raise
        self._selector = new
        old.close()
        previous, self.selector_name = type(old).__name__, cls.__name__
        return CommandResult(
            "switch_selector",
            True,
            f"switched {previous} → {self.selector_name}",
            None,
            len(keys),
        )

    # ----------------------------------------------------------------- snapshots

    def _publish(self) -> None:
        to_wall = self._to_wall
        self._stamp_activity()
        fold = self._counters.fold
        changed = {}
        for conn in self._dirty:
            fold(conn)
            changed[conn.conn_id] = conn.stats(to_wall)
        counters = self._counters
        if self._tracer is not None:
            self._tracer.publish(self._channels)  # every subscriber's too: a viewer traces
        inspection = self._inspection
        self._seq += 1
        self._last_snapshot = self._now
        snapshot = Snapshot(
            seq=self._seq,
            at=self._now + to_wall,
            monotonic=self._now,
            started_at=self.started_at,
            address=self.address,
            selector=self.selector_name,
            max_clients=self.config.max_clients,
            open_count=len(self._conns),
            totals=Totals(
                accepted=self._accepted,
                closed=MappingProxyType(dict(self._closed)),
                bytes_in=counters.total("bytes_in"),
                bytes_out=counters.total("bytes_out"),
                msgs_in=counters.total("msgs_in"),
                msgs_out=counters.total("msgs_out"),
                pending=self._pending_total,
                buffer_full=self._buffer_full,
                accept_paused=self._accept_paused,
                accept_pauses=self._accept_pauses,
            ),
            loop=counters.loop_stats(self._now),
            changed=MappingProxyType(changed),
            closed=frozenset(self._closed_since),
            events_dropped=self.channel.dropped,
            inspected=None if inspection is None else inspection.view(),
            stepping=self.steps.stepping,
        )
        self._dirty.clear()
        self._closed_since.clear()
        self._events_since_snapshot = False
        for channel in self._channels:
            channel.put_snapshot(snapshot)

    def _release(self) -> None:
        """Close every socket and the selector (engine thread, or after it ended)."""
        for conn in self._conns.values():
            conn.closed = True
            conn.sock.close()
            self._counters.fold(conn)
            self._closed_since[conn.conn_id] = SHUTDOWN
        self._closed[SHUTDOWN] += len(self._conns)
        self._conns.clear()
        self._active.clear()
        self._dirty.clear()
        self._writers.clear()
        self._pending_total = 0
        self._opened.close()
        self._inbox.refuse_all("engine stopped")
        self._inbox.close()
        self._ticker.close()
