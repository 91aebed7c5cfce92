"""The real app over the real engine, driven with Pilot; clients are real sockets."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

import pytest

from echo_tui.engine.events import MUTED, READING
from echo_tui.engine.server import EchoEngine
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.screens.confirm import ConfirmScreen
from echo_tui.ui.screens.help import SECTIONS, HelpScreen, key_lines
from echo_tui.ui.screens.selector_chooser import SelectorChooser
from echo_tui.ui.widgets.clients_table import COLUMNS
from echo_tui.ui.widgets.filter_input import FilterInput
from echo_tui.ui.widgets.select_panel import EVENTS, READS, SELECTS, SelectPanel
from tests.helpers import recv_exactly
from tests.ui.helpers import (
    at_eof,
    client_ids,
    conn_id_of,
    log_text,
    notices,
    peer_of,
    screen_text,
    until,
)

SIZE = (140, 45)
Connect = Callable[..., socket.socket]


def echo(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data


async def highlight(pilot, app: EchoTuiApp, conn_id: int) -> None:
    app.table.move_to(conn_id)
    await pilot.pause()
    assert app.table.highlighted_id == conn_id


async def test_clients_appear_with_byte_counts(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        a, b = connect(engine.address), connect(engine.address)
        echo(a, b"x" * 1000)
        echo(b, b"y" * 3)
        ida, idb = await conn_id_of(pilot, app, a), await conn_id_of(pilot, app, b)

        def cell(cid: int, column: str) -> str:
            return app.table.cell_text(cid, column)

        await until(pilot, lambda: cell(ida, "bytes_in") == "1000 B")
        await until(pilot, lambda: cell(ida, "bytes_out") == "1000 B")
        await until(pilot, lambda: cell(idb, "bytes_in") == "3 B" == cell(idb, "bytes_out"))
        assert cell(ida, "peer") == peer_of(a)
        assert cell(ida, "state") == READING
        await until(pilot, lambda: "clients 2/" in screen_text(app))


async def test_disconnect_removes_row_and_logs_reason(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        sock.close()
        await until(pilot, lambda: cid not in client_ids(app))
        await until(pilot, lambda: f"#{cid} " in log_text(app) and "peer-closed" in log_text(app))


async def test_kick_confirmed_closes_that_socket(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        keep, victim = connect(engine.address), connect(engine.address)
        await conn_id_of(pilot, app, keep)
        cid = await conn_id_of(pilot, app, victim)
        await highlight(pilot, app, cid)
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        assert f"#{cid}" in screen_text(app) and peer_of(victim) in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: at_eof(victim))
        await until(pilot, lambda: "kicked" in log_text(app))
        assert not at_eof(keep)
        echo(keep, b"still here")


async def test_kick_cancelled_keeps_the_client(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        for cancel in ("escape", "n", "enter"):  # Enter presses the focused default: Cancel
            await pilot.press("k")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(cancel)
            assert not isinstance(app.screen, ConfirmScreen)
        await pilot.pause(0.3)
        assert not at_eof(sock)
        echo(sock, b"alive")
        assert cid in client_ids(app)


async def test_kick_hits_the_named_client_while_rows_resort(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(3)]
        ids = [await conn_id_of(pilot, app, s) for s in socks]
        app.table.sort_by("bytes_in")  # biggest first
        await highlight(pilot, app, ids[1])
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        # While the dialog is open, traffic re-sorts the rows: ids[2] then ids[0] go above.
        echo(socks[2], b"z" * 5000)
        echo(socks[0], b"a" * 9000)
        await until(pilot, lambda: client_ids(app)[:2] == [ids[0], ids[2]], timeout=5)
        await pilot.press("y")
        await until(pilot, lambda: at_eof(socks[1]))
        await until(pilot, lambda: ids[1] not in client_ids(app))
        assert not at_eof(socks[0]) and not at_eof(socks[2])


async def test_cursor_follows_its_client_across_sorts(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(4)]
        ids = [await conn_id_of(pilot, app, s) for s in socks]
        echo(socks[3], b"q" * 100)
        await until(pilot, lambda: app.model.clients[ids[3]].stats.bytes_in == 100)
        await highlight(pilot, app, ids[1])
        seen = set()
        for _ in COLUMNS:
            await pilot.press("s")
            seen.add(app.table.sort_column)
            assert app.table.highlighted_id == ids[1]
        assert seen == {column.key for column in COLUMNS}
        app.table.sort_by("bytes_in")
        app.table.sort_by("bytes_in")  # again: reversed, smallest first
        assert app.table.sort_reverse is False
        assert client_ids(app)[-1] == ids[3]
        assert app.table.highlighted_id == ids[1]


async def test_header_click_sorts(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2):
            connect(engine.address)
        await until(pilot, lambda: len(client_ids(app)) == 2)
        index = [c.key for c in COLUMNS].index("bytes_in")
        x = 1 + sum(c.width + 1 for c in COLUMNS[:index]) + 2
        await pilot.click("#clients", offset=(x, 1))
        assert app.table.sort_column == "bytes_in"
        await pilot.click("#clients", offset=(x, 1))
        assert app.table.sort_column == "bytes_in" and app.table.sort_reverse is False


async def test_filter_mute_and_kick_matching(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(4)]
        ids = [await conn_id_of(pilot, app, s) for s in socks]
        for cid in (ids[0], ids[2]):
            await highlight(pilot, app, cid)
            await pilot.press("m")
            await until(pilot, lambda cid=cid: app.model.clients[cid].stats.state == MUTED)
        await pilot.press("slash")
        assert app.query_one(FilterInput).has_focus
        await pilot.press(*"muted", "enter")
        assert app.table.has_focus
        await until(pilot, lambda: sorted(client_ids(app)) == [ids[0], ids[2]])
        assert "Clients 2/4" in screen_text(app)
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen)
        assert 'Kick clients matching "muted"?' in screen_text(app)
        assert 'Clients matching the filter "muted" now: 2.' in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: at_eof(socks[0]) and at_eof(socks[2]))
        await until(pilot, lambda: len(app.model.clients) == 2)
        assert not at_eof(socks[1]) and not at_eof(socks[3])
        await until(pilot, lambda: 'kicked 2 clients matching "muted"' in log_text(app))
        # An address filter; Escape clears the filter and shows everyone again.
        await pilot.press("slash", *["backspace"] * 5, *"nomatch", "enter")
        await until(pilot, lambda: client_ids(app) == [])
        assert 'filter "nomatch"' in screen_text(app)
        await pilot.press("slash", "escape")
        assert app.filter_input.value == "" and app.table.has_focus
        await until(pilot, lambda: sorted(client_ids(app)) == [ids[1], ids[3]])


async def test_kick_all_with_nobody_to_kick_asks_nothing(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("K")
        assert not isinstance(app.screen, ConfirmScreen)
        await until(pilot, lambda: "Nobody to kick: no client is connected." in notices(app))
        sock = connect(engine.address)
        await conn_id_of(pilot, app, sock)
        app.filter_input.value = "[b]x\x1b"  # markup and an escape: quoted, escaped, not parsed
        await until(pilot, lambda: client_ids(app) == [])
        await pilot.press("K")
        assert not isinstance(app.screen, ConfirmScreen)
        shown = 'no client matches the filter "[b]x\\x1b"'
        await until(pilot, lambda: shown in notices(app))
        assert not at_eof(sock)


async def test_kick_all_reports_the_real_count(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(3)]
        for sock in socks:
            await conn_id_of(pilot, app, sock)
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Kick every client?" in screen_text(app)
        assert "Connected now: 3." in screen_text(app)
        late = connect(engine.address)  # connects while the dialog is open: kicked too
        echo(late, b"hi")
        await pilot.press("y")
        await until(pilot, lambda: all(at_eof(s) for s in [*socks, late]))
        await until(pilot, lambda: "kicked 4 clients" in log_text(app))
        assert "matching" not in log_text(app)


async def test_event_log_words_each_command_once(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        victim = connect(engine.address)
        cid = await conn_id_of(pilot, app, victim)  # the only row: highlighted
        await pilot.press("m")
        await until(pilot, lambda: f"muted #{cid} {peer_of(victim)}" in log_text(app))
        await pilot.press("m")
        await until(pilot, lambda: f"unmuted #{cid} {peer_of(victim)}" in log_text(app))
        await pilot.press("k", "y")
        await until(pilot, lambda: f"#{cid} {peer_of(victim)} kicked" in log_text(app))
        before = engine.selector_name
        await pilot.press("S")
        options = app.screen.query_one("#selectors")
        options.highlighted = app.screen.names.index("select")  # type: ignore[attr-defined]
        await pilot.press("enter")
        switched = f"selector {before} → SelectSelector"
        await until(pilot, lambda: switched in log_text(app))
        await pilot.pause(0.3)
        lines = log_text(app).splitlines()
        assert sum(1 for line in lines if "kick" in line) == 1  # the disconnect line alone
        assert sum(1 for line in lines if "selector" in line) == 1
        assert not [line for line in lines if "kick_where" in line or "switch_selector" in line]


async def test_unmute(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        await pilot.press("m")
        await until(pilot, lambda: app.model.clients[cid].stats.state == MUTED)
        await until(pilot, lambda: app.table.cell_text(cid, "state") == MUTED)
        await pilot.press("m")
        await until(pilot, lambda: app.model.clients[cid].stats.state == READING)
        echo(sock, b"back")


async def test_pause_freezes_the_view(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        first = connect(engine.address)
        await conn_id_of(pilot, app, first)
        await pilot.press("p")
        assert "PAUSED" in screen_text(app)
        second = connect(engine.address)
        echo(second, b"hi")
        await pilot.pause(0.5)
        assert len(client_ids(app)) == 1
        await pilot.press("p")
        await conn_id_of(pilot, app, second)
        assert "PAUSED" not in screen_text(app)


async def test_refresh_rate_keys(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        assert app.refresh_hz == 5
        await pilot.press("plus")
        assert app.refresh_hz == 10 and "10 Hz" in screen_text(app)
        await pilot.press("minus", "minus", "minus", "minus", "minus")
        assert app.refresh_hz == 1


async def test_selector_switch(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        await conn_id_of(pilot, app, sock)
        before = engine.selector_name
        await pilot.press("S")
        assert isinstance(app.screen, SelectorChooser)
        options = app.screen.query_one("#selectors")
        options.highlighted = app.screen.names.index("select")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: engine.selector_name == "SelectSelector")
        await until(pilot, lambda: "SelectSelector" in screen_text(app))
        switched = f"selector {before} → SelectSelector"
        await until(pilot, lambda: switched in log_text(app))
        # avg and max restart with the new selector; the two periods are shown side by side.
        panel = app.query_one(SelectPanel)
        await until(pilot, lambda: panel.border_subtitle == "avg, max: since the switch")
        periods = panel.periods.text.plain
        first, second = periods.splitlines()
        assert first.startswith(before.removesuffix("Selector")) and second.startswith("Select ")
        echo(sock, b"still echoing")
        await pilot.press("S", "escape")
        assert engine.selector_name == "SelectSelector"


async def test_help_lists_every_key_and_scrolls_to_every_panel(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        offered = app.screen.bindings  # live: every key but replay's
        assert {b.action for b in offered} >= {"kick", "mute", "faster", "quit"}  # type: ignore[union-attr]
        lines = key_lines(offered)
        for binding in offered:
            key = binding.key_display or binding.key  # type: ignore[union-attr]
            assert any(key in keys.split(", ") for keys, _ in lines), key
        for keys, meaning in lines:
            assert re.search(rf"{re.escape(keys)} +{re.escape(meaning)}", text), keys
        assert "Escape, ? or q closes this." not in text
        await pilot.press("end")  # scrolls (animated) to the last section
        await until(pilot, lambda: "Escape, ? or q closes this." in screen_text(app))
        assert "- disconnect" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_select_panel_moves_with_traffic(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(SelectPanel)
        await until(pilot, lambda: app.snapshot is not None)
        socks = [connect(engine.address) for _ in range(3)]
        deadline = time.monotonic() + 5
        while panel.meter.rates[EVENTS] < 10 and time.monotonic() < deadline:
            for sock in socks:
                echo(sock, b"ping")
            await pilot.pause(0.05)
        assert panel.meter.rates[EVENTS] >= 10 and panel.meter.rates[SELECTS] > 0
        assert panel.meter.deltas[READS] > 0
        # The panel draws once a second: the traffic goes on until the figures show.
        deadline = time.monotonic() + 5
        while not shows_events(screen_text(app)) and time.monotonic() < deadline:
            for sock in socks:
                echo(sock, b"ping")
            await pilot.pause(0.05)
        assert shows_events(screen_text(app)), screen_text(app)


async def test_select_panel_shows_the_loops_health(engine: EchoEngine, connect: Connect) -> None:
    """Iteration time and loop delay as figures, wake-ups by cause, the iteration histogram."""
    app = EchoTuiApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        await conn_id_of(pilot, app, sock)
        echo(sock, b"ping")
        panel = app.query_one(SelectPanel)
        woken = r"command +\d+%  housekeeping +[1-9]\d*%"
        timed = (
            r"iter p50 [1-9]\d*(\.\d+)?(µs|ms|s) p99 \S+ max \S+\nloop delay p99 [1-9].* max [1-9]"
        )
        await until(pilot, lambda: re.search(f"{woken}\\n{timed}", panel.stats.text.plain))
        text = screen_text(app)
        assert re.search(woken, text) and re.search(timed.replace("\\n", ".*"), text, re.S)
        assert "empty selects" not in text
        iterations = panel.iterations.text.plain.splitlines()
        assert iterations[0] == "iteration" and iterations[1].lstrip().startswith("≤")
        assert sum(int(line.rstrip("%").split()[-1]) for line in iterations[1:]) >= 95


def shows_events(text: str) -> bool:
    shown = re.search(r"events/s +(\d+)", text)
    return bool(shown and int(shown.group(1)) > 0 and re.search(r"read +[1-9]\d*%", text))


async def test_rate_falls_to_zero_when_a_client_goes_quiet(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        echo(sock, b"r" * 20_000)
        await until(pilot, lambda: app.model.clients[cid].rate_in > 0)
        await until(pilot, lambda: app.model.clients[cid].rate_in == 0, timeout=5)
        await until(pilot, lambda: app.table.cell_text(cid, "rate_in") == "0 B")


async def test_hostile_payloads_never_reach_the_screen(
    engine: EchoEngine, connect: Connect
) -> None:
    payloads = [
        b"\x1b[2J\x1b]0;owned\x07",
        b"[@click=app.quit]x[/]",
        b"[bold red]markup[/]",
        b"\x00\x85\x9b31m",
        "\u202egnp.exe\u2066\u200b".encode(),
        b"\xff\xfe invalid utf-8",
    ]
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in payloads]
        for sock, payload in zip(socks, payloads, strict=True):
            echo(sock, payload)
        for sock in socks:
            await conn_id_of(pilot, app, sock)
        socks[0].close()
        await until(pilot, lambda: "peer-closed" in log_text(app))
        assert app.is_running  # the [@click=app.quit] payload did nothing
        text = screen_text(app)
        for raw in ("\x1b", "\x00", "\x85", "\x9b", "\u202e", "\u2066", "\u200b", "\x07"):
            assert raw not in text


async def test_engine_crash_shows_a_banner_within_a_second(
    engine: EchoEngine, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)

        def boom() -> None:
            raise RuntimeError("simulated \x1b[31mfailure")

        monkeypatch.setattr(engine, "_housekeeping", boom)
        connect(engine.address)  # wakes the loop, which then crashes
        # Shown at the next refresh (at least one a second); the README allows 3 s through
        # Pilot on a loaded machine, from the crash to the banner on screen.
        shown = "engine crashed: RuntimeError: simulated \\x1b[31mfailure"
        await until(pilot, lambda: shown in screen_text(app), timeout=3)
        assert "engine error" in log_text(app)


async def test_quit_stops_the_engine(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert engine.stopped.wait(3)
    assert app.return_code == 0


async def test_cursor_stays_on_its_client_when_rows_above_go(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(5)]
        ids = [await conn_id_of(pilot, app, s) for s in socks]
        await highlight(pilot, app, ids[3])
        socks[1].close()
        await until(pilot, lambda: ids[1] not in client_ids(app))
        assert app.table.highlighted_id == ids[3]
        socks[0].close()
        socks[2].close()
        await until(pilot, lambda: client_ids(app) == [ids[3], ids[4]])
        assert app.table.highlighted_id == ids[3]


async def test_below_80x24_a_note_replaces_the_dashboard(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(60, 18)) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        text = screen_text(app)
        assert "Terminal too small (need 80×24)" in text and "now 60×18" in text
        assert "Clients" not in text
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "Clients 0/0" in screen_text(app))
        assert "too small" not in screen_text(app)
        await pilot.resize_terminal(100, 20)
        await until(pilot, lambda: "now 100×20" in screen_text(app))
        await pilot.press("q")
    assert engine.stopped.wait(3)


def test_help_defines_the_words_of_the_trace_and_the_client_detail() -> None:
    terms = {title: {term for term, _ in rows} for title, rows in SECTIONS}
    trace, detail = terms["select() trace (t)"], terms["Client detail (Enter)"]
    assert {"waited", "N ready", "keys registered", "wake-up", "ticker", "call 373"} <= trace
    # every cause the engine gives an interest change (engine/server.py, _record_interest)
    assert {"accepted", "muted, unmuted", "backpressure", "drained to", "send took"} <= detail
    assert {"N pending", "all sent", "--max-total-buffer", "peer closed", "closed"} <= detail
    assert {"iter", "loop delay", "housekeeping", "command"} <= terms["select()"]
