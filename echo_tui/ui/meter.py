"""Rates of cumulative counters over a sliding window (the select() panel's last second)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class Meter:
    """Feed it (monotonic time, cumulative counters); read rates and deltas over the window."""

    def __init__(self, size: int, window: float = 1.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, tuple[float, ...]]] = deque()
        self.rates: tuple[float, ...] = (0.0,) * size
        self.deltas: tuple[float, ...] = (0.0,) * size

    def add(self, now: float, counters: Sequence[float]) -> None:
        """Record cumulative `counters` at `now`; update rates and deltas."""
        sample = (now, tuple(counters))
        samples = self._samples
        samples.append(sample)
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()
        then, old = samples[0]
        span = now - then
        self.deltas = tuple(new - before for new, before in zip(sample[1], old, strict=True))
        if span > 0:
            self.rates = tuple(delta / span for delta in self.deltas)
