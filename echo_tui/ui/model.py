"""The UI's view of the clients: the latest stats per connection plus per-client rates.

Applying a Snapshot costs time proportional to what changed (plus the clients
whose rate was non-zero and must fall back to 0 when they go quiet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from echo_tui.engine.events import ConnectionStats, Snapshot


@dataclass(slots=True)
class Client:
    """One connection as the UI shows it."""

    stats: ConnectionStats
    rate_in: float = 0.0
    rate_out: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """What one snapshot did to the model."""

    added: list[int]
    updated: list[int]  # changed stats, or a rate that fell to zero
    removed: list[int]


class ClientModel:
    """Connections keyed by conn_id, kept equal to the engine's view by applying snapshots."""

    def __init__(self) -> None:
        self.clients: dict[int, Client] = {}
        self._moving: set[int] = set()  # ids whose rate is not zero
        self._last_monotonic: float | None = None

    def apply(self, snapshot: Snapshot) -> Change:
        """Apply a (delta) snapshot; return the ids added, updated and removed."""
        elapsed = (
            snapshot.monotonic - self._last_monotonic if self._last_monotonic is not None else 0.0
        )
        self._last_monotonic = snapshot.monotonic
        added: list[int] = []
        updated: list[int] = []
        removed = [cid for cid in snapshot.closed if self.clients.pop(cid, None) is not None]
        self._moving.difference_update(snapshot.closed)
        for cid, stats in snapshot.changed.items():
            client = self.clients.get(cid)
            if client is None:
                client = self.clients[cid] = Client(stats)
                before_in = before_out = 0
                added.append(cid)
            else:
                before_in, before_out = client.stats.bytes_in, client.stats.bytes_out
                client.stats = stats
                updated.append(cid)
            if elapsed > 0:
                client.rate_in = (stats.bytes_in - before_in) / elapsed
                client.rate_out = (stats.bytes_out - before_out) / elapsed
            if client.rate_in or client.rate_out:
                self._moving.add(cid)
        for cid in self._moving - snapshot.changed.keys():
            client = self.clients[cid]
            client.rate_in = client.rate_out = 0.0
            updated.append(cid)
        self._moving.intersection_update(snapshot.changed.keys())
        return Change(added, updated, removed)


def matcher(text: str) -> Callable[[ConnectionStats], bool]:
    """A predicate: the peer address contains `text`, or the state starts with it.

    Plain function of the stats, so the engine thread may run it (kick_where).
    """
    needle = text.strip().lower()
    if not needle:
        return _match_all
    return lambda stats: needle in stats.peer.lower() or stats.state.startswith(needle)


def _match_all(stats: ConnectionStats) -> bool:
    return True
