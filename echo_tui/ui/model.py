"""The UI's view of the clients: the latest stats per connection plus per-client rates.

Every rate, per client and for all clients together, is measured over the same
window: from one snapshot to the first one at least RATE_WINDOW later.  So the
Traffic panel's `in` is the sum of the rows' In/s (plus clients that left
during the window).  Applying a Snapshot costs time proportional to what
changed, plus the clients whose rate is still moving (so a quiet one falls to 0).
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from echo_tui.engine.events import ConnectionStats, Snapshot, Totals
from echo_tui.ui.loop_text import short_events

_FD = re.compile(r"fd\s*=?\s*(\d+)")
RATE_WINDOW = 1.0  # seconds a per-client rate is measured over, so bursts don't flicker
HISTORY = 60  # rate windows of each client's history (the detail's sparklines)
HISTORY_CLIENTS = 256  # clients with a history: the most recently busy (memory stays bounded)


# The all-clients counters measured over the window, in this order.
BYTES_IN, BYTES_OUT, RECVS, SENDS = range(4)


def traffic_counters(totals: Totals) -> tuple[int, int, int, int]:
    """The cumulative all-clients counters whose rates the model keeps, in index order."""
    return (totals.bytes_in, totals.bytes_out, totals.msgs_in, totals.msgs_out)


@dataclass(slots=True)
class Client:
    """One connection as the UI shows it; rates are bytes/s over the last closed window."""

    stats: ConnectionStats
    window_in: int = 0  # bytes_in when the current window opened (0: connected during it)
    window_out: int = 0
    rate_in: float = 0.0
    rate_out: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """What one snapshot did to the model."""

    added: list[int]
    updated: list[int]  # changed stats, or a rate that moved
    removed: list[int]
    window_closed: bool = False  # the rates were just measured anew


class ClientModel:
    """Connections keyed by conn_id, kept equal to the engine's view by applying snapshots."""

    def __init__(self) -> None:
        self.clients: dict[int, Client] = {}
        self.rates: tuple[float, ...] = (0.0,) * 4  # all clients, per second (BYTES_IN, ...)
        self._open_windows: set[int] = set()  # ids with traffic or a non-zero rate to settle
        self._window_start: float | None = None  # snapshot monotonic time the window opened
        self._window_totals: tuple[int, ...] = (0,) * 4  # traffic_counters() then
        self._windows = 0  # rate windows closed so far
        # conn_id -> (the window of its last sample, its (in, out) rates), least recently
        # busy first; a window with no sample was a quiet one.
        self._history: OrderedDict[int, tuple[int, deque[tuple[float, float]]]] = OrderedDict()

    def reset(self) -> Change:
        """Forget every client and rate (a replay seeked): the change removes them all."""
        removed = list(self.clients)
        self.__init__()  # type: ignore[misc]
        return Change([], [], removed)

    def apply(self, snapshot: Snapshot) -> Change:
        """Apply a (delta) snapshot; return the ids added, updated and removed."""
        now = snapshot.monotonic
        first = self._window_start is None
        added: list[int] = []
        updated: list[int] = []
        removed = [cid for cid in snapshot.closed if self.clients.pop(cid, None) is not None]
        self._open_windows.difference_update(snapshot.closed)
        for cid in removed:
            self._history.pop(cid, None)
        for cid, stats in snapshot.changed.items():
            client = self.clients.get(cid)
            if client is None:
                # Connected during the window, except those already there at the first one.
                client = self.clients[cid] = Client(stats)
                if first:
                    client.window_in, client.window_out = stats.bytes_in, stats.bytes_out
                added.append(cid)
            else:
                client.stats = stats
                updated.append(cid)
            self._open_windows.add(cid)
        totals = traffic_counters(snapshot.totals)
        if self._window_start is None:
            self._window_start, self._window_totals = now, totals
            return Change(added, updated, removed)
        elapsed = now - self._window_start
        if elapsed < RATE_WINDOW:
            return Change(added, updated, removed)
        self.rates = tuple(
            (new - old) / elapsed for new, old in zip(totals, self._window_totals, strict=True)
        )
        self._window_start, self._window_totals = now, totals
        self._windows += 1
        settled = []
        for cid in self._open_windows:
            client = self.clients[cid]
            stats = client.stats
            rate_in = (stats.bytes_in - client.window_in) / elapsed
            rate_out = (stats.bytes_out - client.window_out) / elapsed
            if (rate_in, rate_out) != (client.rate_in, client.rate_out):
                client.rate_in, client.rate_out = rate_in, rate_out
                if cid not in snapshot.changed:
                    updated.append(cid)
            client.window_in, client.window_out = stats.bytes_in, stats.bytes_out
            self._sample(cid, rate_in, rate_out)
            if not (rate_in or rate_out):
                settled.append(cid)
        self._open_windows.difference_update(settled)
        return Change(added, updated, removed, window_closed=True)

    def _sample(self, cid: int, rate_in: float, rate_out: float) -> None:
        """Add the window just closed to `cid`'s history (zeros for the quiet ones between)."""
        history = self._history
        entry = history.get(cid)
        if entry is None:
            rates: deque[tuple[float, float]] = deque(maxlen=HISTORY)
            if len(history) >= HISTORY_CLIENTS:
                history.popitem(last=False)
        else:
            last, rates = entry
            rates.extend([(0.0, 0.0)] * min(HISTORY, self._windows - last - 1))
            history.move_to_end(cid)
        rates.append((rate_in, rate_out))
        history[cid] = (self._windows, rates)

    def history_of(self, cid: int) -> list[tuple[float, float]]:
        """`cid`'s (in, out) rates, one per window, oldest first: up to HISTORY windows."""
        entry = self._history.get(cid)
        if entry is None:
            return []
        last, rates = entry
        quiet = min(HISTORY, self._windows - last)
        return [*rates, *[(0.0, 0.0)] * quiet][-HISTORY:]


def matcher(
    text: str, kind_of: Callable[[str], str | None] | None = None
) -> Callable[[ConnectionStats], bool]:
    """A predicate: the peer address contains `text`, or the state starts with it, or
    `text` is the Interest cell (`rw`, `w`, `-`, ...), or the Kind (`kind_of(peer)`, with
    --demo) contains it; `fd 12` (or `fd=12`) matches that fd.

    Plain function of the stats (and a dict look-up), so the engine thread may run it
    (kick_where).
    """
    needle = text.strip().lower()
    if not needle:
        return _match_all
    fd = _FD.fullmatch(needle)
    if fd:
        wanted = int(fd.group(1))
        return lambda stats: stats.fd == wanted

    def matches(stats: ConnectionStats) -> bool:
        if (
            needle in stats.peer.lower()
            or stats.state.startswith(needle)
            or needle == short_events(stats.events).lower()
        ):
            return True
        kind = kind_of(stats.peer) if kind_of is not None else None
        return kind is not None and needle in kind.lower()

    return matches


def _match_all(stats: ConnectionStats) -> bool:
    return True
