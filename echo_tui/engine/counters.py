"""The engine's cumulative counters, in one place: cheap to add to, read at snapshot time."""

from __future__ import annotations

import time
from collections import Counter
from operator import add, mul, sub

from echo_tui.engine.connection import COUNTS, Connection
from echo_tui.engine.events import HISTOGRAM_BUCKETS, LoopStats

# select() results counted in a list by size; larger ones (rare) in a Counter.
EXACT_BATCHES = 1 << (HISTOGRAM_BUCKETS - 2)  # the open bucket's lower bound


class Counters:
    """What the loop and its connections counted, and the LoopStats and totals it adds up to.

    Per select() the loop adds one to `batches[len(ready)]`: selects, events, empty
    selects, the largest batch and the histogram all follow from the batch sizes.
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
        "large",
        "traffic",
        "wakeup_events",
    )

    def __init__(self) -> None:
        self.batches = [0] * EXACT_BATCHES  # batches[n]: selects that returned n events
        self.large: Counter[int] = Counter()  # the same for n >= EXACT_BATCHES
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
        self.large[count] += 1

    def uncount_tick(self, count: int) -> None:
        """Recount a select() of `count` events, one of them the ticker's, as one of `count - 1`.

        The ticker stands in for select()'s timeout: a select() it alone woke counts
        as one that timed out, and its event is not counted.
        """
        if count < EXACT_BATCHES:
            self.batches[count] -= 1
        else:
            self.large[count] -= 1
            if not self.large[count]:
                del self.large[count]
        if count - 1 < EXACT_BATCHES:
            self.batches[count - 1] += 1
        else:
            self.large[count - 1] += 1

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
        batches, large = self.batches, self.large
        # Bucket b >= 1 counts the batches of 2**(b-1) to 2**b - 1 events; the last, the large.
        histogram = [batches[0]]
        histogram += (sum(batches[1 << (b - 1) : 1 << b]) for b in range(1, HISTOGRAM_BUCKETS - 1))
        histogram.append(sum(large.values()))
        size = 1 << max((b for b, selects in enumerate(histogram) if selects), default=0)
        used = batches[: min(size, EXACT_BATCHES)]  # every batch size seen is below `size`
        largest = max(large, default=0) or max(
            (n for n, selects in enumerate(used) if selects), default=0
        )
        busy = time.thread_time() - self._cpu_origin
        return LoopStats(
            selects=sum(histogram),
            events=sum(map(mul, used, range(len(used)))) + sum(n * s for n, s in large.items()),
            read_events=self.total("read_ready"),
            write_events=self.total("write_ready"),
            accept_events=self.accept_events,
            wakeup_events=self.wakeup_events,
            empty_selects=batches[0],
            max_batch=largest,
            histogram=tuple(histogram),
            busy_seconds=busy,
            wait_seconds=max(0.0, now - self._wall_origin - busy),
        )
