"""Playing a recording back: the replay model the dashboard drains instead of an engine.

Playback folds the recording's snapshots in order (Snapshot.merged_after), which
is what the live consumer's channel does: the state at any moment is exact, and
a seek rebuilds it by folding from the timeline's keyframe before the position.
It imports no command module, so the dashboard can use it without the CLI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import fields
from itertools import chain

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import EngineError, LifecycleEvent, SelectCall, Snapshot
from echo_tui.recordings.recording import ClientKind, Header, Record
from echo_tui.recordings.timeline import LOG_AFTER_SEEK, Timeline, fold

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def recorded_config(header: Header) -> EngineConfig:
    """The engine settings the recording was made with (unknown fields ignored)."""
    known = {f.name for f in fields(EngineConfig)}
    return EngineConfig(**{k: v for k, v in header.limits.items() if k in known})


class ReplayChannel:
    """What the dashboard drains in replay: the records up to the playback position.

    It has the live channel's drain(); after a seek, the first drain returns the
    whole state at the position (`rebuilt` says so, so the UI starts afresh).
    """

    def __init__(self, timeline: Timeline, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeline = timeline
        self.clock = clock
        self.speed = 1.0
        self.paused = False
        self.rebuilt = False  # the last drain replaced the whole state (after a seek)
        self._position = 0.0
        self._anchor = clock()  # clock time at which playback was at _position
        self._next = 0  # index of the first record not handed out yet
        self._state: Snapshot | None = None  # every snapshot folded up to _next
        self._seek_to: float | None = 0.0

    @property
    def position(self) -> float:
        """Seconds into the recording, at the replay speed."""
        if self.paused:
            return self._position
        return min(
            self.timeline.duration, self._position + (self.clock() - self._anchor) * self.speed
        )

    @property
    def at_end(self) -> bool:
        return self.position >= self.timeline.duration

    def toggle_pause(self) -> None:
        self._rebase()
        self.paused = not self.paused

    def set_speed(self, speed: float) -> None:
        self._rebase()
        self.speed = speed

    def seek(self, position: float) -> None:
        """Move to `position` seconds (clamped to the recording)."""
        self._position = max(0.0, min(self.timeline.duration, position))
        self._anchor = self.clock()
        self._seek_to = self._position

    def _rebase(self) -> None:
        self._position, self._anchor = self.position, self.clock()

    def drain(self) -> tuple[list[LifecycleEvent], Snapshot | None, EngineError | None]:
        """The events and the (merged) snapshot recorded since the last drain."""
        timeline = self.timeline
        end = timeline.index_at(self.position)
        self.rebuilt = self._seek_to is not None
        kept: list[Record] = []  # a keyframe's records: what those before it give
        if self.rebuilt:  # fold from the keyframe before: exact, whatever happened before
            self._seek_to = None
            self._state = None
            self._next, kept = timeline.keyframe(end)
        events: list[LifecycleEvent] = []
        error: EngineError | None = None
        delta: Snapshot | None = None
        for record in chain(kept, timeline.records(self._next, end)):
            match record.item:
                case Snapshot() as snapshot:
                    self._state = fold(self._state, snapshot)
                    if not self.rebuilt:  # a rebuild hands out the whole state instead
                        delta = snapshot if delta is None else snapshot.merged_after(delta)
                case EngineError() as failure:
                    error = failure
                case str() | ClientKind():  # a note of the recorder's; a --demo kind
                    pass
                case event:
                    events.append(event)
        self._next = end
        if self.rebuilt:  # the log's worth of events before the position, and the whole state
            return events[-LOG_AFTER_SEEK:], self._state, error
        return events, delta, error

    def take_trace(self, last: int | None = None) -> list[SelectCall]:
        """Always none: a recording has the counters, not each select() call."""
        return []


class ReplaySource:
    """A source.Source played back from a recording: what the dashboard watches.

    No socket is opened, and there are no controls (the dashboard offers no command);
    `channel` has the playback's own controls: pause, seek and speed.
    """

    def __init__(self, timeline: Timeline, clock: Callable[[], float] = time.monotonic) -> None:
        header = timeline.header
        self.timeline = timeline
        self.channel = ReplayChannel(timeline, clock)
        self.config = recorded_config(header)
        self.address = header.address
        self.selector_name = header.selector
        self.started_at = header.started_at
        self.error: EngineError | None = None
        self.stopped = threading.Event()

    def kind_of(self, peer: str) -> str | None:
        """What the --demo client at `peer` did, as recorded (None: not a demo client)."""
        return self.timeline.kinds.get(peer)

    def stop(self, timeout: float = 0.0) -> None:
        """Nothing runs: playback ends with the app."""

    def wall_clock(self) -> float:
        """The recorded wall-clock time at the playback position (the app's clock in replay)."""
        return self.started_at + self.channel.position
