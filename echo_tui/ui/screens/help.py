"""The help screen: every key (from the app's BINDINGS), then what each panel's numbers mean.

`key_lines` is the one place bindings become help lines: the `--help` output uses it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "echo-tui runs a TCP echo server on Python's selectors module and shows what its "
    "select() loop does. Rates are per second over the last full second; totals are since "
    "start. Scroll with the arrow keys or PgUp/PgDn."
)

TERM_WIDTH = 15  # the longest term, "events dropped", plus one

# (panel, [(term, what it means)]): a teacher points at a number, the student finds it here.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Header",
        (
            ("address", "where the server listens (flagged when it is not loopback)"),
            ("selector", "the selectors class the loop uses now (S switches it live)"),
            ("clients", "connected now / --max-clients"),
            ("Hz", "how often the view refreshes (+ and - change it)"),
            ("ACCEPT PAUSED", "accept() ran out of file descriptors or memory; retried soon"),
            (
                "BUFFER FULL",
                "echo waiting for all clients reached --max-total-buffer: clients with echo "
                "pending are not read until theirs is sent",
            ),
            ("events dropped", "log lines the UI fell behind on (counters stay exact)"),
            ("PAUSED", "the view is frozen (p); the server runs on"),
        ),
    ),
    (
        "Traffic",
        (
            ("in / out", "bytes per second received from / echoed to all clients"),
            (
                "recv/s, send/s",
                "recv() and send() calls that moved data. One recv() is not one message "
                "of your protocol: a line can arrive in several, or several lines in one",
            ),
            ("bars", "one bar per second over the last minute"),
            ("peak", "the highest per-second rate since start"),
            ("total", "bytes in and out since start"),
            ("buffered", "bytes read but not yet echoed, all clients (shown when it fits)"),
        ),
    ),
    (
        "select()",
        (
            (
                "busy",
                "share of the last second the loop spent outside select(), running handlers "
                "and housekeeping (Node.js calls it event-loop utilization); the rest it was "
                "blocked in select(), waiting",
            ),
            ("select()/s", "calls to select() per second"),
            (
                "events/s",
                "ready (socket, event) pairs select() returned per second, the engine's own "
                "sockets' included",
            ),
            (
                "per select",
                "events per select() call: now = the last second; avg and max since start, "
                "or since the last selector switch (the panel's bottom edge says which)",
            ),
            ("", "Wake-ups by cause: the share of events of each kind (a call may have several)"),
            ("read", "a client socket has data (or end of file)"),
            (
                "write",
                "a client socket can take more output. 0% is normal: the echo is sent at once "
                "when read, and the loop asks select() about writing only while a slow reader "
                "has output waiting",
            ),
            ("accept", "the listening socket: a client is connecting"),
            ("command", "the UI's wake-up socket: a command (kick, mute, switch) arrived"),
            (
                "housekeeping",
                "the ticker's socket: time to publish stats and check idle clients (every "
                "0.1 s while anything changes, 1 s when idle). select() has no timeout: "
                "this is how it wakes when nothing else happens",
            ),
            (
                "iter",
                "iteration time: from select() returning to the next select() call, what "
                "the handlers cost; p50, p99 and max over the last second (bounds: the "
                "upper edge of a power-of-two bucket). Under load only the 25 calls after "
                "each housekeeping run are timed",
            ),
            (
                "loop delay",
                "how late housekeeping ran after it was due: a long handler or a busy "
                "machine delays everything the loop does",
            ),
            (
                "events/select",
                "how many events each select() of the last second returned; under load one "
                "call returns many (the loop batches)",
            ),
            ("iteration", "how long the timed iterations of the last second took"),
        ),
    ),
    (
        "Clients",
        (
            ("ID", "connection number, never reused (not the file descriptor)"),
            ("FD", "the server-side socket's file descriptor (reused once it closes)"),
            (
                "Interest",
                "what select() watches the socket for now: R read, W write, RW both, "
                "- nothing (muted, or backpressured with nothing left to send)",
            ),
            ("Peer", "the client's address and port"),
            ("Kind", "with --demo: what the simulated client does (told by the demo process)"),
            (
                "State",
                "reading: served normally; backpressured: its unsent echo reached half of "
                "--max-buffer, so the server stops reading from it until it drains; muted: "
                "you muted it (m); closing: it sent end of file, the rest of its echo is sent",
            ),
            ("In/s, Out/s", "bytes per second, the same window as the Traffic panel"),
            ("Pending", "bytes read from it and not yet echoed back"),
            ("Rd", "times select() reported its socket readable"),
            ("Wr", "times select() reported it writable (only asked while Pending > 0)"),
            ("In, Out", "bytes since it connected"),
            ("Idle, Age", "since its last byte in or out; since it connected"),
        ),
    ),
    (
        "select() trace (t)",
        (
            ("call 373", "the call's number since the trace opened (gaps: calls not shown)"),
            (
                "timeout=None",
                "select() blocks until a socket is ready; it has no timeout because the "
                "ticker wakes it for housekeeping",
            ),
            ("waited", "how long that call blocked in select() before it returned"),
            ("N ready", "how many (key, events) pairs it returned; one line each, in its order"),
            ("keys registered", "sockets the selector watches: clients, plus its own three"),
            ("fd", "the socket's file descriptor; #N after it: the client's connection number"),
            ("READ, WRITE", "what select() reported the socket ready for"),
            ("listener", "the listening socket: its handler accepts new clients"),
            ("wake-up", "the UI's wake-up socket: its handler runs the commands queued"),
            (
                "ticker",
                "the engine's timer socket: a housekeeping wake-up (publish stats, check "
                "idle clients)",
            ),
            ("recv, send", "bytes the handler read and echoed; pending: still to send"),
            (
                "register, modify",
                "the handler changed what the socket is watched for (see Interest); "
                "unregister: no longer watched",
            ),
            ("skipped", "closed by an earlier handler of the same call: nothing ran"),
            ("step", "the call ran as one step of step mode (space, then n)"),
            (
                "STEPPING",
                "the loop is held between calls until n; clients get no service meanwhile",
            ),
        ),
    ),
    (
        "Client detail (Enter)",
        (
            ("SelectorKey", "what the selector holds for the socket: fd, fileobj, events, data"),
            ("events", "what it is registered for now (the table's Interest)"),
            ("ready", "times select() reported it readable / writable"),
            ("registered", "what it was watched for when this screen opened"),
            ("accepted", "registered for READ as it connected"),
            ("muted, unmuted", "you pressed m: no longer read, or read again"),
            (
                "backpressure",
                "its unsent echo reached half of --max-buffer: not read until it drains",
            ),
            ("drained to", "its unsent echo fell to an eighth of --max-buffer: read again"),
            ("send took", "send() took only part of the echo: watch for WRITE to send the rest"),
            ("N pending", "echo still waits: WRITE stays on"),
            ("all sent", "the echo is out: WRITE off, READ only"),
            (
                "--max-total-buffer",
                "all clients' unsent echo reached it: clients with echo pending are not read",
            ),
            ("peer closed", "it sent end of file: the rest of its echo is sent, then closed"),
            ("closed", "the connection ended (with the reason): unregistered"),
        ),
    ),
    (
        "Log",
        (
            ("+ connect", "a client was accepted"),
            (
                "- disconnect",
                "a connection ended, with the reason: peer-closed, reset, kicked, idle, "
                "error, shutdown, and bytes in/out",
            ),
            (
                "! rejected",
                "accepted and closed at once: max-clients (--max-clients reached) or fd-limit "
                "(select() cannot watch a descriptor that high)",
            ),
            ("> ...", "what you did: kicks with their count, mutes, selector switches"),
        ),
    ),
)


def key_lines(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) per action, from BINDINGS: keys sharing a meaning share a line.

    A key bound twice (Pause/Resume, Mute/Unmute) appears once.
    """
    lines: dict[str, list[str]] = {}  # meaning -> keys
    for entry in bindings:
        binding = entry if isinstance(entry, Binding) else Binding(*entry)
        meaning = binding.tooltip or binding.description
        if not meaning:  # says nothing (replay's "not here" keys)
            continue
        key = binding.key_display or binding.key
        keys = lines.setdefault(meaning, [])
        if key not in keys:
            keys.append(key)
    return [(", ".join(keys), meaning) for meaning, keys in lines.items()]


def definitions(rows: Iterable[tuple[str, str]], term_width: int = TERM_WIDTH) -> Table:
    """A two-column grid: the term in bold, its meaning wrapped beside it."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=term_width, no_wrap=True, style="bold cyan")
    grid.add_column(ratio=1)
    for term, meaning in rows:
        grid.add_row(term, meaning)
    return grid


class HelpScreen(ModalScreen[None]):
    """The keys, then a section per panel; scrolls; Escape, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, bindings: Iterable[BindingType], note: str | None = None) -> None:
        super().__init__()
        self.bindings = list(bindings)
        self.note = note  # shown first (say, why replay offers fewer keys)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text(INTRO, "dim"), id="help-intro")
            if self.note:
                yield Static(Text(self.note, "bold"), classes="help-title")
            yield Static(Text("Keys", "bold"), classes="help-title")
            yield Static(definitions(key_lines(self.bindings)))
            for title, rows in SECTIONS:
                yield Static(Text(title, "bold"), classes="help-title")
                yield Static(definitions(rows))
            yield Static(Text("Escape, ? or q closes this.", "dim"), classes="help-title")

    def on_mount(self) -> None:
        self.query_one("#help").focus()
