"""The engine's cumulative counters, in one place: cheap to add to, read at snapshot time."""

from __future__ import annotations

from collections import Counter
from operator import add, mul, sub

from echo_tui.engine.connection import COUNTS, Connection
from echo_tui.engine.events import DURATION_BUCKETS, HISTOGRAM_BUCKETS, LoopStats

# select() results counted in a list by size; larger ones (rare) in a Counter.
EXACT_BATCHES = 1 << (HISTOGRAM_BUCKETS - 2)  # the open bucket's lower bound
# Durations counted by their bit length in nanoseconds: any time.monotonic_ns() difference
# fits, so the loop indexes the list without a check.
DURATION_BITS = 64


class Counters:
    """What the loop and its connections counted, and the LoopStats and totals it adds up to.

    Per select() the loop adds one to `batches[len(ready)]`: selects, events, empty
    selects, the largest batch and the histogram all follow from the batch sizes.
    Per message only the connection counts (see Connection); `fold` adds what a
    connection counted since it was last folded, at snapshot time or when it closes.
    The loop times the select() calls of a window after each tick (see
    EchoEngine._loop): `timed` counts the iteration each ends (select() returning to
    this call) and its wait.  Busy share is the timed iterations' share of the timed
    time (exact while every call is timed).
    """

    WINDOW = 25  # select() calls timed after each tick: at most 250 a second at 10 ticks

    __slots__ = (
        "_busy_seconds",
        "_stats_at",
        "_timed_then",
        "_wall_origin",
        "accept_events",
        "batches",
        "busy_ns",
        "housekeeping_events",
        "iteration_max_ns",
        "iterations",
        "large",
        "loop_delay_max",
        "loop_delay_sum",
        "loop_delays",
        "traffic",
        "waited_ns",
        "wakeup_events",
    )

    def __init__(self) -> None:
        self.batches = [0] * EXACT_BATCHES  # batches[n]: selects that returned n events
        self.large: Counter[int] = Counter()  # the same for n >= EXACT_BATCHES
        self.accept_events = 0
        self.wakeup_events = 0
        self.housekeeping_events = 0
        self.traffic = [0] * len(COUNTS)  # summed Connection.counts(), in COUNTS order
        self.iterations = [0] * DURATION_BITS  # iterations[b]: iterations of b bits in ns
        self.busy_ns = self.waited_ns = self.iteration_max_ns = 0  # of the timed calls
        self.loop_delays = [0] * DURATION_BITS  # the same for housekeeping's lateness
        self.loop_delay_max = self.loop_delay_sum = 0.0
        self._wall_origin = self._stats_at = self._busy_seconds = 0.0
        self._timed_then = (0, 0)  # busy_ns, waited_ns at the last loop_stats

    def start(self, now: float) -> None:
        """Start the wall clock (time.monotonic()), as the loop starts."""
        self._wall_origin = self._stats_at = now

    def timed(self, spent: int, waited: int) -> None:
        """Count a timed iteration of `spent` ns (select() returning to the next call) and
        that next call's `waited` ns in select()."""
        self.iterations[spent.bit_length()] += 1
        self.busy_ns += spent
        self.waited_ns += waited
        if spent > self.iteration_max_ns:
            self.iteration_max_ns = spent

    def housekeeping_late(self, seconds: float) -> None:
        """Count housekeeping that ran `seconds` after the ticker was due."""
        late = max(0, round(seconds * 1e9))
        self.loop_delays[late.bit_length()] += 1
        self.loop_delay_max = max(self.loop_delay_max, late / 1e9)
        self.loop_delay_sum += late / 1e9

    def large_batch(self, count: int) -> None:
        """Count a select() that returned `count` >= EXACT_BATCHES events."""
        self.large[count] += 1

    def fold(self, conn: Connection) -> None:
        """Add to the totals what `conn` counted since it was last folded."""
        counts = conn.counts()
        self.traffic = list(map(add, self.traffic, map(sub, counts, conn.published)))
        conn.published = counts

    def total(self, name: str) -> int:
        """The sum over every connection ever folded of Connection.counts()'s `name`."""
        return self.traffic[COUNTS.index(name)]

    def loop_stats(self, now: float) -> LoopStats:
        """The loop's statistics so far (`now`: time.monotonic()); once per snapshot, as it
        moves the busy clock on."""
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
        busy = self._busy_until(now)
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
            housekeeping_events=self.housekeeping_events,
            iterations=duration_histogram(self.iterations),
            iteration_max=self.iteration_max_ns / 1e9,
            iteration_sum=self.busy_ns / 1e9,
            loop_delays=duration_histogram(self.loop_delays),
            loop_delay_max=self.loop_delay_max,
            loop_delay_sum=self.loop_delay_sum,
        )

    def _busy_until(self, now: float) -> float:
        """Seconds outside select() since start: each span between two calls here counts
        at the busy share of the calls timed in it, so the total never goes backwards."""
        busy, waited = self.busy_ns - self._timed_then[0], self.waited_ns - self._timed_then[1]
        if busy + waited:
            self._busy_seconds += (now - self._stats_at) * busy / (busy + waited)
        self._stats_at, self._timed_then = now, (self.busy_ns, self.waited_ns)
        return self._busy_seconds


def duration_histogram(counts: list[int]) -> tuple[int, ...]:
    """Counts by bit length folded into DURATION_BUCKETS buckets, the last open."""
    last = DURATION_BUCKETS - 1
    return (*counts[:last], sum(counts[last:]))
