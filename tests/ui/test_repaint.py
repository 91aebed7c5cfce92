"""What a tick repaints: only lines whose content changed, each row once per period at most.

The dashboard's cost is the lines it re-renders, so these tests count them: every
widget's `render_line` is wrapped to record which lines the compositor asked for.
The clock is fixed (ages do not move) and, where the test names the tick's time,
the app is paused so that only the test calls the table's `apply` and `tick`.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, RichLog

from echo_tui.engine.events import MUTED, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.widgets import select_panel
from echo_tui.ui.widgets.bars import Bars
from echo_tui.ui.widgets.clients_table import ClientsTable
from tests.helpers import recv_exactly
from tests.ui.fakes import START, Traffic, fake_app, fed
from tests.ui.helpers import conn_id_of, until

SIZE = (140, 44)
CLIENTS = 60  # more than a page: the table scrolls


class Painted:
    """Counts the lines each widget re-renders; the table's by the conn_id they show."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, table: ClientsTable) -> None:
        self.widgets: Counter[str] = Counter()
        self.rows: list[int] = []
        self.header = 0
        for cls in (Widget, RichLog, Input, ClientsTable, Bars):
            monkeypatch.setattr(cls, "render_line", self._wrap(cls.render_line))
        self.table = table

    def _wrap(self, render_line: Callable) -> Callable:
        def counted(widget: Widget, y: int):  # type: ignore[no-untyped-def]
            self.widgets[type(widget).__name__] += 1
            if widget is self.table:
                index = widget.scroll_offset.y + y - 1
                if y == 0:
                    self.header += 1
                elif index < widget.shown_count:
                    self.rows.append(widget.row_ids[index])
            return render_line(widget, y)

        return counted

    def reset(self) -> None:
        self.widgets.clear()
        self.rows.clear()
        self.header = 0

    async def settle(self, pilot: Pilot, timeout: float = 5.0) -> None:
        """Wait until 0.1 s passes with nothing repainted (the screen caught up), then reset."""
        deadline = time.monotonic() + timeout
        while True:
            self.reset()
            await pilot.pause(0.1)
            if not self.widgets:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"still repainting after {timeout}s: {self.widgets}")


def fixed_app() -> EchoTuiApp:
    return fake_app(clock=lambda: START + 70)


def at(snapshot: Snapshot, monotonic: float, **fields: Any) -> Snapshot:
    """`snapshot` as if taken at engine time `monotonic`, with `fields` replaced."""
    return dataclasses.replace(snapshot, monotonic=monotonic, **fields)


@asynccontextmanager
async def paused_table() -> AsyncIterator[tuple[EchoTuiApp, Pilot, ClientsTable, Traffic]]:
    """The app showing `Traffic` at second 10 with rates settled, its own ticks paused.

    From here on only the test applies snapshots (engine time 1013 s on) and ticks.
    """
    traffic = Traffic(CLIENTS)
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        first = traffic.snapshot(10)  # engine time 1010 s
        fed(app).put_snapshot(first)
        app.tick()
        await pilot.press("p")
        table = app.table
        for monotonic in (1011.0, 1012.0):  # a rate window with the first bytes, one without
            table.apply(app.model.apply(at(first, monotonic, changed=MappingProxyType({}))))
        table.tick(100.0)
        await pilot.pause()
        yield app, pilot, table, traffic


def visible_rows(table: ClientsTable) -> list[int]:
    top = table.scroll_offset.y
    return table.row_ids[top : top + table.scrollable_content_region.height - 1]


async def test_a_tick_without_news_repaints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = Traffic(CLIENTS)
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        fed(app).put_snapshot(traffic.snapshot(10))
        app.tick()
        painted = Painted(monkeypatch, app.table)
        await painted.settle(pilot)
        for _ in range(3):  # no snapshot: the engine had nothing to say
            app.tick()
            await pilot.pause(0.4)  # more than a repaint period in all
        assert painted.widgets == Counter()


async def test_sparklines_are_drawn_once_per_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = Traffic(CLIENTS)
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        for second in (10, 11, 12):  # two rate windows closed: the sparklines have samples
            fed(app).put_snapshot(traffic.snapshot(second))
            app.tick()
        panel, totals, rates = app.traffic_panel, app.snapshot.totals, app.model.rates
        draws: Counter[str] = Counter()
        draw = Bars._draw
        monkeypatch.setattr(Bars, "_draw", lambda bars: draws.update([bars.id]) or draw(bars))
        painted = Painted(monkeypatch, app.table)
        await painted.settle(pilot)
        draws.clear()
        panel.show(totals, rates, window_closed=False)  # a tick within the window: no sample
        await pilot.pause(0.2)
        assert painted.widgets["Bars"] == 0
        assert not draws
        panel.show(totals, rates, window_closed=True)  # a new sample
        await painted.settle(pilot)
        assert draws == Counter({"spark-in": 1, "spark-out": 1})
        app.screen.refresh()  # the whole screen repainted: the lines are drawn already
        await painted.settle(pilot)
        assert draws == Counter({"spark-in": 1, "spark-out": 1})


async def test_select_panel_builds_only_texts_whose_numbers_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: Counter[str] = Counter()

    def counting(name: str) -> Callable:
        render = getattr(select_panel, name)
        return lambda *args: built.update([name]) or render(*args)

    for name in ("render_stats", "render_histogram", "render_mini_histogram"):
        monkeypatch.setattr(select_panel, name, counting(name))
    traffic = Traffic(CLIENTS)
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")  # paused: only the test shows snapshots
        panel, first = app.select_panel, traffic.snapshot(10)
        panel.show_snapshot(at(first, 1010.0))
        assert built == Counter(render_stats=1, render_histogram=1, render_mini_histogram=1)
        panel.show_snapshot(at(first, 1010.5))  # the loop did nothing in half a second
        assert built == Counter(render_stats=1, render_histogram=1, render_mini_histogram=1)
        panel.show_snapshot(at(traffic.snapshot(11), 1011.0))
        assert built == Counter(render_stats=2, render_histogram=2, render_mini_histogram=2)


async def test_snapshot_without_changes_repaints_no_table_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with paused_table() as (app, pilot, table, traffic):
        quiet = traffic.snapshot(10)
        painted = Painted(monkeypatch, table)
        for step in range(1, 8):  # the same stats again, and rates stay at 0: nothing moves
            table.apply(app.model.apply(at(quiet, 1012.0 + step)))
            table.tick(100.0 + step * 0.3)
            await pilot.pause()
        assert painted.rows == [] and painted.header == 0
        assert painted.widgets["ClientsTable"] == 0


async def test_busy_rows_take_turns_once_per_period(monkeypatch: pytest.MonkeyPatch) -> None:
    async with paused_table() as (app, pilot, table, traffic):
        shown = visible_rows(table)
        page = len(shown)
        # Every busy client moves (cid % 3 != 0 in Traffic); the others stay as they were.
        table.apply(app.model.apply(at(traffic.snapshot(11), 1013.0)))
        busy = [cid for cid in shown if cid % 3]
        painted = Painted(monkeypatch, table)
        per_tick = []
        for step in range(1, 6):  # five ticks of 0.2 s: one period
            table.tick(100.0 + step * 0.2)
            await pilot.pause()
            per_tick.append(list(painted.rows))
            painted.reset()
        assert sorted(cid for tick in per_tick for cid in tick) == sorted(busy)
        assert max(len(tick) for tick in per_tick) <= page // 5 + 1
        assert all(tick for tick in per_tick)  # spread over the period, not all at once


async def test_a_slow_refresh_rate_looks_at_every_row_each_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with paused_table() as (app, pilot, table, traffic):
        table.apply(app.model.apply(at(traffic.snapshot(11), 1013.0)))
        painted = Painted(monkeypatch, table)
        table.tick(101.0)  # a whole period later (1 Hz): every row's turn came
        await pilot.pause()
        assert sorted(painted.rows) == sorted(cid for cid in visible_rows(table) if cid % 3)


async def test_a_state_change_repaints_that_row_at_the_next_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with paused_table() as (app, pilot, table, traffic):
        quiet = traffic.snapshot(10)
        muted = dataclasses.replace(quiet.changed[3], state=MUTED)
        table.apply(app.model.apply(at(quiet, 1013.0, changed=MappingProxyType({3: muted}))))
        painted = Painted(monkeypatch, table)
        table.tick(100.001)  # no row's turn
        await pilot.pause()
        assert painted.rows == [3]
        assert table.cell_text(3, "state") == MUTED


async def test_a_row_leaving_repaints_only_the_lines_below_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with paused_table() as (app, pilot, table, traffic):
        shown = visible_rows(table)
        gone = shown[10]
        quiet = traffic.snapshot(10)
        closed = at(quiet, 1013.0, changed=MappingProxyType({}), closed=frozenset({gone}))
        painted = Painted(monkeypatch, table)
        table.apply(app.model.apply(closed))
        table.tick(100.001)
        await pilot.pause()
        assert sorted(painted.rows) == sorted(visible_rows(table)[10:])
        assert painted.header == 0


async def test_idle_real_clients_are_not_repainted(
    engine: EchoEngine, connect: Callable[..., socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the real engine: idle clients cost no repaint; one that echoes is repainted, and
    only its row."""
    later = time.time() + 3600
    app = EchoTuiApp(engine, engine, clock=lambda: later)  # else the ages would move every second
    async with app.run_test(size=SIZE) as pilot:
        socks = [connect(engine.address) for _ in range(3)]
        ids = [await conn_id_of(pilot, app, sock) for sock in socks]
        painted = Painted(monkeypatch, app.table)
        await painted.settle(pilot)
        await pilot.pause(1.5)  # more than a repaint period: every row had its turn
        assert painted.rows == [] and painted.header == 0
        socks[1].sendall(b"x" * 2000)
        assert recv_exactly(socks[1], 2000) == b"x" * 2000
        await until(pilot, lambda: ids[1] in painted.rows)
        await pilot.pause(0.5)
        assert set(painted.rows) == {ids[1]}
