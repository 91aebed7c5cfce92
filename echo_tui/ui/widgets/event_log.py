"""The event log: connects, disconnects with reasons, commands, accept pauses, errors.

Lines are worded for the operator.  Command outcomes are logged by the app from
the command's future, where it knows what was asked (the filter of a "kick all"),
not from the channel's CommandResult events.
"""

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


def _stamp(at: float) -> Text:
    return Text(time.strftime("%H:%M:%S ", time.localtime(at)), "dim", end="")


def note(at: float, words: str, ok: bool = True) -> Text:
    """A line the app words itself: a command's outcome, a selector switch."""
    line = _stamp(at)
    line.append("> " if ok else "! ", "cyan" if ok else "bold red")
    line.append_text(safe_text(words))
    return line


def describe(event: LifecycleEvent | EngineError) -> Text:
    """One log line for `event`, as plain Text (client-derived parts escaped)."""
    line = _stamp(event.at)
    match event:
        case Connected(conn_id=conn_id, peer=peer):
            line.append("+ connect    ", "green")
            line.append(f"#{conn_id} ")
            line.append_text(safe_text(peer))
        case Disconnected():
            line.append("- disconnect ", "yellow" if event.reason == "kicked" else "dim")
            line.append(f"#{event.conn_id} ")
            line.append_text(safe_text(event.peer))
            line.append(f" {event.reason}", "bold")
            line.append(
                f" ({format_bytes(event.bytes_in)} in, {format_bytes(event.bytes_out)} out)"
            )
            if event.detail:
                line.append(" ")
                line.append_text(safe_text(event.detail, "dim"))
        case Rejected(peer=peer, reason=reason):
            line.append("! rejected   ", "red")
            line.append_text(safe_text(peer))
            line.append(f" {reason}", "bold")
        case CommandResult(ok=ok, message=message):
            return note(event.at, message, ok)
        case AcceptPaused(reason=reason, retry_in=retry_in):
            line.append("! accept paused ", "bold red")
            line.append_text(safe_text(reason))
            line.append(f", retry in {retry_in:g}s")
        case AcceptResumed():
            line.append("accept resumed", "green")
        case EngineStopped():
            line.append("engine stopped", "bold")
        case EngineError(message=message):
            line.append("! engine error ", "bold red")
            line.append_text(safe_text(message))
    return line


class EventLog(RichLog):
    """Bounded log, newest at the bottom; never parses markup."""

    BORDER_TITLE = "Log"
    MAX_LINES = 1000

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            max_lines=self.MAX_LINES,
            wrap=False,
            markup=False,
            highlight=False,
            id=id,
            classes=classes,
        )

    def log_event(self, event: LifecycleEvent | EngineError) -> None:
        self.write(describe(event))

    def log_note(self, at: float, words: str, ok: bool = True) -> None:
        self.write(note(at, words, ok))

    def log_dropped(self, count: int) -> None:
        self.write(Text(f"{count} events dropped (channel full)", "bold yellow"))
