"""The select() trace: every call, its timeout and wait, and the ready list in order.

Opening it turns the engine's trace on, closing it turns it off (and leaves
step mode).  In step mode the loop stops before its next select(); `n` lets it
run one call with its handlers (controls without step mode say so).  The app's
tick calls `live_update`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Footer, RichLog, Static

from echo_tui.engine.events import TRACE_CAPACITY, SelectCall
from echo_tui.source import Controls
from echo_tui.ui.loop_text import call_lines
from echo_tui.ui.widgets.live_text import LiveText

if TYPE_CHECKING:
    from echo_tui.ui.app import EchoTuiApp

EXPLAIN = (
    "select() blocks until registered sockets are ready (a ticker socket wakes it\n"
    "for housekeeping) and returns (key, events) pairs; handlers run in that order."
)
SHOWN_PER_TICK = 200  # calls written per refresh; a busy loop makes thousands a second


class TraceScreen(ModalScreen[None]):
    """The last select() calls, live; space and n step through the loop."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_stepping",
            "Step mode",
            tooltip="In the trace: step mode on/off (freeze the loop between calls)",
        ),
        Binding("n", "step", "Next", tooltip="In the trace, step mode: run one more select()"),
        Binding("space,n", "app.not_offered('step')", show=False, system=True),
        Binding("escape", "dismiss", "Close", tooltip="Close the detail or trace screen"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, controls: Controls) -> None:
        super().__init__()
        self.controls = controls
        self.stepping = False
        self.last: SelectCall | None = None
        self.header = LiveText(id="trace-header")
        self.log_view = RichLog(
            max_lines=4 * TRACE_CAPACITY, wrap=False, markup=False, highlight=False, id="trace-log"
        )

    @property
    def echo_app(self) -> EchoTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield self.header
        yield Static(Text(EXPLAIN, "dim"), classes="explain")
        yield self.log_view
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.echo_app.source.channel.take_trace()  # calls from an earlier visit
        self.controls.trace(True)
        self.log_view.focus()
        self.live_update()

    def on_unmount(self) -> None:
        if self.stepping:
            self.controls.set_stepping(False)
        self.controls.trace(False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.echo_app.offers(action):
            return False  # its key says why (the app's not_offered)
        if action == "step" and not self.stepping:
            return None  # shown dimmed: only in step mode
        return True

    def action_toggle_stepping(self) -> None:
        self.stepping = not self.stepping
        self.controls.set_stepping(self.stepping)
        self.refresh_bindings()
        self.live_update()

    def action_step(self) -> None:
        if self.stepping:
            self.controls.step()

    def live_update(self) -> None:
        """Write the calls traced since the last update; show the header."""
        self.show_calls(self.echo_app.source.channel.take_trace(SHOWN_PER_TICK))
        self.header.show(self.header_text())

    def show_calls(self, calls: list[SelectCall]) -> None:
        if not calls:
            return
        log = self.log_view
        shown = calls[-SHOWN_PER_TICK:]
        previous = self.last.seq if self.last is not None else None
        missed = shown[0].seq - previous - 1 if previous is not None else 0
        if missed > 0:
            log.write(Text(f"… {missed:,} select() calls not shown", "yellow"))
        for call in shown:
            for line in call_lines(call):
                log.write(line)
        self.last = shown[-1]

    def header_text(self) -> Text:
        text = Text("select() trace", "bold", end="")
        last = self.last
        selector = last.selector if last is not None else self.echo_app.source.selector_name
        text.append(f" · {selector}")
        if last is not None:
            text.append(f" · {last.keys} keys registered")
        if self.stepping:
            text.append("  ")
            text.append(" STEPPING ", "bold reverse yellow")
            text.append(" n: one select() · space: resume", "bold")
        return text
