"""Operator faults on the real dashboard (Pilot) over the real engine, under real traffic."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from echo_tui.engine.config import available_selectors
from echo_tui.engine.events import MUTED
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.screens.confirm import ConfirmScreen
from tests.helpers import recv_exactly
from tests.reliability.procs import connect_when_listening, free_port
from tests.ui.helpers import at_eof, conn_id_of, log_text, until

SIZE = (140, 45)
RESIZE_WITHIN = 3.0  # seconds from SIGWINCH to the redraw at the new size (0.2-1.6 s at load 15)
KEY_WITHIN = 0.2  # seconds from a key typed in the terminal to its effect drawn


async def highlight(pilot, app: EchoTuiApp, conn_id: int) -> None:
    await until(pilot, lambda: conn_id in app.table.row_ids)
    app.table.move_to(conn_id)
    await pilot.pause()
    assert app.table.highlighted_id == conn_id


def echo(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data


async def test_kick_a_client_that_just_left(engine, connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    async with app.run_test(size=SIZE) as pilot:
        leaving, staying = connect(engine.address), connect(engine.address)
        cid = await conn_id_of(pilot, app, leaving)
        await conn_id_of(pilot, app, staying)
        await highlight(pilot, app, cid)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        leaving.close()  # gone while the dialog asks
        await until(pilot, lambda: cid not in app.model.clients)
        replacement = connect(engine.address)  # may even reuse the fd
        await conn_id_of(pilot, app, replacement)
        await pilot.press("y")
        await until(pilot, lambda: f"#{cid} is not connected" in log_text(app))
        assert app.snapshot.totals.closed.get("kicked", 0) == 0
        assert app.snapshot.open_count == len(app.model.clients) == 2
        echo(staying, b"still here")
        echo(replacement, b"me too")


async def test_kick_mute_and_kick_everyone_during_heavy_traffic(engine, connect, load) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    async with app.run_test(size=SIZE) as pilot:
        traffic = load(engine.address, 4, 60)  # ends when kicked
        await until(pilot, lambda: app.snapshot and app.snapshot.open_count == 4, timeout=10)
        kicked, muted, control = (connect(engine.address) for _ in range(3))
        kicked_id = await conn_id_of(pilot, app, kicked)
        muted_id = await conn_id_of(pilot, app, muted)
        await conn_id_of(pilot, app, control)

        await highlight(pilot, app, kicked_id)
        await pilot.press("k", "y")
        await until(pilot, lambda: at_eof(kicked))
        echo(control, b"x" * 4096)

        await highlight(pilot, app, muted_id)
        await pilot.press("m")
        await until(pilot, lambda: app.model.clients[muted_id].stats.state == MUTED)
        muted.sendall(b"m" * 65536)
        muted.settimeout(0.3)
        with pytest.raises(TimeoutError):
            muted.recv(1)  # not read, so not echoed
        echo(control, b"y" * 4096)
        await pilot.press("m")
        assert recv_exactly(muted, 65536) == b"m" * 65536

        await until(pilot, lambda: app.snapshot.totals.bytes_in > 1_000_000, timeout=10)
        before = app.snapshot.open_count
        assert before == 6
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.snapshot.open_count == 0 and not app.model.clients)
        assert app.snapshot.totals.closed["kicked"] == 1 + before
        assert at_eof(muted) and at_eof(control)
        status, _ = await traffic.result()
        assert status == 1, "the load generator should report its lost connections"


async def test_switch_selectors_under_load(engine, load) -> None:
    names = [n for n in available_selectors() if n != "default"]
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    async with app.run_test(size=SIZE) as pilot:
        traffic = load(engine.address, 8, 4)
        await until(pilot, lambda: app.snapshot and app.snapshot.totals.bytes_in > 100_000)
        for name in names * 3:
            result = await asyncio.to_thread(engine.switch_selector(name).result, 2)
            assert result.ok, result.message
            assert result.count == 8 + 3  # 8 clients, the listener, the wake-up and ticker sockets
            await asyncio.sleep(0.15)  # traffic flows on the new selector meanwhile
        assert traffic.process.poll() is None, "every switch should happen under load"
        await until(pilot, lambda: app.snapshot.selector == engine.selector_name)
        status, summary = await traffic.result()
        assert status == 0 and summary["mismatches"] == summary["errors"] == 0
        assert summary["messages"] > 100
        await until(pilot, lambda: app.snapshot.totals.bytes_out == summary["messages"] * 1024)


async def test_long_pause_keeps_the_channel_bounded(make_engine, swarm) -> None:
    engine = make_engine(channel_capacity=300)
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        assert app.paused
        shown = app.snapshot
        churn = swarm("churn", *engine.address, 3000, 8)
        assert churn.result()["cycles"] == 3000  # 6,000 lifecycle events while paused
        await pilot.pause(0.5)
        assert len(engine.channel) <= 300 and engine.channel.dropped >= 6000 - 300
        assert app.snapshot is shown, "a paused view does not change"
        await pilot.press("p")
        await until(pilot, lambda: app.snapshot and app.snapshot.totals.accepted == 3000)
        assert app.snapshot.open_count == 0 and not app.model.clients
        await until(pilot, lambda: "dropped" in log_text(app))
        assert len(engine.channel) <= 300


def drawn_at(columns: int, rows: int) -> str:
    """Text that only a frame drawn at columns×rows shows: the clients panel's bottom border,
    as wide as the terminal, or below 80×24 the notice naming the size."""
    if columns < 80 or rows < 24:
        return f"now {columns}×{rows}"
    return "╰" + "─" * (columns - 2) + "╯"


def test_resize_repeatedly_under_traffic(pty_app, load) -> None:
    port = free_port()
    app = pty_app("--port", str(port), columns=140, rows=45)
    assert app.read_until(b"127.0.0.1", timeout=15)
    connect_when_listening(port).close()
    traffic = load(("127.0.0.1", port), 8, 4)
    assert app.read_until(b"clients 8/", timeout=10)
    for columns, rows in [(80, 24), (250, 70), (40, 12), (120, 40), (20, 6), (140, 45)] * 5:
        drawn = len(app.output)
        app.resize(columns, rows)
        assert app.read_until_text(drawn_at(columns, rows), timeout=RESIZE_WITHIN, start=drawn), (
            f"not redrawn at {columns}×{rows} within {RESIZE_WITHIN} s"
        )
    assert app.process.poll() is None
    typed = len(app.output)
    started = time.monotonic()
    app.write(b"p")
    assert app.read_until(b"PAUSED", timeout=2, start=typed)
    assert time.monotonic() - started < KEY_WITHIN
    status, summary = traffic.wait()
    assert status == 0 and summary["mismatches"] == summary["errors"] == 0
    app.write(b"q")
    assert app.wait_exit(timeout=3) == 0


async def test_quit_while_clients_stream(engine, load) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        traffic = load(engine.address, 4, 60)  # ends when kicked
        await until(pilot, lambda: app.snapshot and app.snapshot.totals.bytes_in > 500_000)
        await pilot.press("q")
    assert engine.stopped.wait(2)
    status, _ = await traffic.result(timeout=10)
    assert status == 1, "the load generator should see its connections closed"
