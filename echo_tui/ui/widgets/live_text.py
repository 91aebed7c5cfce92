"""A Static for text that is re-shown every tick but seldom changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class LiveText(Static):
    """Repaints only when its text changes; lays the screen out again only when its height does.

    Static.update() re-lays out the whole screen by default: at 5-20 ticks a second,
    for a dozen lines that rarely change size, that is most of the dashboard's cost.
    """

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        shown = self._shown
        if shown is not None and text == shown:
            return
        self._shown = text
        resized = shown is None or shown.plain.count("\n") != text.plain.count("\n")
        self.update(text, layout=resized)
