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
    The loop times some select() calls (see EchoEngine._loop and sample_every): for
    each, `iteration` counts the iteration it ends (select() returning to this call)
    and `waited_ns` adds how long it blocked.  Busy share is the timed iterations'
    share of the timed time (exact while every call is timed).
    """

    TIMED_PER_SECOND = 250  # calls timed a second, at most about (then one in `every`)

    __slots__ = (
        "_selects_then",
        "_then",
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
        self._wall_origin = self._then = 0.0
        self._selects_then = 0

    def start(self, now: float) -> None:
        """Start the wall clock (time.monotonic()), as the loop starts."""
        self._wall_origin = self._then = now

    def iteration(self, spent: int) -> None:
        """Count a timed iteration of `spent` ns (select() returning to the next call)."""
        self.iterations[spent.bit_length()] += 1
        self.busy_ns += spent
        if spent > self.iteration_max_ns:
            self.iteration_max_ns = spent

    def sample_every(self, now: float) -> int:
        """How many select() calls for one timed, from the rate since the last call here:
        1 below TIMED_PER_SECOND calls a second, more above it."""
        selects = self.selects()
        rate = (selects - self._selects_then) / max(now - self._then, 1e-3)
        self._selects_then, self._then = selects, now
        return max(1, int(rate // self.TIMED_PER_SECOND))

    def selects(self) -> int:
        """select() calls so far."""
        return sum(self.batches) + sum(self.large.values())

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
        """The loop's statistics so far (`now`: time.monotonic()), as of the last tick's copy."""
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
        timed = self.busy_ns + self.waited_ns
        busy = (now - self._wall_origin) * self.busy_ns / timed if timed else 0.0
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


def duration_histogram(counts: list[int]) -> tuple[int, ...]:
    """Counts by bit length folded into DURATION_BUCKETS buckets, the last open."""
    last = DURATION_BUCKETS - 1
    return (*counts[:last], sum(counts[last:]))
