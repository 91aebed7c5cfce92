"""Text that is re-shown every tick but seldom changes, drawn a line at a time."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget


class LiveText(Widget):
    """Lines of text, each cut to the width with an ellipsis (never wrapped).

    show() repaints only when the text changes, and draws again only the lines that
    did: Static re-renders all of its content through Textual's Content on every
    update, which at 5-20 ticks a second for a dozen texts was most of the
    dashboard's cost.  The screen is laid out again only when the number of lines
    changes and the height is `auto`.
    """

    DEFAULT_CSS = "LiveText { height: auto; }"

    def __init__(self, text: Text | str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines = _lines_of(text)
        self._strips: dict[int, Strip] = {}  # drawn lines, at `_width` and the current style
        self._width = 0

    def show(self, text: Text | str) -> None:
        lines = _lines_of(text)
        shown = self._lines
        if lines == shown:
            return
        self._lines = lines
        for y, (old, new) in enumerate(zip(shown, lines, strict=False)):
            if old != new:
                self._strips.pop(y, None)
        height = self.styles.height
        if len(lines) != len(shown) and (height is None or height.is_auto):
            self._strips.clear()
            self.refresh(layout=True)  # a whole-screen layout: tens of ms at a large size
        else:
            self.refresh()

    @property
    def text(self) -> Text:
        """What is shown, as one Text."""
        return Text("\n").join(self._lines)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((line.cell_len for line in self._lines), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # the theme or the colours changed

    def render_line(self, y: int) -> Strip:
        if self.size.width != self._width:
            self._strips.clear()
            self._width = self.size.width
        strip = self._strips.get(y)
        if strip is None:
            strip = self._strips[y] = self._draw(y)
        return strip

    def _draw(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, base)
        line = self._lines[y]
        if line.cell_len > width:
            line = line.copy()
            line.truncate(width, overflow="ellipsis")
        console = self.app.console
        if line.style:  # render() applies the line's own style only beneath its spans
            base += console.get_style(line.style)
        return Strip(line.render(console)).apply_style(base).extend_cell_length(width, base)


def _lines_of(text: Text | str) -> list[Text]:
    if isinstance(text, str):
        text = Text(text)
    return list(text.split("\n", allow_blank=True)) if text else []
