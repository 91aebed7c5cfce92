"""The loop inspector's words: select() calls, ready keys, interest changes, byte previews.

Pure functions from the engine's records to plain Text (client-derived parts
escaped), in the vocabulary of the `selectors` docs.
"""

from __future__ import annotations

import time
from selectors import EVENT_READ as READ_EVENT
from selectors import EVENT_WRITE as WRITE_EVENT

from rich.text import Text

from echo_tui.engine.events import (
    CLIENT,
    LISTENER,
    TICKER,
    InterestChange,
    ReadyKey,
    SelectCall,
)
from echo_tui.engine.inspection import event_names
from echo_tui.text import escape, safe_text

_MASK_NAMES = ((READ_EVENT, "READ"), (WRITE_EVENT, "WRITE"))
_SHORT = {0: "-", READ_EVENT: "R", WRITE_EVENT: "W", READ_EVENT | WRITE_EVENT: "RW"}


def short_events(mask: int) -> str:
    """The clients table's Interest cell: R, W, RW, or - when unregistered."""
    return _SHORT[mask & (READ_EVENT | WRITE_EVENT)]


def mask_names(mask: int) -> str:
    """What select() reported: READ, WRITE or READ|WRITE."""
    return "|".join(
        name for bit, name in ((READ_EVENT, "READ"), (WRITE_EVENT, "WRITE")) if mask & bit
    )


def clock_time(at: float) -> str:
    """Local wall-clock time with milliseconds: 12:00:01.234."""
    seconds, millis = divmod(round(at * 1000), 1000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def interest_op(old: int, new: int) -> str:
    """The selector call that moves a registration from mask `old` to `new`."""
    if old == new:
        return ""
    if not old:
        return f"register {event_names(new)}"
    if not new:
        return "unregister"
    return f"modify {event_names(new)}"


def handler_text(entry: ReadyKey) -> str:
    """What the handler did with one ready key, e.g. `recv 100 B, send 100 B`; for a probed
    program's key, which handler it is (`read() echo.py:21`: the probe sees no more)."""
    if entry.role in (CLIENT, LISTENER) and entry.commands:
        return "; ".join(escape(handler) for handler in entry.commands)
    if entry.role == LISTENER:
        parts = [f"accept fd {fd} from {escape(peer)}" for fd, peer in entry.accepted]
        if entry.rejected:
            parts.append(f"accept and close {entry.rejected} (over a limit)")
        return ", ".join(parts) or "accept: nobody left in the backlog"
    if entry.role == TICKER:
        return "housekeeping wake-up: publish stats, check idle clients"
    if entry.role != CLIENT:
        return "; ".join(escape(message) for message in entry.commands) or "nothing queued"
    if entry.skipped:
        return "skipped: closed earlier in this batch"
    parts = []
    if entry.received:
        parts.append(f"recv {entry.received:,} B")
    if entry.eof:
        parts.append("recv 0 B (EOF)")
    if entry.sent or entry.mask & WRITE_EVENT:
        parts.append(f"send {entry.sent:,} B")
    if entry.pending or entry.mask & WRITE_EVENT or entry.events_after & WRITE_EVENT:
        parts.append(f"{entry.pending:,} B pending")
    if entry.closed:
        parts.append(f"close ({entry.closed})")
    else:
        op = interest_op(entry.events_before, entry.events_after)
        if op:
            parts.append(op)
    return ", ".join(parts) or "nothing to do"


def ready_line(entry: ReadyKey) -> Text:
    """`fd 12 READ → recv 100 B, send 100 B`; the listener and wake-up socket are named."""
    line = Text("    ", end="")
    line.append(f"fd {entry.fd}", "bold")
    if entry.role != CLIENT:
        line.append(f" ({entry.role})", "cyan")
    elif entry.conn_id is not None:
        line.append(f" #{entry.conn_id}", "dim")
    line.append(f" {mask_names(entry.mask)}", "magenta")
    line.append(" → ", "dim")
    line.append(handler_text(entry))
    return line


def call_lines(call: SelectCall) -> list[Text]:
    """One select() call: a line for the call, then one per ready key in select()'s order."""
    head = Text(clock_time(call.at), "dim", end="")
    head.append(f" call {call.seq} ", "dim")
    timeout = "None" if call.timeout is None else f"{call.timeout:.3f}"
    head.append(f"select(timeout={timeout})", "bold")
    head.append(f" waited {milliseconds(call.waited)}")
    if call.stepped:
        head.append(" · step", "bold yellow")
    if not call.ready:
        head.append(" (timeout, 0 events)", "dim")
        return [head]
    count = len(call.ready)
    head.append(f" → {count} ready", "green")
    return [head, *(ready_line(entry) for entry in call.ready)]


def change_line(change: InterestChange) -> Text:
    """`12:00:01.234 modify EVENT_READ | EVENT_WRITE (send took 13,312 of 65,536 B)`."""
    line = Text(clock_time(change.at), "dim", end="")
    line.append("  ")
    if change.op == "registered":  # the state when inspection began
        what = f"registered for {event_names(change.events)}" if change.events else "unregistered"
        line.append(what, "bold")
        line.append(" (when the inspection began)", "dim")
        return line
    line.append(change.op, "bold")
    if change.op != "unregister":
        line.append(f" {event_names(change.events)}", "magenta")
    line.append(" (")
    line.append_text(safe_text(change.cause))
    line.append(")")
    return line


def hex_dump(data: bytes, width: int = 16) -> Text:
    """Offset, hex bytes, and the same bytes as printable ASCII ('.' for the rest)."""
    text = Text(end="", no_wrap=True)
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        if offset:
            text.append("\n")
        text.append(f"{offset:04x}  ", "dim")
        text.append(" ".join(f"{byte:02x}" for byte in chunk).ljust(width * 3 - 1))
        text.append("  ")
        text.append("".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk), "cyan")
    return text
