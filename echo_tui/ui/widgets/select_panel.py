"""What select() is doing: calls/s, events/s, events per call, the wake-ups by cause, the
loop's health (iteration time, loop delay), and two histograms: events per call and
iteration time.

Rates, shares and the histograms cover the last second, so the panel follows load as it
changes, and it is drawn again once a second (or at a selector switch): more often
would only repaint a dozen lines a tick to show a window that moved a fraction.
`avg` and `max` cover the current selector's period: since start, or since the
last live switch (the bottom edge says which).  After a switch, two more lines
compare the previous selector's period with the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from echo_tui.engine.events import (
    DURATION_BUCKETS,
    HISTOGRAM_BUCKETS,
    LoopStats,
    Snapshot,
    duration_bound,
    duration_quantile,
    histogram_label,
)
from echo_tui.ui.meter import Meter
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_count, format_duration, format_latency

SELECTS, EVENTS, ACCEPTS, READS, WRITES, WAKEUPS, HOUSEKEEPING, BUSY, WAIT = range(9)
HIST = 9  # first events-per-select bucket in the meter
ITERATIONS = HIST + HISTOGRAM_BUCKETS  # first iteration-time bucket
DELAYS = ITERATIONS + DURATION_BUCKETS  # first loop-delay bucket
COUNTERS = DELAYS + DURATION_BUCKETS
BAR_WIDTH = 8
MIN_BUCKETS = 4  # always show 0, 1, 2-3, 4-7 so the chart does not jump about
DURATION_LINES = 8  # iteration-time buckets shown at most (the panel's height)
REDRAW_EVERY = 1.0  # seconds between draws: the figures cover the last second


def loop_counters(loop: LoopStats) -> tuple[float, ...]:
    """The cumulative counters the select meter follows, in meter order."""
    return (
        loop.selects,
        loop.events,
        loop.accept_events,
        loop.read_events,
        loop.write_events,
        loop.wakeup_events,
        loop.housekeeping_events,
        loop.busy_seconds,
        loop.wait_seconds,
        *loop.histogram,
        *loop.iterations,
        *loop.loop_delays,
    )


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells, `fraction` (0..1) of it filled, in eighths."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return ("█" * full + partial).ljust(width, "·")


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


@dataclass(frozen=True, slots=True)
class Period:
    """The loop's work while one selector ran: counters between two LoopStats."""

    selector: str
    seconds: float
    selects: int
    events: int
    busy: float
    wait: float
    max_batch: str  # exact, or a bound ("≤7", the histogram) when the all-time max is older

    @classmethod
    def between(cls, selector: str, seconds: float, base: LoopStats, loop: LoopStats) -> Period:
        if loop.max_batch > base.max_batch:
            max_batch = str(loop.max_batch)
        else:
            pairs = zip(loop.histogram, base.histogram, strict=True)
            grown = [bucket for bucket, (now, then) in enumerate(pairs) if now > then]
            label = histogram_label(grown[-1]) if grown else "0"
            _, _, high = label.partition("-")  # "4-7": at most 7
            max_batch = f"≤{high}" if high else label
        return cls(
            selector,
            seconds,
            loop.selects - base.selects,
            loop.events - base.events,
            loop.busy_seconds - base.busy_seconds,
            loop.wait_seconds - base.wait_seconds,
            max_batch,
        )

    @property
    def per_select(self) -> float:
        return self.events / self.selects if self.selects else 0.0

    @property
    def utilization(self) -> float:
        spent = self.busy + self.wait
        return self.busy / spent if spent > 0 else 0.0


def render_periods(previous: Period, current: Period) -> Text:
    """Two lines: the selector before the last switch and the one since, side by side."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for period, style in ((previous, "dim"), (current, "bold")):
        name = period.selector.removesuffix("Selector") or period.selector
        text.append(f"{name:<8}{format_duration(period.seconds):>6}", style)
        text.append("  busy ", "dim")
        text.append(f"{100 * period.utilization:3.0f}%")
        text.append(f"  {period.per_select:.1f}", "bold")
        text.append("/select\n" if period is previous else "/select", "dim")
    return text


def render_stats(
    period: Period,
    selector: str,
    rates: tuple[float, ...],
    deltas: tuple[float, ...],
    maxima: tuple[float, float],
) -> Text:
    """The numbers, as plain Text (rates and shares over the last second; avg, max: `period`;
    `maxima`: the longest iteration and loop delay since start, which bound the last second's)."""
    busy, wait = deltas[BUSY], deltas[WAIT]
    utilization = busy / (busy + wait) if busy + wait > 0 else 0.0
    now = deltas[EVENTS] / deltas[SELECTS] if deltas[SELECTS] else 0.0
    events = deltas[EVENTS]
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(selector, "bold magenta")
    text.append("  busy ", "dim")
    text.append(f"{100 * utilization:3.0f}% ", "bold")
    text.append(bar(utilization, 10), "magenta")
    text.append("\nselect()/s ", "dim")
    text.append(f"{format_count(rates[SELECTS]):>6}", "bold")
    text.append("  events/s ", "dim")
    text.append(f"{format_count(rates[EVENTS]):>6}", "bold")
    text.append("\nper select ", "dim")
    text.append(f"now {now:.1f}", "bold")
    text.append(f" avg {period.per_select:.1f} max {period.max_batch}")
    text.append("\nread ", "green")
    text.append(f"{_pct(deltas[READS], events):>4}")
    text.append("  write ", "cyan")
    text.append(f"{_pct(deltas[WRITES], events):>4}")
    text.append("  accept ", "yellow")
    text.append(f"{_pct(deltas[ACCEPTS], events):>4}")
    text.append("\ncommand ", "magenta")
    text.append(f"{_pct(deltas[WAKEUPS], events):>4}")
    text.append("  housekeeping ", "dim")
    text.append(f"{_pct(deltas[HOUSEKEEPING], events):>4}")
    iterations = deltas[ITERATIONS:DELAYS]
    text.append("\niter ", "dim")
    for label, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        text.append(f"{label} " if label == "p50" else f" {label} ")
        text.append(format_latency(duration_quantile(iterations, share, maxima[0])), "bold")
    delays = deltas[DELAYS:COUNTERS]
    text.append("\nloop delay ", "dim")
    for label, share in (("p99", 0.99), ("max", 1.0)):
        text.append(f"{label} " if label == "p99" else f" {label} ")
        text.append(format_latency(duration_quantile(delays, share, maxima[1])), "bold")
    return text


def render_mini_histogram(deltas: tuple[float, ...]) -> Text:
    """The histogram on one line, for narrow screens: "0▇ 1▅ 2▂ 4▁"."""
    counts = deltas[HIST:ITERATIONS]
    peak = max(counts) or 1
    highest = max((i for i, count in enumerate(counts) if count), default=0)
    text = Text("hist ", "dim", no_wrap=True, overflow="ellipsis", end="")
    for bucket in range(max(highest + 1, MIN_BUCKETS)):
        level = round(7 * counts[bucket] / peak)
        text.append(histogram_label(bucket).split("-")[0])
        text.append("·▁▂▃▄▅▆▇█"[level + (1 if counts[bucket] else 0)] + " ", "green")
    return text


def render_histogram(deltas: tuple[float, ...]) -> Text:
    """Bars of events per select() over the last second."""
    counts = deltas[HIST:ITERATIONS]
    highest = max((i for i, count in enumerate(counts) if count), default=0)
    buckets = range(max(highest + 1, MIN_BUCKETS))
    labels = [histogram_label(bucket) for bucket in buckets]
    return _bars("events/select", labels, [counts[bucket] for bucket in buckets], "green")


def render_iterations(deltas: tuple[float, ...]) -> Text:
    """Bars of iteration time over the last second (the timed iterations) by duration, the
    longest always shown: the shortest buckets are lumped into the first when they would
    not fit (its label, "at most", stays true)."""
    counts = deltas[ITERATIONS:DELAYS]
    seen = [bucket for bucket, count in enumerate(counts) if count] or [0]
    first = max(seen[0], seen[-1] + 1 - DURATION_LINES)
    buckets = range(first, max(seen[-1] + 1, first + MIN_BUCKETS))
    shown = [counts[bucket] for bucket in buckets]
    shown[0] += sum(counts[:first])
    labels = [f"≤{format_latency(duration_bound(bucket))}" for bucket in buckets]
    return _bars("iteration", labels, shown, "magenta")


def _bars(title: str, labels: list[str], counts: list[float], style: str) -> Text:
    """A titled histogram: a line per bucket, its label, a bar (to the peak) and its share."""
    total, peak = sum(counts), max(counts, default=0) or 1
    text = Text(title, "dim", no_wrap=True, overflow="ellipsis", end="")
    for label, count in zip(labels, counts, strict=True):
        text.append(f"\n{label:>6} ")
        text.append(bar(count / peak, BAR_WIDTH), style if count else "dim")
        text.append(f" {_pct(count, total):>4}")
    return text


class SelectPanel(Horizontal):
    """Select-loop statistics next to (or, when narrow, above) the events-per-select chart."""

    BORDER_TITLE = "select()"

    BORDER_SUBTITLE = "avg, max: since start"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.meter = Meter(COUNTERS)
        self.stats = LiveText(id="select-stats")
        self.periods = LiveText(id="select-periods")
        self.mini_histogram = LiveText(id="select-mini")
        self.histogram = LiveText(id="select-histogram")
        self.iterations = LiveText(id="select-iterations")
        self._last: Snapshot | None = None
        self._period_base = LoopStats()  # the counters when the current selector took over
        self._period_began: float | None = None  # wall clock then
        self._previous: Period | None = None  # the selector before the last switch
        self._inputs: dict[str | None, object] = {}  # what each text was last built from
        self._drawn_at = float("-inf")  # snapshot monotonic time of the last draw

    def reset(self) -> None:
        """Start over, as at the first snapshot (a replay seeked)."""
        self.meter = Meter(COUNTERS)
        self._last = self._previous = None
        self._period_base, self._period_began = LoopStats(), None
        self._inputs.clear()
        self._drawn_at = float("-inf")
        self.border_subtitle = self.BORDER_SUBTITLE
        self.periods.remove_class("shown")

    def compose(self) -> ComposeResult:
        with Vertical(id="select-left"):
            yield self.stats
            yield self.periods
            yield self.mini_histogram
        yield self.histogram
        yield self.iterations

    def show_snapshot(self, snapshot: Snapshot) -> None:
        last = self._last
        switched = last is not None and last.selector != snapshot.selector
        if last is None:
            self._period_began = snapshot.started_at
        elif switched:  # a new period starts
            self._previous = self._period(last)
            self._period_base, self._period_began = last.loop, last.at
            self.border_subtitle = "avg, max: since the switch"
            self.periods.add_class("shown")
        self._last = snapshot
        meter = self.meter
        meter.add(snapshot.monotonic, loop_counters(snapshot.loop))
        if not switched and snapshot.monotonic - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = snapshot.monotonic
        period = self._period(snapshot)
        maxima = (snapshot.loop.iteration_max, snapshot.loop.loop_delay_max)
        stats = (period, snapshot.selector, meter.rates, meter.deltas, maxima)
        self._show(self.stats, render_stats, *stats)
        if self._previous is not None:
            self._show(self.periods, render_periods, self._previous, period)
        counts = meter.deltas[HIST:ITERATIONS]  # what the events histograms show
        self._show(self.mini_histogram, render_mini_histogram, meter.deltas, key=counts)
        self._show(self.histogram, render_histogram, meter.deltas, key=counts)
        iterations = meter.deltas[ITERATIONS:DELAYS]
        self._show(self.iterations, render_iterations, meter.deltas, key=iterations)

    def _show(
        self, text: LiveText, render: Callable[..., Text], *args: Any, key: object = None
    ) -> None:
        """Show `render(*args)` in `text`, building the Text only if its numbers (`key`) changed."""
        key = args if key is None else key
        if self._inputs.get(text.id) != key:
            self._inputs[text.id] = key
            text.show(render(*args))

    def _period(self, snapshot: Snapshot) -> Period:
        """The current selector's period, up to `snapshot`."""
        seconds = snapshot.at - (self._period_began or snapshot.started_at)
        return Period.between(snapshot.selector, seconds, self._period_base, snapshot.loop)
