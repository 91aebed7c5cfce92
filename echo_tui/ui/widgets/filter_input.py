"""The filter line (`/`): filters the clients table as you type."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """Enter closes it and keeps the filter; Escape clears the filter and closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear_and_close", "Clear filter")]

    class Closed(Message):
        """The user is done editing the filter."""

    def action_clear_and_close(self) -> None:
        self.clear()
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Closed())
