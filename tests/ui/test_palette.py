"""The command palette (Ctrl+P) over the real engine, driven with Pilot; real client sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from textual.command import CommandList, CommandPalette, Hit
from textual.pilot import Pilot
from textual.widgets import Input

from echo_tui.engine.config import SELECTOR_CLASSES, EngineConfig, available_selectors
from echo_tui.engine.events import MUTED, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplaySource
from echo_tui.recordings.recording import Recorder
from echo_tui.recordings.timeline import Timeline
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.commands import DashboardCommands, app_commands, client_commands
from echo_tui.ui.screens.client_detail import ClientDetail
from echo_tui.ui.screens.confirm import ConfirmScreen
from echo_tui.ui.screens.trace import TraceScreen
from tests.helpers import wait_for
from tests.ui.fakes import Traffic, fake_app, fed
from tests.ui.helpers import at_eof, conn_id_of, peer_of, screen_text, until

SIZE = (120, 40)
Connect = Callable[..., socket.socket]


def prompts(app: EchoTuiApp) -> list[str]:
    """The palette's hits, top to bottom: each one's title as plain text."""
    commands = app.screen.query_one(CommandList)
    options = (commands.get_option_at_index(i) for i in range(commands.option_count))
    return [str(option.prompt).splitlines()[0] for option in options]


async def palette(pilot: Pilot, query: str, *, typed: bool = False) -> list[str]:
    """Open the palette, enter `query` (key by key if `typed`), wait for the top hit to match."""
    app: EchoTuiApp = pilot.app  # type: ignore[assignment]
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    if typed:
        await pilot.press(*query)
    else:  # one search instead of one per key: much faster on a busy machine
        app.screen.query_one(Input).value = query
    last_word = query.split()[-1].lower()
    await until(pilot, lambda: prompts(app) and last_word in prompts(app)[0].lower())
    return prompts(app)


async def test_kick_a_client_found_by_a_fragment_of_its_address(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        others = [connect(engine.address) for _ in range(3)]
        target = connect(engine.address)
        cid = await conn_id_of(pilot, app, target)
        port = peer_of(target).rsplit(":", 1)[1]
        hits = await palette(pilot, f"kick {port}", typed=True)
        assert hits[0].startswith(f"Kick client #{cid} {peer_of(target)}")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert not at_eof(target)  # nothing happens before the confirmation
        await pilot.press("y")
        await until(pilot, lambda: at_eof(target))
        await until(pilot, lambda: cid not in app.model.clients)
        assert not any(at_eof(sock) for sock in others)


async def test_mute_and_unmute_from_the_palette(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        assert (await palette(pilot, f"mute #{cid}"))[0].startswith(f"Mute client #{cid}")
        await pilot.press("enter")
        await until(pilot, lambda: app.model.clients[cid].stats.state == MUTED)
        assert (await palette(pilot, f"unmute #{cid}"))[0].startswith(f"Unmute client #{cid}")
        await pilot.press("enter")
        await until(pilot, lambda: app.model.clients[cid].stats.state != MUTED)


async def test_client_detail_and_trace_from_the_palette(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        sock = connect(engine.address)
        cid = await conn_id_of(pilot, app, sock)
        assert (await palette(pilot, f"show #{cid}"))[0].startswith(f"Show client #{cid}")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ClientDetail))
        assert app.screen.conn_id == cid  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ClientDetail))
        assert (await palette(pilot, "select() trace"))[0] == "select() trace"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))


async def test_switch_selector_sort_pause_and_refresh(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine)
    others = [SELECTOR_CLASSES[n] for n in available_selectors()[1:]]
    target = next(cls for cls in others if cls != engine.selector_name)
    async with app.run_test(size=SIZE) as pilot:
        await palette(pilot, f"switch selector to {target}")
        await pilot.press("enter")
        await until(pilot, lambda: engine.selector_name == target)

        await palette(pilot, "sort by peer")
        await pilot.press("enter")
        await until(pilot, lambda: app.table.sort_column == "peer")

        await palette(pilot, "pause view")
        await pilot.press("enter")
        await until(pilot, lambda: app.paused)
        assert (await palette(pilot, "resume view"))[0] == "Resume view"
        await pilot.press("escape")

        await palette(pilot, "refresh 20 hz")
        await pilot.press("enter")
        await until(pilot, lambda: app.refresh_hz == 20)


async def test_hostile_addresses_are_escaped_and_never_markup() -> None:
    """Addresses come from the network: even a hostile one shows as inert, escaped text."""
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        snapshot = Traffic().snapshot(1)
        cid = next(iter(snapshot.changed))
        hostile = replace(snapshot.changed[cid], peer="[bold red]x[/]\x1b[2J\u202e")
        fed(app).put_snapshot(replace(snapshot, changed=MappingProxyType({cid: hostile})))
        app.tick()
        hits = await palette(pilot, f"kick #{cid}")
        assert hits[0] == f"Kick client #{cid} [bold red]x[/]\\x1b[2J\\u202e"
        assert "\x1b" not in screen_text(app) and "\u202e" not in screen_text(app)


def test_the_palette_is_on_and_offers_the_dashboard_commands() -> None:
    assert DashboardCommands in EchoTuiApp.COMMANDS


async def test_replay_offers_no_server_commands(tmp_path: Path, connect: Connect) -> None:
    path = tmp_path / "session.jsonl"
    engine = EchoEngine(EngineConfig(port=0))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()

    def moments_with_a_client() -> list[float]:
        """When the recording (flushed so far) shows a client connected."""
        try:
            records = list(Timeline(path).records())
        except Exception:  # not even the header flushed yet
            return []
        return [r.t for r in records if type(r.item) is Snapshot and r.item.open_count]

    try:
        connect(engine.address).sendall(b"hi")
        wait_for(moments_with_a_client, timeout=10, interval=0.1)
    finally:
        engine.stop()
        recorder.stop()
    timeline = Timeline(path)
    moment = moments_with_a_client()[0]
    source = ReplaySource(timeline)
    replay = EchoTuiApp(source, clock=source.wall_clock, playback=source.channel)
    async with replay.run_test(size=SIZE) as pilot:
        await pilot.press("space")  # pause
        source.channel.seek(moment)
        replay.tick()
        assert replay.model.clients
        assert not list(client_commands(replay))
        titles = [command.title for command in app_commands(replay)]
        assert "Filter…" in titles and "Sort by Peer" in titles
        assert not [t for t in titles if t.startswith(("Kick", "Switch selector", "select()"))]


async def test_with_thousands_of_clients_the_palette_offers_the_100_best_matches() -> None:
    app = fake_app()
    async with app.run_test(size=SIZE) as pilot:
        fed(app).put_snapshot(Traffic(2000).snapshot(1))
        app.tick()
        await pilot.pause()
        provider = DashboardCommands(app.screen)

        async def client_hits(query: str) -> list[Hit]:
            return [hit async for hit in provider.search(query) if " client #" in str(hit.text)]

        # Queries that match all 6,000 client commands, and hundreds of them, by score alone.
        for query in ("client", "mute 127.0.0.1:5"):
            offered = [hit.score for hit in await client_hits(query)]
            matcher = provider.matcher(query)
            scores = [matcher.match(command.title) for command in client_commands(app)]
            matching = sorted((score for score in scores if score > 0), reverse=True)
            assert len(matching) > 100 and sorted(offered, reverse=True) == matching[:100], query
        # A client named by its id comes first, among 100 still; all, when fewer match.
        named = await client_hits("kick 12")
        assert len(named) == 100 and str(named[0].text) == "Kick client #12 127.0.0.1:50084"
        few = await client_hits("kick client #1999")
        assert 1 < len(few) < 100 and str(few[0].text) == "Kick client #1999 127.0.0.1:63993"
