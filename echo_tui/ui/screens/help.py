"""Every key the dashboard knows, taken from the app's BINDINGS."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "echo-tui runs a selectors-based TCP echo server and shows it live. The select() "
    "panel counts what every select() call returned: how many sockets were ready, "
    "and for what."
)


def help_text(bindings: list[Binding]) -> Text:
    """One line per key: the key, then what it does."""
    width = max(len(b.key_display or b.key) for b in bindings) + 2
    text = Text(end="")
    for binding in bindings:
        key = binding.key_display or binding.key
        text.append(f"\n{key:<{width}}", "bold cyan")
        text.append(binding.tooltip or binding.description)
    return text


class HelpScreen(ModalScreen[None]):
    """A scrollable list of the keys; any of Escape, ?, q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("Keys", "bold"))
            yield Static(help_text(self.bindings))
            yield Static(Text(INTRO, "dim"), id="help-intro")
            yield Static(Text("Escape, ? or q closes this.", "dim"))
