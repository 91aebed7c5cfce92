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

from echo_tui.engine.events import Totals
from echo_tui.ui.model import BYTES_IN, BYTES_OUT, RECVS, SENDS
from echo_tui.ui.widgets.bars import Bars
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
        self.rate_in = LiveText(id="traffic-in")
        self.spark_in = Bars(id="spark-in", classes="spark")
        self.rate_out = LiveText(id="traffic-out")
        self.spark_out = Bars(id="spark-out", classes="spark")
        self.peak = LiveText(id="traffic-peak")
        self.totals = TotalsLine(id="traffic-totals")
        self._show_rates((0.0, 0.0, 0.0, 0.0))

    def reset(self) -> None:
        """Forget the rates, history and peaks, on screen too (a replay seeked: they
        belonged to another moment); the next window shows the rates again."""
        for history in self.history:
            history.clear()
        self.peaks = [0.0, 0.0]
        self._show_rates((0.0, 0.0, 0.0, 0.0))
        self.spark_in.show(())
        self.spark_out.show(())
        self.peak.show(Text())

    def compose(self) -> ComposeResult:
        yield self.rate_in
        yield self.spark_in
        yield self.rate_out
        yield self.spark_out
        yield self.peak
        yield self.totals

    def show(self, totals: Totals, rates: tuple[float, ...], window_closed: bool) -> None:
        """Show `totals`; when a rate window just closed, its `rates` (see model.py)."""
        self.totals.show_totals(totals)
        if not window_closed:
            return
        self._show_rates(rates)
        peaks = self.peaks
        for series, history, spark in zip(
            (BYTES_IN, BYTES_OUT), self.history, (self.spark_in, self.spark_out), strict=True
        ):
            history.append(rates[series])
            peaks[series] = max(peaks[series], rates[series])
            spark.show(history)
        peak = Text("peak ", "dim", no_wrap=True, overflow="ellipsis", end="")
        peak.append(f"in {format_rate(peaks[BYTES_IN])} out {format_rate(peaks[BYTES_OUT])}")
        self.peak.show(peak)

    def _show_rates(self, rates: tuple[float, ...]) -> None:
        self.rate_in.show(_rate_line("in ", rates[BYTES_IN], rates[RECVS], "recv", "green"))
        self.rate_out.show(_rate_line("out", rates[BYTES_OUT], rates[SENDS], "send", "cyan"))


class TotalsLine(LiveText):
    """Totals since start and bytes buffered now, shortened to fit the width it is given."""

    DEFAULT_CSS = "TotalsLine { height: 1; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.totals = Totals()

    def show_totals(self, totals: Totals) -> None:
        if totals != self.totals:
            self.totals = totals
            self.show(_totals_line(totals, self.size.width))

    def on_resize(self) -> None:
        self.show(_totals_line(self.totals, self.size.width))


def _totals_line(totals: Totals, width: int) -> Text:
    """`total in X  out Y  buffered Z`, shortened to fit `width` cells always the same way.

    Single spaces first, then the last parts left out (buffered, then out); never other words.
    """
    parts = [("total in ", format_bytes(totals.bytes_in)), ("out ", format_bytes(totals.bytes_out))]
    if totals.pending:
        parts.append(("buffered ", format_bytes(totals.pending)))
    for count in range(len(parts), 0, -1):
        for gap in ("  ", " "):
            if sum(len(a) + len(b) for a, b in parts[:count]) + len(gap) * (count - 1) <= width:
                return _assemble(parts[:count], gap)
    return _assemble(parts[:1], "")


def _assemble(parts: list[tuple[str, str]], gap: str) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    for index, (label, amount) in enumerate(parts):
        if index:
            line.append(gap)
        line.append(label, "dim")
        line.append(amount, "yellow" if label == "buffered " else "")
    return line


def _rate_line(label: str, rate: float, calls: float, call: str, style: str) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{label}  ", "bold " + style)
    line.append(f"{format_rate(rate):>12}", "bold")
    line.append(f"  {format_count(calls):>5} {call}/s")
    return line
