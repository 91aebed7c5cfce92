"""A UI slower than the engine: the engine echoes on, memory stays bounded, totals catch up.

Two kinds of slow: a tick that waits (a slow terminal; it releases the GIL) and a tick that
computes (pure Python holding the GIL, which the engine thread then has to share).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from echo_tui.ui.app import EchoTuiApp
from echo_tui.units import format_bytes
from tests.reliability.procs import rss_bytes
from tests.ui.helpers import screen_text, until

SPEED_RATIO = 0.5  # echo rate with the slowed UI, at least this fraction of the UI-less rate
RSS_GROWTH = 32 * 1024 * 1024


def wait_400ms() -> None:
    """A tick that blocks 0.4 s at 10 Hz (the engine ticks every 0.1 s): a slow terminal."""
    time.sleep(0.4)  # the slowness under test, not synchronisation


def compute_50ms() -> None:
    """A tick that computes for 50 ms of every 200 ms (at 5 Hz), holding the GIL meanwhile
    but for the interpreter's switches.  50 ms of wall-clock time: 50 ms of the thread's
    own CPU time would last longer on a busy machine, and the engine waits for the GIL
    through all of it."""
    until = time.monotonic() + 0.05
    while time.monotonic() < until:
        sum(range(1000))


def slowed(app: EchoTuiApp, slow_down: Callable[[], None]) -> dict[str, bool]:
    """Make every tick of `app` call `slow_down` first while the returned flag["on"] is true."""
    flag = {"on": True}
    tick = app.tick

    def slow_tick() -> None:
        if flag["on"]:
            slow_down()
        tick()

    app.tick = slow_tick  # type: ignore[method-assign]
    return flag


@pytest.mark.parametrize(("slow_down", "refresh_hz"), [(wait_400ms, 10), (compute_50ms, 5)])
async def test_engine_outruns_a_slow_ui(engine, load, capsys, slow_down, refresh_hz) -> None:
    baseline = load(engine.address, 8, 2)
    status, alone = await baseline.result()
    assert status == 0 and alone["mismatches"] == 0

    app = EchoTuiApp(engine, engine, refresh_hz=refresh_hz)
    slow = slowed(app, slow_down)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause(0.5)
        gc.collect()
        rss_before = rss_bytes()
        status, with_slow_ui = await load(engine.address, 8, 2).result()
        assert status == 0 and with_slow_ui["mismatches"] == 0
        assert len(engine.channel) <= engine.channel.capacity
        growth = rss_bytes() - rss_before

        slow["on"] = False
        echoed = (alone["messages"] + with_slow_ui["messages"]) * 1024
        await until(pilot, lambda: app.snapshot.totals.bytes_out == echoed, timeout=5)
        assert app.snapshot.totals.bytes_in == echoed
        assert app.snapshot.totals.accepted == 16 and app.snapshot.open_count == 0
        await until(pilot, lambda: f"total in {format_bytes(echoed)}" in screen_text(app))

    ratio = with_slow_ui["messages_per_s"] / alone["messages_per_s"]
    with capsys.disabled():
        print(
            f"\nUI tick slowed by {slow_down.__name__}: the engine echoed "
            f"{with_slow_ui['messages_per_s']:,.0f} msgs/s, {ratio:.2f}x its rate with no UI"
        )
    assert ratio >= SPEED_RATIO, (with_slow_ui["messages_per_s"], alone["messages_per_s"])
    assert growth < RSS_GROWTH
