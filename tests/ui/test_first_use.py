"""What a new user meets (issue 24): the table at 80 columns, the footer, recording,
replay's context, the filter and sort, the palette, first run, Escape and toasts.

The real app over the real engine (or a real recording), driven with Pilot.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Footer

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import MUTED, CommandResult, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplaySource
from echo_tui.recordings.recording import Recorder, RecordingError
from echo_tui.recordings.timeline import Timeline
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.commands import DashboardCommands, app_commands
from echo_tui.ui.screens.help import HelpScreen
from echo_tui.ui.widgets.clients_table import ClientsTable
from tests.helpers import recv_exactly, wait_for
from tests.ui.helpers import conn_id_of, log_text, notices, peer_of, screen_text, until

Connect = Callable[..., socket.socket]


def echo(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data


def table_header(app: EchoTuiApp) -> str:
    """The table's column labels as on screen."""
    table = app.query_one(ClientsTable)
    return "".join(segment.text for segment in table.render_line(0))


def footer_text(app: EchoTuiApp) -> str:
    """The keys the footer shows (those displayed at this size)."""
    footer = app.screen.query_one(Footer)
    return " ".join(
        f"{key.key_display} {key.description}".strip()
        for key in footer.query("FooterKey")
        if key.display
    )


class Kinds:
    """What --demo's swarm reports: a kind per peer."""

    def __init__(self) -> None:
        self.by_peer: dict[str, str] = {}

    def __call__(self, peer: str) -> str | None:
        return self.by_peer.get(peer)


# -- 1. the table at 80 columns ------------------------------------------------------------


async def test_at_80_columns_kind_goes_last_and_arrows_scroll_the_columns(
    engine: EchoEngine, connect: Connect
) -> None:
    kinds = Kinds()
    app = EchoTuiApp(engine, engine, kind_of=kinds)
    async with app.run_test(size=(80, 24)) as pilot:
        sock = connect(engine.address)
        kinds.by_peer[peer_of(sock)] = "slow reader"
        echo(sock, b"x")
        await conn_id_of(pilot, app, sock)
        header = table_header(app)
        assert re.search(r"ID ↑ +Peer +State +In/s +Out/s +Pending", header), header
        assert "Kind" not in header and "Rd" not in header
        assert "→ more columns" in str(app.table.border_title)

        await pilot.press("right")
        assert table_header(app).split()[:2] == ["Peer", "State"]
        assert "← → more columns" in str(app.table.border_title)
        await pilot.press("shift+right")
        header = table_header(app)
        assert header.rstrip().endswith("Kind") and "ID" not in header
        assert "slow reader" in screen_text(app)
        assert "← more columns" in str(app.table.border_title)
        await pilot.press("h", "shift+left")
        assert table_header(app).split()[:2] == ["ID", "↑"]

        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: "Peer                  Kind" in table_header(app))


# -- 2. the footer ---------------------------------------------------------------------------


async def test_the_footer_shows_trace_and_sort_from_120_columns(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "t Trace" in footer_text(app))
        assert "s Sort" in footer_text(app)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "t Trace" not in footer_text(app))
        assert "s Sort" not in footer_text(app) and "q Quit" in footer_text(app)


# -- 3. recording ----------------------------------------------------------------------------


async def test_recording_shows_rec_with_the_size_and_logs_its_start(tmp_path: Path) -> None:
    engine = EchoEngine(EngineConfig(port=0))
    path = tmp_path / "session.jsonl"
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    try:
        app = EchoTuiApp(engine, engine, recorder=recorder)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: re.search(r" REC  \d+(\.\d+)? K?i?B", screen_text(app)))
            assert f"Recording to {path}" in log_text(app)
    finally:
        engine.stop()
        recorder.stop()
    summary = recorder.summary()
    assert summary is not None
    assert re.fullmatch(rf"recorded \d+\.\d s, \d+(\.\d)? K?i?B to {path}", summary), summary
    assert summary.endswith(f" to {path}")


# -- 4. replay keeps its context -------------------------------------------------------------


def record_a_mute(path: Path, connect: Connect) -> float:
    """Record a --demo client (a slow reader) muted and unmuted; return the last moment
    it is connected."""
    engine = EchoEngine(EngineConfig(port=0))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    kinds = Kinds()
    recorder.kind_of = kinds
    try:
        sock = connect(engine.address)
        kinds.by_peer[peer_of(sock)] = "slow reader"
        echo(sock, b"hi")
        cid = 1  # the engine's first connection
        assert engine.mute(cid, True).result(5).ok
        assert engine.mute(cid, False).result(5).ok
        return wait_for(lambda: connected_after_the_unmute(path), timeout=10, interval=0.1)
    finally:
        engine.stop()
        recorder.stop()


def connected_after_the_unmute(path: Path) -> float | None:
    """When the recording, as flushed so far, shows the client connected after its unmute."""
    try:
        records = list(Timeline(path).records())
    except RecordingError:  # not even the header flushed yet
        return None
    results = [r.t for r in records if isinstance(r.item, CommandResult)]
    snapshots = [r.t for r in records if isinstance(r.item, Snapshot) and r.item.open_count]
    after = [t for t in snapshots if len(results) == 2 and t >= results[-1]]
    return after[0] if after else None


async def test_replay_shows_kinds_logs_mutes_and_says_why_trace_and_detail_are_not_there(
    tmp_path: Path, connect: Connect
) -> None:
    path = tmp_path / "mute.jsonl"
    end = record_a_mute(path, connect)
    source = ReplaySource(Timeline(path))
    app = EchoTuiApp(
        source,
        clock=source.wall_clock,
        playback=source.channel,
        kind_of=source.kind_of,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")  # pause, then jump to the end
        source.channel.seek(end)
        app.tick()
        await until(pilot, lambda: "muted #" in log_text(app) and "unmuted #" in log_text(app))
        assert "Kind" in table_header(app) and "slow reader" in screen_text(app)

        footer = footer_text(app)
        assert "space Play" in footer and "p Pause" not in footer, footer
        await pilot.press("t")
        await until(pilot, lambda: "Not available: the select() trace" in notices(app))
        await pilot.press("enter")
        await until(pilot, lambda: "Not available: a client's detail" in notices(app))
        assert len(app.screen_stack) == 1

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_text = screen_text(app)
        assert "Replay: the dashboard plays a recording back" in help_text
        assert not re.search(r"[Kk]ick|[Mm]ute|switching", help_text.split("Dashboard")[0])
        assert not app._notifications  # the help is not covered


# -- 5. filter and sort ----------------------------------------------------------------------


async def test_the_filter_matches_the_kind_and_kick_all_kicks_those(
    engine: EchoEngine, connect: Connect
) -> None:
    kinds = Kinds()
    app = EchoTuiApp(engine, engine, kind_of=kinds)
    async with app.run_test(size=(120, 40)) as pilot:
        slow, chatty = connect(engine.address), connect(engine.address)
        kinds.by_peer[peer_of(slow)] = "slow reader"
        kinds.by_peer[peer_of(chatty)] = "chatty"
        echo(slow, b"x")
        echo(chatty, b"y")
        slow_id = await conn_id_of(pilot, app, slow)
        await conn_id_of(pilot, app, chatty)
        await pilot.press("slash", *"slow", "enter")
        assert app.table.row_ids == [slow_id]
        await pilot.press("K")
        await pilot.press("y")
        await until(pilot, lambda: "kicked 1 client matching" in log_text(app))
        await until(pilot, lambda: slow_id not in app.model.clients)
        echo(chatty, b"still here")

        assert "Sort by Kind" in [command.title for command in app_commands(app)]

        await pilot.press("escape")  # on the table: the kept filter goes
        assert app.table.filter_text == "" and app.filter_input.value == ""


async def test_r_reverses_the_sort(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        socks = [connect(engine.address) for _ in range(3)]
        ids = [await conn_id_of(pilot, app, sock) for sock in socks]
        assert app.table.row_ids == ids
        await pilot.press("r")
        assert app.table.row_ids == ids[::-1] and app.table.sort_column == "id"
        await pilot.press("r")
        assert app.table.row_ids == ids


# -- 6. the client detail --------------------------------------------------------------------


async def test_the_detail_shows_the_rates_from_before_it_opened(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=(120, 40)) as pilot:
        sock = connect(engine.address)
        echo(sock, b"x" * 1000)
        cid = await conn_id_of(pilot, app, sock)

        def sampled() -> int:
            echo(sock, b"x" * 1000)
            return len(app.model.history_of(cid))

        await until(pilot, lambda: sampled() >= 3, timeout=10)
        app.show_detail(cid)
        await pilot.pause()
        detail = app.screen
        assert len(detail.rates) >= 3  # type: ignore[attr-defined]
        assert detail.spark_in.data  # type: ignore[attr-defined]


# -- 7. the palette --------------------------------------------------------------------------


async def test_an_exact_id_in_the_palette_comes_first(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        socks = [connect(engine.address) for _ in range(5)]
        ids = [await conn_id_of(pilot, app, sock) for sock in socks]
        wanted = ids[3]
        provider = DashboardCommands(app.screen)
        hits = [hit async for hit in provider.search(f"kick {wanted}")]
        best = max(hits, key=lambda hit: hit.score)
        assert best.text.startswith(f"Kick client #{wanted} "), [h.text for h in hits]


# -- 10. first run ---------------------------------------------------------------------------


async def test_an_empty_table_and_the_log_say_how_to_connect(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        hint = f"connect with: echo-tui client --port {engine.address[1]}"
        await until(pilot, lambda: hint in screen_text(app))
        assert f"no clients connected · {hint}" in screen_text(app)
        assert hint in log_text(app)


# -- 11. Escape and toasts -------------------------------------------------------------------


async def test_toasts_are_short_and_leave_when_the_help_opens(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k")  # nobody to kick: a warning toast
        await until(pilot, lambda: "No client is highlighted" in notices(app))
        assert all(n.timeout <= 3 for n in app._notifications)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert not app._notifications


# -- 8. numbers ------------------------------------------------------------------------------


async def test_sizes_in_the_table_leave_room_between_columns(
    engine: EchoEngine, connect: Connect
) -> None:
    """Numbers and states never touch: rates and sizes take at most 8 of their 10 cells."""
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        sock = connect(engine.address)
        echo(sock, b"x" * 1_037_000)
        cid = await conn_id_of(pilot, app, sock)
        app.set_muted(cid, True)
        await until(pilot, lambda: app.model.clients[cid].stats.state == MUTED)
        assert re.search(r"muted +\S", screen_text(app))
        assert app.table.cell_text(cid, "bytes_in") == "1013 KiB"
