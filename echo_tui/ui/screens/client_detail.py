"""One client up close: its SelectorKey, counters, rates, interest changes and last bytes.

Opening it asks the engine to inspect this client (record its interest
changes; with the preview on, also its last bytes received); closing it stops
that.  The app's tick calls `live_update`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Sparkline, Static

from echo_tui.engine.events import MUTED, PREVIEW_BYTES, ConnectionStats, Inspected
from echo_tui.engine.inspection import event_names
from echo_tui.text import escape, safe_text
from echo_tui.ui.loop_text import change_line, hex_dump
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_bytes, format_count, format_duration, format_rate

if TYPE_CHECKING:
    from echo_tui.ui.app import EchoTuiApp

EXPLAIN = (
    "A SelectorKey is what selector.register(sock, events, data) returned for it;\n"
    "select() watches its events, modified as the client's state changes (below)."
)


class ClientDetail(ModalScreen[None]):
    """The detail of client `conn_id`, live while open; Escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", tooltip="Close the detail or trace screen"),
        Binding("k", "kick", "Kick", tooltip="In the detail: kick this client (asks first)"),
        Binding("m", "mute", "Mute", tooltip="In the detail: mute / unmute this client"),
        Binding(
            "v", "preview", "Preview", tooltip="In the detail: show / hide its last bytes received"
        ),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, conn_id: int) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.preview = False
        self.stats: ConnectionStats | None = None  # the last known, kept after it disconnects
        self.gone = False
        self.rates: list[tuple[float, float]] = []  # per second, oldest first (kept when gone)
        self.title_line = LiveText(id="detail-title")
        self.key_text = Static(id="detail-key")
        self._key: tuple[object, ...] | None = None
        self.stats_text = LiveText(id="detail-stats")
        self.spark_in = Sparkline([], classes="detail-spark", id="detail-spark-in")
        self.spark_out = Sparkline([], classes="detail-spark", id="detail-spark-out")
        self.rates_in = LiveText(classes="detail-rate")
        self.rates_out = LiveText(classes="detail-rate")
        self.changes_text = LiveText(id="detail-changes")
        self.preview_text = Static(id="detail-preview")  # a Static: its long line wraps
        self._preview: Text | None = None

    @property
    def echo_app(self) -> EchoTuiApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield Static(Text(EXPLAIN, "dim"), classes="explain")
        with VerticalScroll(id="detail-body"):
            yield self.key_text
            yield self.stats_text
            with Horizontal(classes="detail-rates", id="detail-rates-in"):
                yield self.rates_in
                yield self.spark_in
            with Horizontal(classes="detail-rates"):
                yield self.rates_out
                yield self.spark_out
            yield self.changes_text
            yield self.preview_text
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self.echo_app.engine.inspect(self.conn_id, self.preview)
        self.live_update()

    def on_unmount(self) -> None:
        self.echo_app.engine.inspect(None)

    # -- actions -----------------------------------------------------------------------------

    def action_kick(self) -> None:
        if not self.gone:
            self.echo_app.confirm_kick(self.conn_id)

    def action_mute(self) -> None:
        if self.stats is not None and not self.gone:
            self.echo_app.set_muted(self.conn_id, self.stats.state != MUTED)

    def action_preview(self) -> None:
        self.preview = not self.preview
        self.echo_app.engine.inspect(self.conn_id, self.preview)
        self.live_update()

    # -- showing -----------------------------------------------------------------------------

    def live_update(self) -> None:
        """Show the latest stats and the engine's record of this client."""
        app = self.echo_app
        client = app.model.clients.get(self.conn_id)
        snapshot = app.snapshot
        if client is not None:
            self.stats = client.stats
            self.rates = app.model.history_of(self.conn_id)  # from before the screen opened
        elif self.stats is not None:
            self.gone = True
        inspected = snapshot.inspected if snapshot is not None else None
        if inspected is not None and inspected.conn_id != self.conn_id:
            inspected = None
        self._show(app.clock(), inspected)

    def _show(self, now: float, inspected: Inspected | None) -> None:
        stats = self.stats
        title = Text(f"Client #{self.conn_id}", "bold", end="")
        if stats is not None:
            title.append(" · ")
            title.append_text(safe_text(stats.peer, "bold"))
            title.append(" · ")
            title.append("disconnected" if self.gone else stats.state, "bold yellow")
        self.title_line.show(title)
        if stats is None:
            self.key_text.update(Text("waiting for the engine…", "dim"))
            return
        fileobj = inspected.fileobj if inspected is not None else None
        key = (stats.fd, stats.events, stats.conn_id, fileobj)
        if key != self._key:
            self._key = key
            self.key_text.update(selector_key_table(stats, fileobj))
        self.stats_text.show(stats_text(stats, now))
        rate_in = self.rates[-1][0] if self.rates else 0.0
        rate_out = self.rates[-1][1] if self.rates else 0.0
        self.rates_in.show(Text(f"in   {format_rate(rate_in):>12}", "green", end=""))
        self.rates_out.show(Text(f"out  {format_rate(rate_out):>12}", "cyan", end=""))
        history_in = [r[0] for r in self.rates]
        history_out = [r[1] for r in self.rates]
        drawn = len(self.rates) > 1  # one sample would fill the whole line
        self.spark_in.data = history_in if drawn and any(history_in) else []
        self.spark_out.data = history_out if drawn and any(history_out) else []
        self.changes_text.show(changes_text(inspected))
        preview = preview_text(self.preview, inspected)
        if preview != self._preview:
            self._preview = preview
            self.preview_text.update(preview)


def selector_key_table(stats: ConnectionStats, fileobj: str | None) -> Table:
    """The client's SelectorKey, field by field (long values wrap in their column)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="cyan", no_wrap=True)
    table.add_column()
    table.add_row(Text("SelectorKey", "bold"), "")
    table.add_row("  fd", str(stats.fd))
    shown = Text(escape(fileobj), overflow="fold") if fileobj is not None else Text("…", "dim")
    table.add_row("  fileobj", shown)
    events = event_names(stats.events) if stats.events else "0 (unregistered)"
    table.add_row("  events", events)
    table.add_row("  data", f"the engine's Connection #{stats.conn_id}: counters, output buffer")
    return table


def stats_text(stats: ConnectionStats, now: float) -> Text:
    """State, age, traffic both ways, pending output, readiness counts, backpressure time."""
    text = Text(end="")
    text.append("state   ", "cyan")
    text.append_text(safe_text(stats.state, "bold"))
    text.append(f"   age {format_duration(now - stats.connected_at)}")
    text.append(f"   idle {format_duration(now - stats.last_activity)}")
    text.append("\nin      ", "cyan")
    text.append(f"{format_bytes(stats.bytes_in)} in {format_count(stats.msgs_in)} recv()")
    text.append("\nout     ", "cyan")
    text.append(f"{format_bytes(stats.bytes_out)} in {format_count(stats.msgs_out)} send()")
    text.append(f"   pending {format_bytes(stats.pending)}")
    text.append("\nready   ", "cyan")
    text.append(f"readable {format_count(stats.read_ready)}×, ")
    text.append(f"writable {format_count(stats.write_ready)}×")
    backpressured = stats.backpressured_seconds
    if stats.backpressured_since is not None:
        backpressured += max(0.0, now - stats.backpressured_since)
    text.append(f"   backpressured {backpressured:.1f}s in all")
    return text


def changes_text(inspected: Inspected | None) -> Text:
    """The interest changes recorded since the detail opened, newest first (on screen at
    80x24, where the oldest would be below the fold)."""
    text = Text("Interest changes", "bold", end="")
    text.append(" (register / modify / unregister, newest first)", "dim")
    if inspected is None:
        text.append("\n  …", "dim")
    for change in reversed(inspected.changes) if inspected is not None else ():
        text.append("\n  ")
        text.append_text(change_line(change))
    return text


def preview_text(on: bool, inspected: Inspected | None) -> Text:
    """The last bytes received, escaped and in hex; or how to turn the preview on."""
    text = Text(f"Last bytes received (at most {PREVIEW_BYTES})", "bold", end="")
    if not on:
        text.append("\n  off: press v to keep this client's last bytes while this is open", "dim")
        return text
    data = inspected.preview if inspected is not None else None
    if not data:
        text.append("\n  nothing received since the preview began", "dim")
        return text
    text.append("\n  text  ", "cyan")
    text.append_text(safe_text(data))
    text.append("\n")
    dump = hex_dump(data)
    for line in dump.split("\n"):
        text.append("  ")
        text.append_text(line)
        text.append("\n")
    text.right_crop(1)
    return text
