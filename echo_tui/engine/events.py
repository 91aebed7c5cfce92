"""What the engine tells its consumer: lifecycle events, snapshots, and the bounded channel.

Everything here is immutable and built from plain values, so a consumer in
another thread can keep it as long as it likes.  The channel never blocks the
engine: lifecycle events that do not fit are dropped and counted, snapshots are
merged into the one still waiting, and the engine error has a slot of its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# Reasons a connection ends (the totals count each).
PEER_CLOSED = "peer-closed"
RESET = "reset"
KICKED = "kicked"
IDLE = "idle"
MAX_CLIENTS = "max-clients"
FD_LIMIT = "fd-limit"  # select() cannot watch the new socket's descriptor
ERROR = "error"
SHUTDOWN = "shutdown"
CLOSE_REASONS = (PEER_CLOSED, RESET, KICKED, IDLE, MAX_CLIENTS, FD_LIMIT, ERROR, SHUTDOWN)

# Connection states.
READING = "reading"
BACKPRESSURED = "backpressured"
MUTED = "muted"
CLOSING = "closing"

# Buckets of the events-per-select histogram: 0, 1, 2-3, 4-7, ... and a last open one.
HISTOGRAM_BUCKETS = 12


def histogram_label(bucket: int) -> str:
    """The range of events-per-select counted in `bucket` ("0", "1", "2-3", ..., "1024+")."""
    if bucket == 0:
        return "0"
    low = 1 << (bucket - 1)
    if bucket == HISTOGRAM_BUCKETS - 1:
        return f"{low}+"
    high = (1 << bucket) - 1
    return str(low) if low == high else f"{low}-{high}"


# Buckets of the loop's duration histograms (iteration time, loop delay), in nanoseconds:
# bucket b counts durations of b bits (2**(b-1) to 2**b - 1 ns), the last also longer ones.
DURATION_BUCKETS = 40  # the last begins at 2**38 ns, about 4.6 minutes


def duration_bound(bucket: int) -> float:
    """The longest duration bucket `bucket` counts, in seconds (its last, the open one, too)."""
    return ((1 << bucket) - 1) / 1e9


def duration_quantile(counts: Sequence[float], share: float, longest: float) -> float:
    """The duration under which `share` (0..1] of `counts` fell, in seconds, as a bound.

    The bound is the upper edge of the bucket it falls in, and never more than
    `longest` (the exact maximum), so durations that are all alike come out exact.
    0.0 when nothing was counted.
    """
    total = sum(counts)
    if not total:
        return 0.0
    rank, seen = share * total, 0.0
    for bucket, count in enumerate(counts):
        seen += count
        if count and seen >= rank:
            return min(duration_bound(bucket), longest)
    return longest


def duration_figures(
    counts: Sequence[float], longest: float, shares: Sequence[float]
) -> dict[str, float]:
    """{"p50": ..., "p99": ..., "max": ...} for `shares` (0.5, 0.99, 1.0), in seconds."""
    names = {0.5: "p50", 0.99: "p99", 1.0: "max"}
    return {names[share]: duration_quantile(counts, share, longest) for share in shares}


@dataclass(frozen=True, slots=True)
class Connected:
    """A client was accepted."""

    conn_id: int
    peer: str
    at: float  # wall clock (time.time())


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A client connection ended; `reason` is one of CLOSE_REASONS."""

    conn_id: int
    peer: str
    reason: str
    bytes_in: int
    bytes_out: int
    at: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A connection was accepted and closed at once: `max-clients` or `fd-limit`."""

    peer: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of an operator command (kick, kick_where, mute, unmute, switch_selector)."""

    command: str
    ok: bool
    message: str
    conn_id: int | None = None
    count: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class AcceptPaused:
    """accept() failed for lack of resources; accepting resumes after `retry_in` seconds."""

    reason: str
    retry_in: float
    at: float


@dataclass(frozen=True, slots=True)
class AcceptResumed:
    """Accepting new connections again after a pause."""

    at: float


@dataclass(frozen=True, slots=True)
class EngineError:
    """The loop died: every socket is closed and the engine has stopped."""

    message: str
    traceback: str
    at: float


@dataclass(frozen=True, slots=True)
class EngineStopped:
    """The engine stopped (after stop(), or after an EngineError)."""

    at: float


LifecycleEvent = (
    Connected
    | Disconnected
    | Rejected
    | CommandResult
    | AcceptPaused
    | AcceptResumed
    | EngineStopped
)


@dataclass(slots=True)  # read-only by convention: frozen would make it 4x slower to build
class ConnectionStats:
    """One client as of a snapshot. Counters are cumulative since it connected.

    The engine builds one for every busy client at every snapshot (10 a second),
    on its loop thread: nothing changes one after that (use dataclasses.replace).
    """

    conn_id: int
    peer: str
    connected_at: float  # wall clock
    last_activity: float  # wall clock of the last byte received or sent
    bytes_in: int
    bytes_out: int
    msgs_in: int  # recv() calls that returned data
    msgs_out: int  # send() calls that sent data
    pending: int  # bytes waiting in the output buffer
    state: str  # READING, BACKPRESSURED, MUTED or CLOSING
    read_ready: int  # times select() reported it readable
    write_ready: int  # times select() reported it writable
    fd: int = -1  # the server-side socket's file descriptor
    events: int = 0  # what it is registered for: EVENT_READ | EVENT_WRITE bits, 0 unregistered
    backpressured_seconds: float = 0.0  # time spent backpressured, in periods that ended
    backpressured_since: float | None = None  # wall clock, while backpressured


# The loop inspector: what only an inspected client, or an open trace, records.

PREVIEW_BYTES = 256  # the last bytes received an inspected client keeps, when asked to
INTEREST_CHANGES = 16  # interest changes an inspected client keeps
TRACE_CAPACITY = 1000  # select() calls the trace keeps until the consumer takes them

# What a ready key is, for the trace.
CLIENT = "client"
LISTENER = "listener"
WAKEUP = "wake-up"
TICKER = "ticker"


@dataclass(frozen=True, slots=True)
class InterestChange:
    """One register/modify/unregister of a client's socket with the selector, and why."""

    at: float  # wall clock
    op: str  # "register", "modify" or "unregister"
    events: int  # the mask registered after it (0 after unregister)
    cause: str


@dataclass(frozen=True, slots=True)
class Inspected:
    """What the engine recorded for the one client being inspected (see EchoEngine.inspect)."""

    conn_id: int
    fileobj: str  # repr() of its socket when inspection began; raw: escape before showing
    changes: tuple[InterestChange, ...]  # oldest first, at most INTEREST_CHANGES
    preview: bytes | None  # the last bytes received (at most PREVIEW_BYTES); None: preview off


@dataclass(frozen=True, slots=True)
class ReadyKey:
    """One (key, mask) pair select() returned, and what its handler did with it."""

    fd: int
    mask: int  # EVENT_READ | EVENT_WRITE bits select() reported
    role: str  # CLIENT, LISTENER, WAKEUP or TICKER
    conn_id: int | None = None
    received: int = 0  # bytes recv() returned
    eof: bool = False  # recv() returned b"" (the peer closed its side)
    sent: int = 0  # bytes send() took
    pending: int = 0  # output still buffered afterwards
    events_before: int = 0  # the registered mask before the handler ran
    events_after: int = 0  # ... and after it
    closed: str = ""  # the close reason, when the handler closed the connection
    skipped: bool = False  # closed earlier in the same batch: no handler ran
    accepted: tuple[tuple[int, str], ...] = ()  # (fd, peer) of each client accepted
    rejected: int = 0  # clients accepted and closed at once (max-clients, fd-limit)
    commands: tuple[str, ...] = ()  # the outcome of each command the wake-up ran


@dataclass(frozen=True, slots=True)
class SelectCall:
    """One select() call as the trace shows it."""

    seq: int  # its number since tracing began (gaps: calls the trace lost)
    at: float  # wall clock when it returned
    timeout: float | None  # the timeout it was given, seconds (None: none)
    waited: float  # how long it blocked, seconds
    keys: int  # keys registered when it was called
    selector: str  # the selector class name
    stepped: bool  # run as one step of step mode
    ready: tuple[ReadyKey, ...]  # in the order select() returned them


def select_call(raw: tuple) -> SelectCall:
    """The SelectCall for a call the engine recorded as plain tuples: SelectCall's fields
    in order, the last one holding ReadyKeys or tuples of ReadyKey's leading fields.

    The engine records tuples because they cost it a tenth of these objects; the
    consumer builds the objects (see EventChannel.take_trace).
    """
    seq, at, timeout, waited, keys, selector, stepped, ready = raw
    entries = tuple(e if type(e) is ReadyKey else ReadyKey(*e) for e in ready)
    return SelectCall(seq, at, timeout, waited, keys, selector, stepped, entries)


@dataclass(frozen=True, slots=True)
class LoopStats:
    """Cumulative statistics of the select loop."""

    selects: int = 0
    events: int = 0
    read_events: int = 0
    write_events: int = 0
    accept_events: int = 0
    wakeup_events: int = 0
    empty_selects: int = 0
    max_batch: int = 0
    histogram: tuple[int, ...] = (0,) * HISTOGRAM_BUCKETS
    busy_seconds: float = 0.0  # time outside select(): from its return to the next call
    wait_seconds: float = 0.0  # the rest of the time since the loop started: in select()
    housekeeping_events: int = 0  # the ticker's: its wake-ups when housekeeping is due
    # Iteration time: from select() returning to the next select() call, per call.
    iterations: tuple[int, ...] = (0,) * DURATION_BUCKETS  # see DURATION_BUCKETS
    iteration_max: float = 0.0  # seconds, the longest since start
    iteration_sum: float = 0.0  # seconds, all of them
    # Loop delay: how late housekeeping ran after the ticker was due, per tick.
    loop_delays: tuple[int, ...] = (0,) * DURATION_BUCKETS
    loop_delay_max: float = 0.0  # seconds
    loop_delay_sum: float = 0.0  # seconds


@dataclass(frozen=True, slots=True)
class Totals:
    """Cumulative traffic and connection counts since the engine started."""

    accepted: int = 0
    closed: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    bytes_in: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    msgs_out: int = 0
    pending: int = 0  # bytes buffered for all clients right now
    accept_paused: bool = False
    accept_pauses: int = 0  # times accepting paused for lack of resources
    buffer_full: bool = False  # pending reached --max-total-buffer: clients with pending unread


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The engine's state at one tick: the truth the UI rebuilds its view from.

    `changed` holds the connections whose stats changed since the previous
    snapshot the consumer received, `closed` the ids that went away since then;
    applying both keeps a consumer's view equal to the engine's.  `open_count`
    lets it check.
    """

    seq: int
    at: float  # wall clock
    monotonic: float  # time.monotonic(), for rates
    started_at: float  # wall clock when the engine started
    address: tuple[str, int]
    selector: str  # class name, e.g. "EpollSelector"
    max_clients: int
    open_count: int
    totals: Totals
    loop: LoopStats
    changed: Mapping[int, ConnectionStats]
    closed: frozenset[int]
    events_dropped: int  # lifecycle events the channel could not hold, since start
    inspected: Inspected | None = None  # the inspected client's record, while one is
    stepping: bool = False  # the loop is in step mode (frozen between steps)

    def merged_after(self, older: Snapshot) -> Snapshot:
        """This snapshot, carrying forward what `older` (never consumed) had changed."""
        changed = {k: v for k, v in older.changed.items() if k not in self.closed}
        changed.update(self.changed)
        closed = (older.closed - self.changed.keys()) | self.closed
        return replace(self, changed=MappingProxyType(changed), closed=frozenset(closed))


class EventChannel:
    """Bounded, non-blocking hand-off from the engine thread to one consumer.

    Memory stays bounded however long the consumer stays away: at most `capacity`
    events, and one merged snapshot whose `closed` keeps only ids the consumer
    can know (connection ids grow, so ids above the highest it was shown are
    dropped from `closed`: it never saw them open).
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._events: deque[LifecycleEvent] = deque()
        self._snapshot: Snapshot | None = None
        self._latest: Snapshot | None = None
        self._error: EngineError | None = None
        self._known_ids = 0  # the highest connection id the consumer was shown
        self._trace: deque[SelectCall | tuple] = deque(maxlen=TRACE_CAPACITY)
        self.dropped = 0

    def put_event(self, event: LifecycleEvent) -> bool:
        """Queue a lifecycle event; False (and counted) when the channel is full."""
        with self._lock:
            if len(self._events) >= self.capacity:
                self.dropped += 1
                return False
            self._events.append(event)
            return True

    def put_snapshot(self, snapshot: Snapshot) -> None:
        """Offer the latest snapshot, merging it with one the consumer has not taken."""
        self._latest = snapshot
        with self._lock:
            pending = self._snapshot
            if pending is not None:
                snapshot = snapshot.merged_after(pending)
                known = self._known_ids
                if any(conn_id > known for conn_id in snapshot.closed):
                    closed = frozenset(i for i in snapshot.closed if i <= known)
                    snapshot = replace(snapshot, closed=closed)
            self._snapshot = snapshot

    def put_trace(self, calls: Iterable[SelectCall | tuple]) -> None:
        """Offer traced select() calls (or their tuples, see select_call); beyond
        TRACE_CAPACITY the oldest are dropped."""
        with self._lock:
            self._trace.extend(calls)

    def take_trace(self, last: int | None = None) -> list[SelectCall]:
        """Take the traced select() calls waiting, oldest first; with `last`, only the last
        that many (the others are dropped unbuilt: their numbers show the gap)."""
        with self._lock:
            calls = list(self._trace)
            self._trace.clear()
        if last is not None:
            calls = calls[-last:] if last else []
        return [c if isinstance(c, SelectCall) else select_call(c) for c in calls]

    @property
    def latest(self) -> Snapshot | None:
        """The last snapshot published, drained or not, for readers of its cumulative fields.

        It does not take anything from the consumer (its `changed` and `closed` are
        relative to the snapshot before it, so only the totals mean anything alone):
        metrics read it at their own pace, even while the dashboard is paused.
        """
        return self._latest

    def put_error(self, error: EngineError) -> None:
        """Record the engine's fatal error; it is never dropped."""
        with self._lock:
            self._error = error

    def drain(self) -> tuple[list[LifecycleEvent], Snapshot | None, EngineError | None]:
        """Take everything waiting: events in order, the merged snapshot, the error if any."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            snapshot, self._snapshot = self._snapshot, None
            shown = [e.conn_id for e in events if type(e) is Connected]
            if snapshot is not None:
                shown.extend(snapshot.changed)
            self._known_ids = max(self._known_ids, *shown, 0)
            return events, snapshot, self._error

    def __len__(self) -> int:
        return len(self._events)
