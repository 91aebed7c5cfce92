"""What select() is doing: calls/s, events/s, events per call, the histogram, the split.

Rates and the histogram cover the last second, so the panel follows load as it
changes; `avg` and `max` are since start.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from echo_tui.engine.events import HISTOGRAM_BUCKETS, LoopStats, Snapshot, histogram_label
from echo_tui.ui.meter import Meter
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_count

SELECTS, EVENTS, ACCEPTS, READS, WRITES, WAKEUPS, EMPTY, BUSY, WAIT = range(9)
HIST = 9  # first histogram bucket in the meter
BAR_WIDTH = 14
MIN_BUCKETS = 4  # always show 0, 1, 2-3, 4-7 so the chart does not jump about


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


def render_stats(
    loop: LoopStats, selector: str, rates: tuple[float, ...], deltas: tuple[float, ...]
) -> Text:
    """The numbers, as plain Text (rates and shares over the last second)."""
    busy, wait = deltas[BUSY], deltas[WAIT]
    utilization = busy / (busy + wait) if busy + wait > 0 else 0.0
    now = deltas[EVENTS] / deltas[SELECTS] if deltas[SELECTS] else 0.0
    avg = loop.events / loop.selects if loop.selects else 0.0
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
    text.append(f" avg {avg:.1f} max {loop.max_batch}")
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

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.meter = Meter(HIST + HISTOGRAM_BUCKETS)
        self.stats = LiveText(id="select-stats")
        self.mini_histogram = LiveText(id="select-mini")
        self.histogram = LiveText(id="select-histogram")

    def compose(self) -> ComposeResult:
        with Vertical(id="select-left"):
            yield self.stats
            yield self.mini_histogram
        yield self.histogram

    def show_snapshot(self, snapshot: Snapshot) -> None:
        meter = self.meter
        meter.add(snapshot.monotonic, loop_counters(snapshot.loop))
        self.stats.show(render_stats(snapshot.loop, snapshot.selector, meter.rates, meter.deltas))
        self.mini_histogram.show(render_mini_histogram(meter.deltas))
        self.histogram.show(render_histogram(meter.deltas))
