"""Regenerate the SVG screenshots of the real app: `python screenshots/make_screenshots.py`.

Starts a real engine on 127.0.0.1 (a free port) with the `--demo` client swarm
against it, runs the real dashboard headless, lets traffic flow, and saves:
dashboard.svg (120x36), dashboard-80x24.svg, kick-confirm.svg, help.svg, the loop
inspector's trace-stepping.svg and client-detail.svg (100x32), dashboard-light.svg
(the textual-light theme, for projectors); then records a demo session and saves
replay.svg of the dashboard playing it back, and attached.svg: the dashboard of
`echo-tui attach` on an engine served with --listen-ui.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplaySource
from echo_tui.recordings.recording import Recorder
from echo_tui.recordings.timeline import Timeline
from echo_tui.remote.attach import attached_app
from echo_tui.remote.server import ViewerServer
from echo_tui.remote.viewer import RemoteSource, connect
from echo_tui.tools.demo import DemoSwarm
from echo_tui.ui.app import EchoTuiApp

HERE = Path(__file__).resolve().parent
CLIENTS = 24
WARM_UP = 8.0  # seconds of traffic before the first picture


Step = Callable[[EchoTuiApp, Pilot], Awaitable[None]]


async def shoot(
    size: tuple[int, int],
    shots: list[tuple[str, tuple[str, ...] | Step]],
    theme: str | None = None,
) -> None:
    """Run the app at `size` against a fresh engine and swarm; after each key list (or
    step), save."""
    engine = EchoEngine(EngineConfig(port=0))
    engine.start()
    with DemoSwarm() as swarm:
        swarm.start(*engine.address, CLIENTS)
        app = EchoTuiApp(engine, engine, theme=theme, kind_of=swarm.kind_of)  # as `--demo` does
        async with app.run_test(size=size) as pilot:
            await pilot.pause(WARM_UP)
            for name, keys in shots:
                if callable(keys):
                    await keys(app, pilot)
                elif keys:
                    await pilot.press(*keys)
                    await pilot.pause(0.3)
                app.save_screenshot(name, path=str(HERE))
                print(f"wrote {HERE / name}")
    engine.stop()


async def trace_steps(app: EchoTuiApp, pilot: Pilot) -> None:
    """The trace in step mode, a few steps in."""
    await pilot.press("t")
    await pilot.pause(1.0)
    await pilot.press("space")
    for _ in range(4):
        await pilot.pause(0.4)
        await pilot.press("n")
    await pilot.pause(0.6)


async def busiest_detail(app: EchoTuiApp, pilot: Pilot) -> None:
    """The detail of the client with the most pending output (a slow reader), preview on,
    long enough for it to catch up once: its interest changes follow."""
    await pilot.press("escape")
    clients = app.model.clients
    app.table.move_to(max(clients, key=lambda cid: clients[cid].stats.pending))
    await pilot.press("enter", "v")
    await pilot.pause(16.0)


async def shoot_replay(size: tuple[int, int]) -> None:
    """Record a demo session, then save replay.svg of the dashboard paused in its middle."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "demo.jsonl.gz"
        engine = EchoEngine(EngineConfig(port=0))
        recorder = Recorder(engine, path)
        engine.start()
        recorder.start()
        with DemoSwarm() as swarm:
            swarm.start(*engine.address, CLIENTS)
            recorder.kind_of = swarm.kind_of  # as --demo --record does
            await asyncio.sleep(WARM_UP + 4)
        engine.stop()
        recorder.stop()
        source = ReplaySource(Timeline(path))
        app = EchoTuiApp(
            source,
            clock=source.wall_clock,
            playback=source.channel,
            kind_of=source.kind_of,
        )
        async with app.run_test(size=size) as pilot:
            source.channel.seek(WARM_UP - 3)
            await pilot.pause(3.2)  # rate windows close as it plays
            await pilot.press("space")
            await pilot.pause(0.3)
            app.save_screenshot("replay.svg", path=str(HERE))
            print(f"wrote {HERE / 'replay.svg'}")


async def shoot_attached(size: tuple[int, int]) -> None:
    """attached.svg: the dashboard attached over a socket to a served engine with a swarm."""
    engine = EchoEngine(EngineConfig(port=0))
    viewers = ViewerServer(engine, ("127.0.0.1", 0))
    engine.start()
    viewers.start()
    source = RemoteSource(viewers.url, connect(viewers.url, None))
    source.start()
    with DemoSwarm() as swarm:
        swarm.start(*engine.address, CLIENTS)
        app = attached_app(source)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(WARM_UP)
            app.save_screenshot("attached.svg", path=str(HERE))
            print(f"wrote {HERE / 'attached.svg'}")
    source.stop()
    engine.stop()
    viewers.stop()


async def main() -> int:
    await shoot(
        (120, 36),
        [
            ("dashboard.svg", ()),
            ("kick-confirm.svg", ("down", "down", "k")),
            ("help.svg", ("escape", "question_mark")),
        ],
    )
    await shoot((80, 24), [("dashboard-80x24.svg", ())])
    await shoot(
        (100, 32), [("trace-stepping.svg", trace_steps), ("client-detail.svg", busiest_detail)]
    )
    await shoot((120, 36), [("dashboard-light.svg", ())], theme="textual-light")
    await shoot_replay((120, 36))
    await shoot_attached((120, 36))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
