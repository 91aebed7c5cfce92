"""Traffic: bytes/s in and out, recv()/send() calls per second, the last minute, totals, peaks.

The rates are the client model's, measured over the same window as the clients
table's In/s and Out/s, so the panel and the rows agree.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Sparkline

from echo_tui.engine.events import Totals
from echo_tui.ui.model import BYTES_IN, BYTES_OUT, RECVS, SENDS
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_bytes, format_count, format_rate

HISTORY = 60  # rate windows (about a second each) in the sparklines


class TrafficPanel(Vertical):
    """Rates over the last window (about a second), a sparkline of the last minute, totals."""

    BORDER_TITLE = "Traffic"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history = (deque[float](maxlen=HISTORY), deque[float](maxlen=HISTORY))
        self.peaks = [0.0, 0.0]
        self.rate_in = LiveText(_rate_line("in ", 0, 0, "recv", "green"), id="traffic-in")
        self.spark_in = Sparkline([], id="spark-in", classes="spark")
        self.rate_out = LiveText(_rate_line("out", 0, 0, "send", "cyan"), id="traffic-out")
        self.spark_out = Sparkline([], id="spark-out", classes="spark")
        self.peak = LiveText(id="traffic-peak")
        self.totals = TotalsLine(id="traffic-totals")

    def reset(self) -> None:
        """Forget the history and peaks (a replay seeked); rates show at the next window."""
        for history in self.history:
            history.clear()
        self.peaks = [0.0, 0.0]

    def compose(self) -> ComposeResult:
        yield self.rate_in
        yield self.spark_in
        yield self.rate_out
        yield self.spark_out
        yield self.peak
        yield self.totals

    def show(self, totals: Totals, rates: tuple[float, ...], window_closed: bool) -> None:
        """Show `totals`; when a rate window just closed, its `rates` (see model.py)."""
        self.totals.show(totals)
        if not window_closed:
            return
        self.rate_in.show(_rate_line("in ", rates[BYTES_IN], rates[RECVS], "recv", "green"))
        self.rate_out.show(_rate_line("out", rates[BYTES_OUT], rates[SENDS], "send", "cyan"))
        peaks = self.peaks
        for series, history, spark in zip(
            (BYTES_IN, BYTES_OUT), self.history, (self.spark_in, self.spark_out), strict=True
        ):
            history.append(rates[series])
            peaks[series] = max(peaks[series], rates[series])
            spark.data = list(history)
        peak = Text("peak ", "dim", no_wrap=True, overflow="ellipsis", end="")
        peak.append(f"in {format_rate(peaks[BYTES_IN])} out {format_rate(peaks[BYTES_OUT])}")
        self.peak.show(peak)


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


def _rate_line(label: str, rate: float, calls: float, call: str, style: str) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{label}  ", "bold " + style)
    line.append(f"{format_rate(rate):>12}", "bold")
    line.append(f"  {format_count(calls):>5} {call}/s")
    return line
