"""The header flags a server reachable from other machines (with the CLI's own warning), a
paused accept and dropped events."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from textual.pilot import Pilot

from echo_tui.cli import exposure_warning
from echo_tui.engine.events import Snapshot
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.widgets.header import Status, render_status
from tests.ui.fakes import START, Traffic, fake_app, fed
from tests.ui.helpers import screen_text, until


async def header_after(app: EchoTuiApp, pilot: Pilot, snapshot: Snapshot) -> str:
    """The header's text once `snapshot` is applied."""
    fed(app).put_snapshot(snapshot)
    app.tick()
    await pilot.pause()
    return app.status_header.text.plain


async def test_a_non_loopback_address_is_flagged_in_the_header(make_engine) -> None:
    engine = make_engine(host="0.0.0.0")
    port = engine.address[1]
    warning = exposure_warning(engine.address[0])
    assert warning is not None
    app = EchoTuiApp(engine, engine, warning=warning)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await until(pilot, lambda: screen_text(app) if app.snapshot else None)
        assert f"⚠ 0.0.0.0:{port} (not loopback)" in text
        assert "other machines can connect" in text


async def test_loopback_is_not_flagged(engine) -> None:
    assert exposure_warning(engine.address[0]) is None
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await until(pilot, lambda: screen_text(app) if app.snapshot else None)
        assert f"127.0.0.1:{engine.address[1]}" in text
        assert "not loopback" not in text and "⚠" not in text


async def test_accept_paused_and_dropped_events_show_in_the_header_while_they_hold() -> None:
    traffic = Traffic(4)
    app = fake_app(clock=lambda: START + 10)
    async with app.run_test(size=(120, 40)) as pilot:
        show = partial(header_after, app, pilot)
        first = traffic.snapshot(5)
        paused = replace(first, totals=replace(first.totals, accept_paused=True), events_dropped=7)
        header = await show(paused)
        assert "ACCEPT PAUSED" in header and "7 events dropped" in header
        assert "ACCEPT PAUSED" in screen_text(app)  # drawn
        header = await show(replace(traffic.snapshot(6), events_dropped=7))  # accepting again
        assert "ACCEPT PAUSED" not in header
        assert "7 events dropped" in header, "the count is since start: it stays"


async def test_buffer_full_shows_in_the_header_while_the_global_bound_holds() -> None:
    traffic = Traffic(4)
    app = fake_app(clock=lambda: START + 10)
    async with app.run_test(size=(120, 40)) as pilot:
        first = traffic.snapshot(5)
        full = replace(first, totals=replace(first.totals, buffer_full=True))
        assert "BUFFER FULL" in await header_after(app, pilot, full)
        assert "BUFFER FULL" in screen_text(app)  # drawn
        assert "BUFFER FULL" not in await header_after(app, pilot, traffic.snapshot(6))  # lifted


def test_a_program_that_listens_nowhere_yet_is_not_flagged() -> None:
    """A watched program's address is unknown until it listens: said, never flagged."""
    status = Status(
        address=("", 0), selector="EpollSelector", uptime=1, clients=0, max_clients=10_000,
        refresh_hz=5, paused=False, dropped=0, accept_paused=False, buffer_full=False,
    )  # fmt: skip
    text = render_status(status).plain
    assert "not listening" in text and "not loopback" not in text and ":0" not in text
