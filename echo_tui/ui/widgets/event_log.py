"""The event log: connects, disconnects with reasons, commands, accept pauses, errors."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from echo_tui.engine.events import (
    AcceptPaused,
    AcceptResumed,
    CommandResult,
    Connected,
    Disconnected,
    EngineError,
    EngineStopped,
    LifecycleEvent,
    Rejected,
)
from echo_tui.text import safe_text
from echo_tui.units import format_bytes


def describe(event: LifecycleEvent | EngineError) -> Text:
    """One log line for `event`, as plain Text (client-derived parts escaped)."""
    line = Text(time.strftime("%H:%M:%S ", time.localtime(event.at)), "dim", end="")
    if isinstance(event, Connected):
        line.append("+ connect    ", "green")
        line.append(f"#{event.conn_id} ")
        line.append_text(safe_text(event.peer))
    elif isinstance(event, Disconnected):
        line.append("- disconnect ", "yellow" if event.reason == "kicked" else "dim")
        line.append(f"#{event.conn_id} ")
        line.append_text(safe_text(event.peer))
        line.append(f" {event.reason}", "bold")
        line.append(f" ({format_bytes(event.bytes_in)} in, {format_bytes(event.bytes_out)} out)")
        if event.detail:
            line.append(" ")
            line.append_text(safe_text(event.detail, "dim"))
    elif isinstance(event, Rejected):
        line.append("! rejected   ", "red")
        line.append_text(safe_text(event.peer))
        line.append(f" {event.reason}", "bold")
    elif isinstance(event, CommandResult):
        line.append(f"> {event.command:<10} ", "cyan" if event.ok else "red")
        line.append_text(safe_text(event.message))
    elif isinstance(event, AcceptPaused):
        line.append("! accept paused ", "bold red")
        line.append_text(safe_text(event.reason))
        line.append(f", retry in {event.retry_in:g}s")
    elif isinstance(event, AcceptResumed):
        line.append("accept resumed", "green")
    elif isinstance(event, EngineStopped):
        line.append("engine stopped", "bold")
    else:
        line.append("! engine error ", "bold red")
        line.append_text(safe_text(event.message))
    return line


class EventLog(RichLog):
    """Bounded log, newest at the bottom; never parses markup."""

    BORDER_TITLE = "Events"
    MAX_LINES = 1000

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            max_lines=self.MAX_LINES, wrap=False, markup=False, highlight=False, **kwargs
        )  # type: ignore[arg-type]

    def log_event(self, event: LifecycleEvent | EngineError) -> None:
        self.write(describe(event))

    def log_dropped(self, count: int) -> None:
        self.write(Text(f"{count} events dropped (channel full)", "bold yellow"))
