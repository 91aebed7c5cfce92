"""What select() is doing: calls/s, events/s, events per call, the histogram, the split.

Rates and the histogram cover the last second, so the panel follows load as it
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

from echo_tui.engine.events import HISTOGRAM_BUCKETS, LoopStats, Snapshot, histogram_label
from echo_tui.ui.meter import Meter
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_count, format_duration

SELECTS, EVENTS, ACCEPTS, READS, WRITES, WAKEUPS, EMPTY, BUSY, WAIT = range(9)
HIST = 9  # first histogram bucket in the meter
BAR_WIDTH = 14
MIN_BUCKETS = 4  # always show 0, 1, 2-3, 4-7 so the chart does not jump about
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
        loop.empty_selects,
        loop.busy_seconds,
        loop.wait_seconds,
        *loop.histogram,
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
    period: Period, selector: str, rates: tuple[float, ...], deltas: tuple[float, ...]
) -> Text:
    """The numbers, as plain Text (rates and shares over the last second; avg, max: `period`)."""
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
    text.append("\naccept ", "yellow")
    text.append(f"{_pct(deltas[ACCEPTS], events):>4}")
    text.append("  read ", "green")
    text.append(f"{_pct(deltas[READS], events):>4}")
    text.append("  write ", "cyan")
    text.append(f"{_pct(deltas[WRITES], events):>4}")
    text.append("\nwake-up", "magenta")
    text.append(f"{_pct(deltas[WAKEUPS], events):>4}")
    text.append("  empty selects ", "dim")
    text.append(f"{format_count(rates[EMPTY])}/s")
    return text


def render_mini_histogram(deltas: tuple[float, ...]) -> Text:
    """The histogram on one line, for narrow screens: "0▇ 1▅ 2▂ 4▁"."""
    counts = deltas[HIST : HIST + HISTOGRAM_BUCKETS]
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
    counts = deltas[HIST : HIST + HISTOGRAM_BUCKETS]
    total = sum(counts)
    highest = max((i for i, count in enumerate(counts) if count), default=0)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append("events per select(), last second", "dim")
    peak = max(counts) or 1
    for bucket in range(max(highest + 1, MIN_BUCKETS)):
        count = counts[bucket]
        text.append(f"\n{histogram_label(bucket):>6} ")
        text.append(bar(count / peak, BAR_WIDTH), "green" if bucket else "dim")
        text.append(f" {_pct(count, total):>4}")
    return text


class SelectPanel(Horizontal):
    """Select-loop statistics next to (or, when narrow, above) the events-per-select chart."""

    BORDER_TITLE = "select()"

    BORDER_SUBTITLE = "avg, max: since start"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.meter = Meter(HIST + HISTOGRAM_BUCKETS)
        self.stats = LiveText(id="select-stats")
        self.periods = LiveText(id="select-periods")
        self.mini_histogram = LiveText(id="select-mini")
        self.histogram = LiveText(id="select-histogram")
        self._last: Snapshot | None = None
        self._period_base = LoopStats()  # the counters when the current selector took over
        self._period_began: float | None = None  # wall clock then
        self._previous: Period | None = None  # the selector before the last switch
        self._inputs: dict[str | None, object] = {}  # what each text was last built from
        self._drawn_at = float("-inf")  # snapshot monotonic time of the last draw

    def reset(self) -> None:
        """Start over, as at the first snapshot (a replay seeked)."""
        self.meter = Meter(HIST + HISTOGRAM_BUCKETS)
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
        self._show(self.stats, render_stats, period, snapshot.selector, meter.rates, meter.deltas)
        if self._previous is not None:
            self._show(self.periods, render_periods, self._previous, period)
        counts = meter.deltas[HIST:]  # all the histograms show
        self._show(self.mini_histogram, render_mini_histogram, meter.deltas, key=counts)
        self._show(self.histogram, render_histogram, meter.deltas, key=counts)

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
