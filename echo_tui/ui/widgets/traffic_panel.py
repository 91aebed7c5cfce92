"""Traffic: bytes/s in and out, messages/s, sparklines of the last minute, totals and peaks."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Sparkline

from echo_tui.engine.events import Snapshot, Totals
from echo_tui.ui.meter import Meter
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_bytes, format_count, format_rate

BYTES_IN, BYTES_OUT, MSGS_IN, MSGS_OUT = range(4)


def traffic_counters(snapshot: Snapshot) -> tuple[int, ...]:
    """The cumulative counters the traffic meter follows, in meter order."""
    t = snapshot.totals
    return (t.bytes_in, t.bytes_out, t.msgs_in, t.msgs_out)


class TrafficPanel(Vertical):
    """Rates over the last second, per-second sparklines, totals since start."""

    BORDER_TITLE = "Traffic"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.meter = Meter(4)
        self.rate_in = LiveText(id="traffic-in")
        self.spark_in = Sparkline([], id="spark-in", classes="spark")
        self.rate_out = LiveText(id="traffic-out")
        self.spark_out = Sparkline([], id="spark-out", classes="spark")
        self.peak = LiveText(id="traffic-peak")
        self.totals = TotalsLine(id="traffic-totals")

    def compose(self) -> ComposeResult:
        yield self.rate_in
        yield self.spark_in
        yield self.rate_out
        yield self.spark_out
        yield self.peak
        yield self.totals

    def show_snapshot(self, snapshot: Snapshot) -> None:
        meter = self.meter
        meter.add(snapshot.monotonic, traffic_counters(snapshot))
        rates, peaks = meter.rates, meter.peaks
        self.rate_in.show(_rate_line("in ", rates[BYTES_IN], rates[MSGS_IN], "green"))
        self.rate_out.show(_rate_line("out", rates[BYTES_OUT], rates[MSGS_OUT], "cyan"))
        self.spark_in.data = list(meter.history[BYTES_IN])
        self.spark_out.data = list(meter.history[BYTES_OUT])
        peak = Text("peak ", "dim", no_wrap=True, overflow="ellipsis", end="")
        peak.append(f"in {format_rate(peaks[BYTES_IN])} out {format_rate(peaks[BYTES_OUT])}")
        self.peak.show(peak)
        self.totals.show(snapshot.totals)


class TotalsLine(Widget):
    """Totals since start and bytes buffered now, worded to fit the width it is given."""

    DEFAULT_CSS = "TotalsLine { height: 1; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.totals = Totals()

    def show(self, totals: Totals) -> None:
        if totals != self.totals:
            self.totals = totals
            self.refresh()

    def render(self) -> Text:
        return _totals_line(self.totals, self.size.width)


def _totals_line(totals: Totals, width: int) -> Text:
    """The longest wording of `totals` that fits `width` cells."""
    bytes_in, bytes_out = format_bytes(totals.bytes_in), format_bytes(totals.bytes_out)
    buffered = format_bytes(totals.pending) if totals.pending else ""
    wordings = [
        ("total ", f"in {bytes_in}  out {bytes_out}", f"  buffered {buffered}"),
        ("total ", f"in {bytes_in} out {bytes_out}", f" buf {buffered}"),
        ("", f"in {bytes_in} out {bytes_out}", f" buf {buffered}"),
        ("", f"in {bytes_in} out {bytes_out}", ""),
    ]
    for label, amounts, pending in wordings:
        if len(label) + len(amounts) + (len(pending) if buffered else 0) <= width:
            break
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(label, "dim")
    line.append(amounts)
    if buffered and pending:
        line.append(pending, "yellow")
    return line


def _rate_line(label: str, rate: float, msgs: float, style: str) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{label}  ", "bold " + style)
    line.append(f"{format_rate(rate):>12}", "bold")
    line.append(f"  {format_count(msgs):>5} msg/s")
    return line
