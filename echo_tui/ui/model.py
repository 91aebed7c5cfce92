"""The UI's view of the clients: the latest stats per connection plus per-client rates.

Applying a Snapshot costs time proportional to what changed, plus the clients
whose rate window is still open (so a client that goes quiet falls to 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from echo_tui.engine.events import ConnectionStats, Snapshot
from echo_tui.ui.loop_text import short_events

_FD = re.compile(r"fd\s*=?\s*(\d+)")
RATE_WINDOW = 1.0  # seconds a per-client rate is measured over, so bursts don't flicker


@dataclass(slots=True)
class Client:
    """One connection as the UI shows it; rates are bytes/s over the last closed window."""

    stats: ConnectionStats
    window_start: float  # snapshot monotonic time the current rate window opened
    window_in: int = 0  # bytes_in when it opened
    window_out: int = 0
    rate_in: float = 0.0
    rate_out: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """What one snapshot did to the model."""

    added: list[int]
    updated: list[int]  # changed stats, or a rate that moved
    removed: list[int]


class ClientModel:
    """Connections keyed by conn_id, kept equal to the engine's view by applying snapshots."""

    def __init__(self) -> None:
        self.clients: dict[int, Client] = {}
        self._open_windows: set[int] = set()  # ids with traffic or a non-zero rate to settle

    def apply(self, snapshot: Snapshot) -> Change:
        """Apply a (delta) snapshot; return the ids added, updated and removed."""
        now = snapshot.monotonic
        added: list[int] = []
        updated: list[int] = []
        removed = [cid for cid in snapshot.closed if self.clients.pop(cid, None) is not None]
        self._open_windows.difference_update(snapshot.closed)
        for cid, stats in snapshot.changed.items():
            client = self.clients.get(cid)
            if client is None:
                self.clients[cid] = Client(stats, window_start=now)
                added.append(cid)
            else:
                client.stats = stats
                updated.append(cid)
            self._open_windows.add(cid)
        settled = []
        for cid in self._open_windows:
            client = self.clients[cid]
            elapsed = now - client.window_start
            if elapsed < RATE_WINDOW:
                continue
            stats = client.stats
            rate_in = (stats.bytes_in - client.window_in) / elapsed
            rate_out = (stats.bytes_out - client.window_out) / elapsed
            if (rate_in, rate_out) != (client.rate_in, client.rate_out):
                client.rate_in, client.rate_out = rate_in, rate_out
                if cid not in snapshot.changed:
                    updated.append(cid)
            client.window_start, client.window_in, client.window_out = (
                now,
                stats.bytes_in,
                stats.bytes_out,
            )
            if not (rate_in or rate_out):
                settled.append(cid)
        self._open_windows.difference_update(settled)
        return Change(added, updated, removed)


def matcher(text: str) -> Callable[[ConnectionStats], bool]:
    """A predicate: the peer address contains `text`, or the state starts with it, or
    `text` is the Events cell (`rw`, `w`, `-`, ...); `fd 12` (or `fd=12`) matches that fd.

    Plain function of the stats, so the engine thread may run it (kick_where).
    """
    needle = text.strip().lower()
    if not needle:
        return _match_all
    fd = _FD.fullmatch(needle)
    if fd:
        wanted = int(fd.group(1))
        return lambda stats: stats.fd == wanted
    return lambda stats: (
        needle in stats.peer.lower()
        or stats.state.startswith(needle)
        or needle == short_events(stats.events).lower()
    )


def _match_all(stats: ConnectionStats) -> bool:
    return True
