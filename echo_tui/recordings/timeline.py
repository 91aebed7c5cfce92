"""A recording held for playback: its lines compressed in blocks, with keyframes.

Decoded, a busy session's snapshots take several times the size of their JSON
(about 32 MiB a minute for 100 busy clients), so replay never holds them all:
the Timeline reads the file once and keeps its lines as they are, in time
order, in zlib-compressed blocks indexed by time, and playback decodes the
block it is in.  Every so often it also keeps a keyframe: the state folded up
to there, encoded the same way, so that a seek folds from the keyframe at or
before the position rather than from the start.
"""

from __future__ import annotations

import heapq
import math
import os
import zlib
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from operator import attrgetter
from types import MappingProxyType

from echo_tui.engine.events import EngineError, Snapshot
from echo_tui.recordings.recording import (
    ClientKind,
    Record,
    open_recording,
    parse_line,
    record_line,
)

BLOCK_BYTES = 256 * 1024  # characters of lines per compressed block
KEYFRAME_EVERY = 10.0  # recorded seconds between keyframes, at least
COMPRESS_LEVEL = 3  # JSON shrinks about 7 times, at about 120 MiB/s (6: 9.5 times at 40)
CACHED_BLOCKS = 2  # decoded blocks kept: the one playing and the one before
REORDER_SECONDS = 2.0  # how far back in time a record may be written and still be put in order
LOG_AFTER_SEEK = 200  # events a seek shows again in the log: those just before the position


def fold(state: Snapshot | None, snapshot: Snapshot) -> Snapshot:
    """The state after `snapshot`, given the state before it (None: nothing yet).

    The result's `changed` holds every open connection and `closed` is empty: a
    fresh consumer applying it sees exactly what the live one saw at that moment.
    """
    if state is None:
        changed = dict(snapshot.changed)
    elif not snapshot.changed and not snapshot.closed:  # idle: the same clients, not copied
        return replace(snapshot, changed=state.changed, closed=frozenset())
    else:
        changed = {k: v for k, v in state.changed.items() if k not in snapshot.closed}
        changed.update(snapshot.changed)
    return replace(snapshot, changed=MappingProxyType(changed), closed=frozenset())


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive records: their times, and their lines compressed."""

    start: int  # the index of its first record
    times: array[float]  # each record's `t`, in play order
    data: bytes  # the lines, joined by newlines, compressed


@dataclass(frozen=True, slots=True)
class Keyframe:
    """What a seek needs of the records before `index`, as compressed lines.

    The last engine error, the last LOG_AFTER_SEEK events (for the log) and the
    state folded up to there: replayed, they give what those records give.
    """

    index: int
    data: bytes


def compress(lines: list[str]) -> bytes:
    return zlib.compress("\n".join(lines).encode(), COMPRESS_LEVEL)


def in_time_order(
    records: Iterable[tuple[Record, str]], window: float = REORDER_SECONDS
) -> Iterator[tuple[Record, str]]:
    """The records sorted by `t` (stable), holding only the last `window` seconds of them.

    A drain writes its events before its snapshot, which may be a tick older.
    A record more than `window` older than one before it is played where it was
    read, at the time of the record played before it.
    """
    played = -math.inf
    for t, _, record, line in _sorted(records, window):
        if t < played:
            record = Record(played, record.item)
        played = record.t
        yield record, line


def _sorted(
    records: Iterable[tuple[Record, str]], window: float
) -> Iterator[tuple[float, int, Record, str]]:
    pending: list[tuple[float, int, Record, str]] = []
    newest = -math.inf
    for number, (record, line) in enumerate(records):
        heapq.heappush(pending, (record.t, number, record, line))
        newest = max(newest, record.t)
        while pending[0][0] < newest - window:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


class Timeline:
    """A recording read through once: its header, duration and records, for playback."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        block_bytes: int = BLOCK_BYTES,
        keyframe_every: float = KEYFRAME_EVERY,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """Read `path` (RecordingError when it is not a recording this version reads).

        `progress`, if given, is called with the share of the file read (0 to 1)
        each time a block is complete: reading an hour of busy clients takes seconds.
        """
        self.path = path
        reading = open_recording(path)
        self.header = reading.header
        self.blocks: list[Block] = []
        self.keyframes: list[Keyframe] = []
        self.kinds: dict[str, str] = {}  # --demo: peer -> what the client does (ClientKind)
        self._decoded: dict[int, list[Record]] = {}  # block number: its records
        block_done = (lambda: progress(reading.fraction_read())) if progress else lambda: None
        self._read(in_time_order(reading.records), block_bytes, keyframe_every, block_done)
        self.warning = reading.warning
        last = self.blocks[-1] if self.blocks else None
        self.count = last.start + len(last.times) if last else 0
        self.duration = last.times[-1] if last else 0.0

    def _read(
        self,
        records: Iterable[tuple[Record, str]],
        block_bytes: int,
        keyframe_every: float,
        block_done: Callable[[], None],
    ) -> None:
        """Compress the records into blocks, folding them for keyframes on the way."""
        lines: list[str] = []
        times = array("d")
        size = 0  # characters in `lines`
        state: Snapshot | None = None
        events: deque[str] = deque(maxlen=LOG_AFTER_SEEK)
        error: list[str] = []  # the line of the last engine error
        since_keyframe = keyframe_size = 0  # characters of records since it, and its own
        keyframe_at = 0.0
        start = 0  # the index of the first record in `lines`
        for index, (record, line) in enumerate(records):
            if record.t - keyframe_at >= keyframe_every and since_keyframe >= keyframe_size:
                folded = [record_line(record.t, state)] if state else []
                keyframe = [*error, *events, *folded]
                self.keyframes.append(Keyframe(index, compress(keyframe)))
                keyframe_at, since_keyframe = record.t, 0
                keyframe_size = sum(map(len, keyframe))
            match record.item:
                case Snapshot() as snapshot:
                    state = fold(state, snapshot)
                case EngineError():
                    error[:] = [line]
                case ClientKind(peer=peer, kind=kind):
                    self.kinds[peer] = kind
                case str():  # a note of the recorder's
                    pass
                case _:
                    events.append(line)
            lines.append(line)
            times.append(record.t)
            size += len(line)
            since_keyframe += len(line)
            if size >= block_bytes:
                self.blocks.append(Block(start, times, compress(lines)))
                lines, times, size, start = [], array("d"), 0, index + 1
                block_done()
        if lines:
            self.blocks.append(Block(start, times, compress(lines)))

    def index_at(self, position: float) -> int:
        """How many records lie at or before `position` seconds."""
        number = bisect_right(self.blocks, position, key=lambda block: block.times[0])
        if number == 0:
            return 0
        block = self.blocks[number - 1]
        return block.start + bisect_right(block.times, position)

    def records(self, start: int = 0, end: int | None = None) -> Iterator[Record]:
        """The records from index `start` up to `end` (the last), decoding a block at a time."""
        end = self.count if end is None else min(end, self.count)
        number = bisect_right(self.blocks, start, key=attrgetter("start")) - 1
        while start < end:
            block = self.blocks[number]
            yield from self._block(number)[start - block.start : end - block.start]
            start, number = block.start + len(block.times), number + 1

    def keyframe(self, index: int) -> tuple[int, list[Record]]:
        """The last keyframe at or before record `index`: where it is, and its records."""
        number = bisect_right(self.keyframes, index, key=attrgetter("index"))
        if number == 0:
            return 0, []
        keyframe = self.keyframes[number - 1]
        return keyframe.index, self._parse(keyframe.data)

    def _block(self, number: int) -> list[Record]:
        records = self._decoded.get(number)
        if records is None:
            if len(self._decoded) >= CACHED_BLOCKS:
                del self._decoded[next(iter(self._decoded))]  # the oldest
            block = self.blocks[number]
            records = [  # at the time it plays (see in_time_order)
                record if record.t == t else Record(t, record.item)
                for t, record in zip(block.times, self._parse(block.data), strict=True)
            ]
            self._decoded[number] = records
        return records

    def _parse(self, data: bytes) -> list[Record]:
        text = zlib.decompress(data).decode()
        fields = self.header.connection_fields
        return [parse_line(line, fields) for line in text.split("\n")] if text else []
