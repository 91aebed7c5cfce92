"""The engine's cumulative counters, in one place: cheap to add to, read at snapshot time."""

from __future__ import annotations

import time
from operator import add, mul, sub

from echo_tui.engine.connection import COUNTS, Connection
from echo_tui.engine.events import HISTOGRAM_BUCKETS, LoopStats

# select() results counted exactly by size; larger ones fall in the histogram's open bucket.
EXACT_BATCHES = 1 << (HISTOGRAM_BUCKETS - 1)


class Counters:
    """What the loop and its connections counted, and the LoopStats and totals it adds up to.

    Per select() the loop adds one to `batches[len(ready)]`: selects, events, empty
    selects, the largest batch and the histogram all follow from that one list.
    Per message only the connection counts (see Connection); `fold` adds what a
    connection counted since it was last folded, at snapshot time or when it closes.
    Busy time is the engine thread's CPU time, read once per snapshot; the rest of
    the wall time since the loop started is waiting.
    """

    __slots__ = (
        "_cpu_origin",
        "_wall_origin",
        "accept_events",
        "batches",
        "large_events",
        "large_max",
        "large_selects",
        "traffic",
        "wakeup_events",
    )

    def __init__(self) -> None:
        self.batches = [0] * EXACT_BATCHES  # batches[n]: selects that returned n events
        self.large_selects = self.large_events = self.large_max = 0  # n >= EXACT_BATCHES
        self.accept_events = 0
        self.wakeup_events = 0
        self.traffic = [0] * len(COUNTS)  # summed Connection.counts(), in COUNTS order
        self._cpu_origin = self._wall_origin = 0.0

    def start(self, now: float) -> None:
        """Start the busy/wait clocks: call in the engine thread, as its loop starts."""
        self._cpu_origin = time.thread_time()
        self._wall_origin = now

    def large_batch(self, count: int) -> None:
        """Count a select() that returned `count` >= EXACT_BATCHES events."""
        self.large_selects += 1
        self.large_events += count
        self.large_max = max(self.large_max, count)

    def fold(self, conn: Connection) -> None:
        """Add to the totals what `conn` counted since it was last folded."""
        counts = conn.counts()
        self.traffic = list(map(add, self.traffic, map(sub, counts, conn.published)))
        conn.published = counts

    def total(self, name: str) -> int:
        """The sum over every connection ever folded of Connection.counts()'s `name`."""
        return self.traffic[COUNTS.index(name)]

    def loop_stats(self, now: float) -> LoopStats:
        """The loop's statistics so far; call in the engine thread (it reads its CPU clock)."""
        batches = self.batches
        histogram = [0] * HISTOGRAM_BUCKETS
        for count, selects in enumerate(batches):
            if selects:
                histogram[count.bit_length()] += selects
        histogram[-1] += self.large_selects
        largest = next((n for n in range(EXACT_BATCHES - 1, 0, -1) if batches[n]), 0)
        busy = time.thread_time() - self._cpu_origin
        return LoopStats(
            selects=sum(batches) + self.large_selects,
            events=sum(map(mul, batches, range(EXACT_BATCHES))) + self.large_events,
            read_events=self.total("read_ready"),
            write_events=self.total("write_ready"),
            accept_events=self.accept_events,
            wakeup_events=self.wakeup_events,
            empty_selects=batches[0],
            max_batch=self.large_max or largest,
            histogram=tuple(histogram),
            busy_seconds=busy,
            wait_seconds=max(0.0, now - self._wall_origin - busy),
        )
