"""EchoTuiApp: the dashboard. A timer drains the source's channel and applies it by diff.

It watches a Source and, given Controls, offers what they support (echo_tui.source).
The app never starts the engine (the CLI does, so bind errors come before the
UI) but stops the source on unmount.  Nothing here runs in the engine thread:
command futures are polled on the same timer, never called back across threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Input, Static

from echo_tui.addresses import connect_command
from echo_tui.engine.config import available_selectors
from echo_tui.engine.connection import format_peer
from echo_tui.engine.events import MUTED, CommandResult, EngineError, Snapshot
from echo_tui.recordings.playback import SPEEDS
from echo_tui.source import Action, Controls, Source, connection_status, unavailable
from echo_tui.text import escape, safe_text
from echo_tui.ui import REFRESH_RATES
from echo_tui.ui.commands import DashboardCommands
from echo_tui.ui.model import ClientModel, matcher
from echo_tui.ui.offered import NEEDS, not_offered
from echo_tui.ui.screens.client_detail import ClientDetail
from echo_tui.ui.screens.confirm import ConfirmScreen
from echo_tui.ui.screens.help import HelpScreen
from echo_tui.ui.screens.selector_chooser import SelectorChooser
from echo_tui.ui.screens.trace import TraceScreen
from echo_tui.ui.widgets.clients_table import COLUMN_KEYS, ClientsTable, quoted
from echo_tui.ui.widgets.event_log import EventLog
from echo_tui.ui.widgets.filter_input import FilterInput
from echo_tui.ui.widgets.footer import DashboardFooter
from echo_tui.ui.widgets.header import Status, StatusHeader
from echo_tui.ui.widgets.select_panel import SelectPanel
from echo_tui.ui.widgets.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmall
from echo_tui.ui.widgets.traffic_panel import TrafficPanel
from echo_tui.units import format_bytes, format_duration

if TYPE_CHECKING:
    from textual.driver import Driver

    from echo_tui.recordings.playback import ReplayChannel
    from echo_tui.recordings.recording import Recorder

KICK = Binding.Group("Kick", compact=True)  # the footer shows "kK Kick"; help tells them apart
RATE = Binding.Group("Rate", compact=True)
PLAYBACK = Binding.Group("Playback")
# The keys of actions the controls may not support (and the action): they say why not.
_NOT_OFFERED_KEYS = (
    ("k,K", "kick"),
    ("m", "mute"),
    ("S", "choose_selector"),
    ("t", "trace"),
    ("enter", "detail"),
)
_WIDE_ONLY = frozenset({"trace", "sort"})  # in the footer only from 120 columns
_PLAYBACK_ACTIONS = frozenset({"play", "hold", "seek", "speed", "seek_to"})
_VIEW_PAUSE = frozenset({"pause", "resume"})  # with a playback, space pauses the playback
REPLAY_NOTE = (
    "Replay: the dashboard plays a recording back; no server runs, so only the keys that "
    "change the view are offered."
)
# Commands whose success another log line already tells (the disconnect, the switch).
_SAID_ELSEWHERE = frozenset({"kick", "switch_selector"})


# The screen's classes by size (the TCSS styles them).
WIDTH_BREAKPOINTS = [(0, "-too-narrow"), (MIN_WIDTH, "-narrow"), (120, "-wide")]
HEIGHT_BREAKPOINTS = [(0, "-too-short"), (MIN_HEIGHT, "-short"), (34, "-tall")]


class EchoTuiApp(App[None]):
    """The echo-tui dashboard over a Source, offering what its Controls support."""

    CSS_PATH = "echo_tui.tcss"
    NOTIFICATION_TIMEOUT = 3  # seconds (Textual: 5): toasts stack over the log and the table
    COMMANDS = App.COMMANDS | {DashboardCommands}
    TITLE = "echo-tui"
    # Module constants: Textual annotates these `ClassVar[...] | None`, which type checkers
    # read as instance variables, so a ClassVar here would not match.
    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS
    VERTICAL_BREAKPOINTS = HEIGHT_BREAKPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "k", "kick", "Kick", tooltip="Kick the highlighted client (asks first)", group=KICK
        ),
        Binding(
            "K",
            "kick_matching",
            "Kick all",
            tooltip="Kick every client matching the filter",
            group=KICK,
        ),
        Binding("m", "mute", "Mute", tooltip="Mute / unmute the highlighted client"),
        Binding("m", "unmute", "Unmute", tooltip="Mute / unmute the highlighted client"),
        Binding(
            "enter",
            "detail",
            "Detail",
            tooltip="The highlighted client up close: SelectorKey, interest changes",
        ),
        # Trace and Sort show in the footer from 120 columns (_WIDE_ONLY): at 80 it has no
        # room for them with Unmute and Resume; help and the palette list them everywhere.
        Binding("t", "trace", "Trace", tooltip="The select() trace: every call, step by step"),
        Binding("s", "sort", "Sort", tooltip="Sort by the next column (or click a header)"),
        Binding(
            "r", "reverse_sort", "Reverse", show=False, tooltip="Reverse the order of the sort"
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            tooltip="Filter by address, state, kind (--demo), events (rw) or fd (fd 12)",
        ),
        Binding("S", "choose_selector", "Selector", tooltip="Switch the selector class live"),
        Binding("p", "pause", "Pause", tooltip="Pause / resume the view (the server runs on)"),
        Binding("p", "resume", "Resume", tooltip="Pause / resume the view (the server runs on)"),
        Binding(
            "plus", "faster", "Faster", key_display="+", tooltip="Refresh more often", group=RATE
        ),
        Binding(
            "minus", "slower", "Slower", key_display="-", tooltip="Refresh less often", group=RATE
        ),
        Binding("space", "play", "Play", tooltip="Replay: play / pause", group=PLAYBACK),
        Binding("space", "hold", "Pause", tooltip="Replay: play / pause", group=PLAYBACK),
        Binding(
            "left", "seek(-10)", "-10s", key_display="←", priority=True, tooltip="Replay: back 10 s"
        ),
        Binding(
            "right", "seek(10)", "+10s", key_display="→", priority=True, tooltip="Replay: on 10 s"
        ),
        Binding("less_than_sign", "speed(-1)", "Slower", key_display="<", tooltip="Replay: slower"),
        Binding(
            "greater_than_sign", "speed(1)", "Faster", key_display=">", tooltip="Replay: faster"
        ),
        Binding(
            "home", "seek_to(0)", "Start", show=False, priority=True, tooltip="Replay: to the start"
        ),
        Binding(
            "end", "seek_to(-1)", "End", show=False, priority=True, tooltip="Replay: to the end"
        ),
        Binding(
            "escape", "clear_filter", "Clear filter", show=False, tooltip="Clear a kept filter"
        ),
        *(
            Binding(keys, f"not_offered({action!r})", show=False, system=True)
            for keys, action in _NOT_OFFERED_KEYS
        ),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Show the help"),
        Binding("q", "quit", "Quit", tooltip="Quit (stops the server)"),
        Binding(
            "ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="Quit (stops the server)"
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            show=False,  # the footer shows it on the right, when there is room
            priority=True,
            tooltip="Command palette: every action in words, per client too; themes",
        ),
    ]

    paused: reactive[bool] = reactive(False, init=False)
    refresh_hz: reactive[float] = reactive(5.0, init=False)

    def __init__(
        self,
        source: Source,
        controls: Controls | None = None,
        *,
        refresh_hz: float = 5.0,
        warning: str | None = None,
        metrics_url: str | None = None,
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        playback: ReplayChannel | None = None,
        notices: Callable[[], list[str]] | None = None,
        kind_of: Callable[[str], str | None] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        """Watch `source`; offer what `controls` support (none without: a replay, say).

        A started EchoEngine is both.  `playback`: a recording's playback controls.
        `kind_of(peer)` names what a --demo client does (the table then has a Kind column).
        `recorder`: the --record recorder (the header shows REC and the file's size).
        """
        super().__init__()
        if theme is not None:
            self.theme = theme
        self.source = source
        self.controls = controls
        self.playback = playback
        self.notices = notices  # what else has something to say (the recorder)
        self.kind_of = kind_of
        self.recorder = recorder
        self.warning = warning
        self.metrics_url = metrics_url
        self.clock = clock
        self.set_reactive(
            EchoTuiApp.refresh_hz, min(REFRESH_RATES, key=lambda hz: abs(hz - refresh_hz))
        )
        self.model = ClientModel()
        self.snapshot: Snapshot | None = None  # the latest one applied
        self.failure: str | None = None  # why the engine is no longer running
        # Commands sent, each with how to word its outcome.
        self._pending: list[tuple[Future[CommandResult], Callable[[CommandResult], str]]] = []
        self._dropped_logged = 0
        self._timer: Timer | None = None
        self._muted_shown: bool | None = None  # which of Mute / Unmute the footer offers

    def compose(self) -> ComposeResult:
        # Kept as attributes: the tick uses them many times a second, also while a dialog
        # is up or the app is shutting down, when querying the screen would find nothing.
        self.status_header = StatusHeader(id="header")
        self.banner = Static(id="banner")
        self.traffic_panel = TrafficPanel(id="traffic")
        self.select_panel = SelectPanel(id="select")
        self.table = ClientsTable(self.model, self.clock, self.kind_of, id="clients")
        kind = ", kind" if self.kind_of is not None else ""
        self.filter_input = FilterInput(
            placeholder=f"address, state{kind} or fd N; Enter keeps the filter, Escape clears it",
            id="filter",
        )
        self.event_log = EventLog(id="log")
        with Vertical(id="dashboard"):
            yield self.status_header
            yield self.banner
            with Horizontal(id="panels"):
                yield self.traffic_panel
                yield self.select_panel
            yield self.table
            yield self.filter_input
            yield self.event_log
            yield DashboardFooter(wide_only=_WIDE_ONLY)
        yield TooSmall(id="too-small")  # shown instead below MIN_WIDTH x MIN_HEIGHT

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, on Linux and macOS with the fixes for a closed terminal."""
        driver_class = super().get_driver_class()
        if driver_class.__module__ != "textual.drivers.linux_driver":  # Windows, TEXTUAL_DRIVER
            return driver_class
        from echo_tui.ui.terminal import TerminalDriver

        return TerminalDriver

    def on_mount(self) -> None:
        self.table.focus()
        # Played back, the address is where it listened then; a watched program may not
        # listen yet (port 0).
        if self.playback is None and self.source.address[1]:
            hint = f"connect with: {connect_command(self.source.address)}"
            self.table.empty_hint = hint
            address = format_peer(self.source.address)
            self.event_log.write(Text(f"Listening on {address}; {hint}", "dim"))
        if self.recorder is not None:
            self.event_log.write(Text(f"Recording to {self.recorder.path}", "dim"))
        if self.metrics_url:
            self.event_log.write(Text(f"Prometheus metrics on {self.metrics_url}", "dim"))
        self._start_timer()
        self.tick()

    def on_unmount(self) -> None:
        self.source.stop()

    # -- the tick ----------------------------------------------------------------------------

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(1 / self.refresh_hz, self.tick)

    def tick(self) -> None:
        """Drain the channel and apply it; report command results and engine failure."""
        if self._exit:  # App.exit() ran (say a stop signal during startup): widgets may be gone
            return
        with self.batch_update():
            if not self.paused:
                events, snapshot, error = self.source.channel.drain()
                if self.playback is not None and self.playback.rebuilt:
                    self._start_afresh()
                log = self.event_log
                for event in events:
                    if isinstance(event, CommandResult):  # ours are logged from the future
                        if self.controls is None:  # none are ours
                            self._log_result(event)
                    else:
                        log.log_event(event)
                if snapshot is not None:
                    self._apply(snapshot)
                self.table.tick(time.monotonic())
                stack = self.screen_stack  # empty while the app shuts down
                if stack and isinstance(stack[-1], (ClientDetail, TraceScreen)):
                    stack[-1].live_update()
            else:
                error = None
            self._report_commands()
            for notice in self.notices() if self.notices else ():
                self.event_log.log_note(self.clock(), notice, ok=False)
            self._check_engine(error or self.source.error)
            self._show_header()
            self._offer_mute_or_unmute()

    def _apply(self, snapshot: Snapshot) -> None:
        previous = self.snapshot
        if previous is not None and previous.selector != snapshot.selector:
            self.event_log.log_note(
                snapshot.at, f"selector {previous.selector} → {snapshot.selector}"
            )
        self.snapshot = snapshot
        change = self.model.apply(snapshot)
        self.table.apply(change)
        self.traffic_panel.show(snapshot.totals, self.model.rates, change.window_closed)
        self.select_panel.show_snapshot(snapshot)
        dropped = snapshot.events_dropped
        if dropped > self._dropped_logged:
            self.event_log.log_dropped(dropped - self._dropped_logged)
            self._dropped_logged = dropped

    def _start_afresh(self) -> None:
        """After a seek: forget every client (the next snapshot holds all that are open)."""
        self.table.apply(self.model.reset())
        self.traffic_panel.reset()
        self.select_panel.reset()
        self.event_log.clear()  # the drain gives the events just before the new position
        self.snapshot = None
        self._dropped_logged = 0

    def _check_engine(self, error: EngineError | None) -> None:
        if self.failure is not None:
            return
        if error is not None:
            self.failure = f"engine crashed: {error.message}"
            self.event_log.log_event(error)
        elif self.source.stopped.is_set():
            self.failure = "engine stopped: the server is no longer running"
        else:
            return
        banner = self.banner
        banner.update(safe_text(f" {self.failure}  (q quits) ", "bold"))
        banner.add_class("shown")

    def _show_header(self) -> None:
        snapshot = self.snapshot
        source = self.source
        status = Status(
            address=source.address,
            selector=source.selector_name,
            uptime=None if snapshot is None else int(self.clock() - snapshot.started_at),
            clients=len(self.model.clients),
            max_clients=source.config.max_clients,
            refresh_hz=self.refresh_hz,
            paused=self.paused,
            dropped=self._dropped_logged,
            accept_paused=snapshot is not None and snapshot.totals.accept_paused,
            buffer_full=snapshot is not None and snapshot.totals.buffer_full,
            warning=connection_status(source) or self.warning,
            replay=None if self.playback is None else replay_status(self.playback),
            recording=None if self.recorder is None else recording_status(self.recorder),
        )
        self.status_header.show_status(status)  # repaints only when its text changes

    def _offer_mute_or_unmute(self) -> None:
        """Let the footer offer Unmute when the highlighted client is muted, else Mute."""
        muted = self._highlighted_muted()
        if muted != self._muted_shown:
            self._muted_shown = muted
            self.refresh_bindings()

    def _highlighted_muted(self) -> bool:
        cid = self.table.highlighted_id
        client = None if cid is None else self.model.clients.get(cid)
        return client is not None and client.stats.state == MUTED

    def unavailable(self, action: Action) -> str | None:
        """Why the controls do not offer `action`, in a few words; None when they do."""
        return unavailable(self.controls, action)

    def offers(self, action: str) -> bool:
        """Whether the controls support what the binding action `action` needs."""
        need = NEEDS.get(action)
        return need is None or self.unavailable(need) is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Of each pair bound to one key, only the one that applies now is active.

        What the controls do not support is not offered (its key says why); without
        a playback, its keys are not; with one, space pauses it rather than the view.
        """
        playback = self.playback
        if not self.offers(action):
            return False
        if action == "not_offered":
            return not self.offers(str(parameters[0]))
        if action in _VIEW_PAUSE and playback is not None:
            return False
        if action in _PLAYBACK_ACTIONS:
            if playback is None:
                return False
            if action == "seek" and self.focused is self.filter_input:
                return False  # ← and → move the cursor in the filter
        match action:
            case "mute":
                return not self._highlighted_muted()
            case "unmute":
                return self._highlighted_muted()
            case "pause":
                return not self.paused
            case "resume":
                return self.paused
            case "play":
                return playback is not None and playback.paused
            case "hold":
                return playback is not None and not playback.paused
        return True

    def _report_commands(self) -> None:
        """Notify and log the outcomes of finished commands (kick, mute, switch)."""
        if not self._pending:
            return
        still = []
        for future, words in self._pending:
            if not future.done():
                still.append((future, words))
                continue
            result = future.result()
            message = words(result)
            self.notify(
                escape(message), severity="information" if result.ok else "warning", markup=False
            )
            self._log_result(result, message)
        self._pending = still

    def _log_result(self, result: CommandResult, message: str | None = None) -> None:
        """Log a command's outcome (`message`: how to word it), unless another line tells it."""
        if not result.ok or result.command not in _SAID_ELSEWHERE:
            self.event_log.log_note(result.at or self.clock(), message or result.message, result.ok)

    def _track(
        self, future: Future[CommandResult], words: Callable[[CommandResult], str] | None = None
    ) -> None:
        """Report `future`'s outcome when done, worded by `words` (default: the engine's)."""
        self._pending.append((future, words or (lambda result: result.message)))

    # -- actions -----------------------------------------------------------------------------

    def action_kick(self) -> None:
        cid = self.table.highlighted_id
        if cid is None:
            self.notify("No client is highlighted.", severity="warning")
            return
        self.confirm_kick(cid)

    def confirm_kick(self, cid: int) -> None:
        """Ask whether to kick client `cid`, then do (the `k` key and the palette)."""
        client = self.model.clients.get(cid)
        if client is None:
            self.notify(f"Client #{cid} is no longer connected.", severity="warning")
            return
        stats = client.stats
        body = Text(end="")
        body.append("Close the connection of client ")
        body.append(f"#{cid}", "bold")
        body.append(" from ")
        body.append_text(safe_text(stats.peer, "bold"))
        body.append(f"?\nConnected {format_duration(self.clock() - stats.connected_at)} ago; ")
        body.append(f"{format_bytes(stats.bytes_in)} in, {format_bytes(stats.bytes_out)} out.")
        self.push_screen(
            ConfirmScreen(Text(f"Kick client #{cid}?", "bold"), body, "Kick"),
            lambda ok: self._kick(cid, ok),
        )

    def _kick(self, conn_id: int, confirmed: bool | None) -> None:
        if confirmed and (controls := self._controls_for("kick")) is not None:
            self._track(controls.kick(conn_id))

    def action_kick_matching(self) -> None:
        text = self.table.filter_text.strip()
        count = self.table.shown_count
        if not self.model.clients:
            self.notify("Nobody to kick: no client is connected.", severity="warning")
            return
        if not count:
            self.notify(
                f'Nobody to kick: no client matches the filter "{escape(text)}".',
                severity="warning",
                markup=False,
            )
            return
        body = Text(end="")
        if text:
            body.append("Clients matching the filter ")
            body.append_text(quoted(text, "bold"))
            body.append(" now: ")
        else:
            body.append("No filter: every client. Connected now: ")
        body.append(f"{count:,}", "bold")
        body.append(
            ".\nThe server kicks those that match when it runs the command"
            " (the number may have changed by then); the log says how many."
        )
        title = Text("Kick every client?" if not text else "Kick clients matching ", "bold")
        if text:
            title.append_text(quoted(text, "bold"))
            title.append("?", "bold")
        predicate = matcher(text, self.kind_of)

        def kick(confirmed: bool | None) -> None:
            if confirmed and (controls := self._controls_for("kick_matching")) is not None:
                self._track(controls.kick_where(predicate), kicked_words(text))

        self.push_screen(ConfirmScreen(title, body, "Kick all"), kick)

    def action_mute(self) -> None:
        cid = self.table.highlighted_id
        if cid is None:
            self.notify("No client is highlighted.", severity="warning")
            return
        self.set_muted(cid, self.model.clients[cid].stats.state != MUTED)

    def set_muted(self, cid: int, muted: bool) -> None:
        """Stop (or resume) reading from client `cid`."""
        if (controls := self._controls_for("mute")) is not None:
            self._track(controls.mute(cid, muted))

    def action_detail(self) -> None:
        cid = self.table.highlighted_id
        if cid is None:
            self.notify("No client is highlighted.", severity="warning")
            return
        self.show_detail(cid)

    def show_detail(self, cid: int) -> None:
        """Open the detail screen of client `cid` (Enter and the palette)."""
        if (controls := self._controls_for("detail")) is not None:
            self.push_screen(ClientDetail(cid, controls))

    def action_trace(self) -> None:
        if (controls := self._controls_for("trace")) is not None:
            self.push_screen(TraceScreen(controls))

    def action_unmute(self) -> None:
        self.action_mute()

    def action_sort(self) -> None:
        self.table.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.table.sort_by(self.table.sort_column)  # the current column again: reversed

    def action_filter(self) -> None:
        field = self.filter_input
        field.add_class("shown")
        field.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    def action_clear_filter(self) -> None:
        self.filter_input.clear()  # its Changed message clears the table's filter

    def on_filter_input_closed(self, event: FilterInput.Closed) -> None:
        self.filter_input.remove_class("shown")
        self.table.focus()

    def action_choose_selector(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.switch_selector(name)

        self.push_screen(SelectorChooser(available_selectors(), self.source.selector_name), chosen)

    def switch_selector(self, name: str) -> None:
        """Ask the engine to move every socket to a selector of class `name`."""
        if (controls := self._controls_for("choose_selector")) is not None:
            self._track(controls.switch_selector(name))

    def action_pause(self) -> None:
        self.paused = True

    def action_resume(self) -> None:
        self.paused = False

    def watch_paused(self) -> None:
        self._show_header()
        # The footer's Pause/Resume label after the header is on screen: re-composing the
        # footer costs about 0.1 s of CPU, which the PAUSED marker should not wait for.
        self.call_after_refresh(self.refresh_bindings)

    def watch_refresh_hz(self) -> None:
        self._start_timer()
        self._show_header()

    def action_faster(self) -> None:
        self._set_rate(+1)

    def action_slower(self) -> None:
        self._set_rate(-1)

    def _set_rate(self, step: int) -> None:
        index = REFRESH_RATES.index(self.refresh_hz) + step
        self.refresh_hz = REFRESH_RATES[max(0, min(len(REFRESH_RATES) - 1, index))]

    def action_help(self) -> None:
        """The help lists the keys of what is offered here (the screens' keys too)."""
        hidden = {"not_offered"} | (_PLAYBACK_ACTIONS if self.playback is None else _VIEW_PAUSE)
        screens = [*TraceScreen.BINDINGS] if self.offers("trace") else []
        if self.offers("detail"):
            screens += ClientDetail.BINDINGS
        offered = [
            binding
            for binding in [*self.BINDINGS, *COLUMN_KEYS, *screens]
            if (name := _action_name(binding)) not in hidden
            and not name.startswith("app.")
            and self.offers(name)
        ]
        self.clear_notifications()  # they would cover the help
        self.push_screen(HelpScreen(offered, note=None if self.playback is None else REPLAY_NOTE))

    # -- what the controls do not offer ------------------------------------------------------

    def action_not_offered(self, action: str) -> None:
        """Say in one line why dashboard action `action` is not offered here."""
        need = NEEDS[action]
        why = self.unavailable(need)
        if why is not None:
            self.notify(escape(not_offered(need, why)), severity="warning", markup=False)

    def _controls_for(self, action: str) -> Controls | None:
        """The controls, if they offer dashboard action `action`; else say why not."""
        if not self.offers(action):
            self.action_not_offered(action)
            return None
        return self.controls

    # -- replay ------------------------------------------------------------------------------

    def action_play(self) -> None:
        if self.playback is not None:  # check_action offers playback keys only in replay
            self._playback_changed(self.playback.toggle_pause)

    def action_hold(self) -> None:
        self.action_play()

    def action_seek(self, seconds: float) -> None:
        playback = self.playback
        if playback is not None:
            self._playback_changed(lambda: playback.seek(playback.position + seconds))

    def action_seek_to(self, position: float) -> None:
        playback = self.playback
        if playback is not None:
            end = playback.timeline.duration
            self._playback_changed(lambda: playback.seek(end if position < 0 else position))

    def action_speed(self, step: int) -> None:
        playback = self.playback
        if playback is not None:
            index = SPEEDS.index(playback.speed) + step
            speed = SPEEDS[max(0, min(len(SPEEDS) - 1, index))]
            self._playback_changed(lambda: playback.set_speed(speed))

    def _playback_changed(self, change: Callable[[], None]) -> None:
        change()
        self.refresh_bindings()
        self.tick()


def replay_status(playback: ReplayChannel) -> str:
    """The header's replay part: position / duration, speed, and playing or paused."""
    state = "paused" if playback.paused else ("end" if playback.at_end else "playing")
    recorded = time.strftime("%Y-%m-%d %H:%M", time.localtime(playback.timeline.header.started_at))
    return (
        f"{format_clock(playback.position)} / {format_clock(playback.timeline.duration)}"
        f"  ×{playback.speed:g} {state}  recorded {recorded}"
    )


def recording_status(recorder: Recorder) -> str:
    """The header's REC part: the file's size, or that recording stopped."""
    if not recorder.recording:
        return "stopped"
    return format_bytes(recorder.file_size())


def format_clock(seconds: float) -> str:
    """12:04 (minutes:seconds), or 1:02:03 past an hour."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def _action_name(binding: BindingType) -> str:
    action = binding.action if isinstance(binding, Binding) else binding[1]
    return action.split("(", 1)[0]


def kicked_words(filter_text: str) -> Callable[[CommandResult], str]:
    """How to word the outcome of "kick all" with `filter_text` (empty: no filter)."""

    def words(result: CommandResult) -> str:
        matching = f' matching "{filter_text}"' if filter_text else ""
        if not result.ok:
            return f"kick of clients{matching} failed: {result.message}"
        return f"kicked {result.count:,} client{'' if result.count == 1 else 's'}{matching}"

    return words
