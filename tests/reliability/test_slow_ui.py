"""A UI slower than the engine: the engine echoes on, memory stays bounded, totals catch up."""

from __future__ import annotations

import gc
import time

from echo_tui.ui.app import EchoTuiApp
from echo_tui.units import format_bytes
from tests.reliability.procs import rss_bytes
from tests.ui.helpers import screen_text, until

UI_DELAY = 0.4  # seconds each slowed tick blocks the UI (the engine ticks every 0.1 s)
SPEED_RATIO = 0.5  # echo rate with the slowed UI, at least this fraction of the UI-less rate
RSS_GROWTH = 32 * 1024 * 1024


def slowed(app: EchoTuiApp) -> dict[str, bool]:
    """Make every tick of `app` block for UI_DELAY s while the returned flag["on"] is true."""
    flag = {"on": True}
    tick = app.tick

    def slow_tick() -> None:
        if flag["on"]:
            time.sleep(UI_DELAY)  # a slow terminal or a busy machine, not synchronisation
        tick()

    app.tick = slow_tick  # type: ignore[method-assign]
    return flag


async def test_engine_outruns_a_slow_ui(engine, load) -> None:
    baseline = load(engine.address, 8, 2)
    status, alone = await baseline.result()
    assert status == 0 and alone["mismatches"] == 0

    app = EchoTuiApp(engine, refresh_hz=10)
    slow = slowed(app)
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
    assert ratio >= SPEED_RATIO, (with_slow_ui["messages_per_s"], alone["messages_per_s"])
    assert growth < RSS_GROWTH
