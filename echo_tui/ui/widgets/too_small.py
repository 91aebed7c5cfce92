"""What the screen shows instead of the dashboard when the terminal is below its minimum size."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

MIN_WIDTH, MIN_HEIGHT = 80, 24


class TooSmall(Widget):
    """A centred note with the size needed and the size now; shown by the app's CSS."""

    DEFAULT_CSS = """
    TooSmall {
        display: none;
        width: 100%;
        height: 100%;
        content-align: center middle;
        text-align: center;
    }
    """

    def render(self) -> Text:
        width, height = self.app.size
        text = Text(f"Terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT})", "bold", end="")
        text.append(f"\nnow {width}×{height}: enlarge the window, or press q to quit")
        return text
