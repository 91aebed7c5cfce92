"""Choose the selector class to switch to, live."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from echo_tui.engine.config import selector_class


class SelectorChooser(ModalScreen["str | None"]):
    """Dismisses with a selector name (see config.available_selectors()) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, names: list[str], current: str) -> None:
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for name in self.names:
            cls = selector_class(name).__name__
            mark = "  (in use)" if cls == self.current else ""
            options.append(Option(f"{name:<8} {cls}{mark}", id=name))
        with Vertical(id="chooser"):
            yield Static("Switch selector (Enter chooses, Escape cancels)", id="chooser-title")
            yield OptionList(*options, id="selectors")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
