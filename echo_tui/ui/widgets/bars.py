"""A sparkline drawn once per sample: the lines are cached until the data, size or theme change.

Textual's Sparkline draws what we want, but renders every cell through Rich with a
colour blended per cell each time it repaints: a few ms per sample at a wide panel,
growing with the width.  This widget draws the same bars and colours (a bar per
sample scaled between the minimum and the maximum, colours from its component
classes) and keeps the lines until something they show changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import ClassVar

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"


class Bars(Widget):
    """Bars of `data` over the widget's size, like Textual's Sparkline (max per column)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"bars--max-color", "bars--min-color"}

    DEFAULT_CSS = """
    Bars { height: 1; }
    Bars > .bars--max-color { color: $primary; }
    Bars > .bars--min-color { color: $primary 30%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data: tuple[float, ...] = ()
        self._drawn: tuple[tuple[float, ...], Size] | None = None  # what `_lines` show
        self._lines: list[Strip] = []

    def show(self, data: Sequence[float]) -> None:
        """Show `data`; repaint only if it differs from what is shown."""
        data = tuple(data)
        if data != self.data:
            self.data = data
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None  # the theme or the colours changed

    def render_line(self, y: int) -> Strip:
        drawn = (self.data, self.size)
        if drawn != self._drawn:
            self._lines = self._draw()
            self._drawn = drawn
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _colours(self) -> tuple[RichColor, RichColor]:
        _, base = self.background_colors
        low = base + self.get_component_styles("bars--min-color").color
        high = base + self.get_component_styles("bars--max-color").color
        return low.rich_color, high.rich_color

    def _draw(self) -> list[Strip]:
        """The lines, top first, as Textual's Sparkline renderable draws them."""
        width, height = self.size
        base = self.rich_style
        low, high = self._colours()
        data = self.data
        if not data:
            blank = [Strip.blank(width, base)] * (height - 1)
            return [*blank, Strip([Segment("▁" * width, base + Style(color=low))], width)]
        if len(data) == 1:
            return [Strip([Segment("█" * width, base + Style(color=high))], width)] * height
        minimum, maximum = min(data), max(data)
        extent = maximum - minimum or 1
        ratios = [(value - minimum) / extent for value in _columns(data, width)]
        levels = len(BARS) * height - 1
        styles = {ratio: base + Style(color=_blend(low, high, ratio)) for ratio in set(ratios)}
        lines = []
        for row in reversed(range(height)):
            bottom, top = row * len(BARS), (row + 1) * len(BARS)
            cells = []
            for ratio in ratios:
                level = int(ratio * levels)
                if level < bottom:
                    cells.append((" ", base))
                elif level >= top:
                    cells.append(("█", styles[ratio]))
                else:
                    cells.append((BARS[level % len(BARS)], styles[ratio]))
            lines.append(Strip(_segments(cells), width))
        return lines


def _columns(data: tuple[float, ...], width: int) -> list[float]:
    """The value of each of `width` columns: the max of the samples that fall in it."""
    count = len(data)  # Textual's int(Fraction(count, width) * i), in integers
    buckets = [data[count * i // width : count * (i + 1) // width] for i in range(width)]
    summaries = [max(bucket) for bucket in buckets if bucket]
    spread, index, columns = len(summaries) / width, 0.0, []
    for _ in range(width):  # the same float steps as Textual's, to pick the same samples
        columns.append(summaries[int(index)])
        index += spread
    return columns


def _segments(cells: list[tuple[str, Style]]) -> list[Segment]:
    """Cells joined in runs of the same style (the same object: there is one per bar height)."""
    segments = []
    for _, group in groupby(cells, key=lambda cell: id(cell[1])):
        run = list(group)
        segments.append(Segment("".join(char for char, _ in run), run[0][1]))
    return segments


def _blend(low: RichColor, high: RichColor, ratio: float) -> RichColor:
    """Between `low` and `high` in RGB, as Textual's Sparkline blends them."""
    if low.triplet is None or high.triplet is None:
        return high
    (r1, g1, b1), (r2, g2, b2) = low.triplet, high.triplet
    red, green, blue = (r1 + (r2 - r1) * ratio, g1 + (g2 - g1) * ratio, b1 + (b2 - b1) * ratio)
    return RichColor.from_rgb(red, green, blue)
