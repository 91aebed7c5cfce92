"""The filter line (`/`): filters the clients table as you type."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """Enter or Escape closes it (the filter stays); an empty filter shows every client."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close filter")]

    class Closed(Message):
        """The user is done editing the filter."""

    def action_close(self) -> None:
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Closed())
