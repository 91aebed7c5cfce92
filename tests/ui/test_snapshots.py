"""SVG snapshots of the dashboard with deterministic data (fake engine, fixed clock).

Regenerate after an intended change with `pytest tests/ui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from textual.pilot import Pilot

from echo_tui.engine.events import AcceptPaused, Disconnected
from echo_tui.ui.app import EchoTuiApp
from tests.ui.fakes import START, FakeEngine, Traffic, fed

SECONDS = 70  # of traffic fed before the picture, so the sparklines fill up


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Log timestamps are local time: pin the zone so pictures match anywhere."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def demo_app(theme: str | None = None) -> EchoTuiApp:
    engine = FakeEngine()
    return EchoTuiApp(engine, engine, theme=theme, clock=lambda: START + SECONDS)


async def feed(pilot: Pilot) -> None:
    """Apply a minute of demo-like traffic, one snapshot per second, plus some events."""
    app: EchoTuiApp = pilot.app  # type: ignore[assignment]
    traffic = Traffic()
    for event in traffic.events():
        fed(app).put_event(event)
    for second in range(SECONDS + 1):
        fed(app).put_snapshot(traffic.snapshot(second))
        app.tick()
    await pilot.pause()


class TestMainScreen:
    def test_wide(self, snap_compare) -> None:
        assert snap_compare(demo_app(), terminal_size=(140, 44), run_before=feed)

    def test_80x24(self, snap_compare) -> None:
        assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=feed)

    def test_200x50_gives_the_log_what_the_table_does_not_need(self, snap_compare) -> None:
        assert snap_compare(demo_app(), terminal_size=(200, 50), run_before=feed)

    def test_too_small(self, snap_compare) -> None:
        assert snap_compare(demo_app(), terminal_size=(60, 18), run_before=feed)

    def test_sorted_and_filtered(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("s", "s", "s")  # In/s, biggest first
            await pilot.press("slash", *"reading", "enter")

        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=run_before)


class TestDialogs:
    def test_kick_confirmation(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("down", "down", "k")

        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run_before)

    def test_kick_matching_confirmation(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("slash", *"muted", "enter", "K")

        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run_before)

    def test_help(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("question_mark")

        assert snap_compare(demo_app(), terminal_size=(100, 34), run_before=run_before)


def test_crash_banner(snap_compare) -> None:
    from echo_tui.engine.events import EngineError

    async def run_before(pilot: Pilot) -> None:
        await feed(pilot)
        app: EchoTuiApp = pilot.app  # type: ignore[assignment]
        fed(app).put_error(
            EngineError("OSError: [Errno 24] Too many open files", "", START + SECONDS)
        )
        app.tick()
        await pilot.pause()

    assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run_before)


class TestLoopInspector:
    def test_client_detail(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            app: EchoTuiApp = pilot.app  # type: ignore[assignment]
            app.table.move_to(8)
            await pilot.press("enter", "v")
            traffic = Traffic()
            snapshot = traffic.snapshot(SECONDS)
            inspected = traffic.inspected(8, SECONDS)
            fed(app).put_snapshot(replace(snapshot, inspected=inspected))
            app.tick()
            await pilot.pause()

        assert snap_compare(demo_app(), terminal_size=(100, 40), run_before=run_before)

    def test_trace_stepping(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            app: EchoTuiApp = pilot.app  # type: ignore[assignment]
            await pilot.press("t", "space")
            fed(app).put_trace(Traffic().select_calls(SECONDS))
            app.tick()
            await pilot.pause()

        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run_before)


class TestThemes:
    """For projectors: every panel, bar and dialog stays legible on a light background."""

    def test_light_dashboard(self, snap_compare) -> None:
        app = demo_app("textual-light")
        assert snap_compare(app, terminal_size=(120, 36), run_before=feed)

    def test_light_kick_confirmation(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("down", "k")

        assert snap_compare(
            demo_app("textual-light"), terminal_size=(100, 30), run_before=run_before
        )


HOSTILE_DETAIL = "\x1b]0;pwned\x07\x1b[2J[bold red]markup?[/] \u202eevil\u200b \x9b31m"


async def feed_with_markers(pilot: Pilot) -> None:
    """A minute of traffic, then accepting paused, dropped events and a hostile detail."""
    await feed(pilot)
    app: EchoTuiApp = pilot.app  # type: ignore[assignment]
    last = Traffic().snapshot(SECONDS)
    fed(app).put_event(AcceptPaused("EMFILE", 0.5, START + SECONDS))
    fed(app).put_event(
        Disconnected(31, "127.0.0.1:50217", "error", 10, 10, START + SECONDS, HOSTILE_DETAIL)
    )
    fed(app).put_snapshot(
        replace(last, totals=replace(last.totals, accept_paused=True), events_dropped=7)
    )
    app.tick()
    await pilot.pause()


class TestMarkers:
    def test_paused(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("p")

        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=run_before)

    def test_accept_paused_dropped_events_and_an_escaped_detail(self, snap_compare) -> None:
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=feed_with_markers)

    def test_selector_chooser(self, snap_compare) -> None:
        async def run_before(pilot: Pilot) -> None:
            await feed(pilot)
            await pilot.press("S")

        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run_before)
