"""Rates of cumulative counters over a sliding window, and one sample a second for sparklines."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class Meter:
    """Feed it (monotonic time, cumulative counters); read rates and per-second history."""

    def __init__(self, size: int, window: float = 1.0, history: int = 60) -> None:
        self.window = window
        self._samples: deque[tuple[float, tuple[float, ...]]] = deque()
        self._mark: tuple[float, tuple[float, ...]] | None = None
        self.history: list[deque[float]] = [deque(maxlen=history) for _ in range(size)]
        self.rates: tuple[float, ...] = (0.0,) * size
        self.deltas: tuple[float, ...] = (0.0,) * size
        self.peaks: list[float] = [0.0] * size

    def add(self, now: float, counters: Sequence[float]) -> None:
        """Record cumulative `counters` at `now`; update rates, deltas, peaks and history."""
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
            self.peaks = [max(p, r) for p, r in zip(self.peaks, self.rates, strict=True)]
        if self._mark is None:
            self._mark = sample
        elif now - self._mark[0] >= 1.0:
            mark_time, mark = self._mark
            for series, new, before in zip(self.history, sample[1], mark, strict=True):
                series.append((new - before) / (now - mark_time))
            self._mark = sample
