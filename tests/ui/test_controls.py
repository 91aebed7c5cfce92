"""The seam (echo_tui.source): what the dashboard takes, and what it offers from the controls.

The coming probe's controls (kick, trace, inspect and step; no mute, no switch)
are stood for by the real engine's with those two taken away (fakes.SomeControls).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import READING
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplaySource
from echo_tui.recordings.recording import Recorder
from echo_tui.recordings.timeline import Timeline
from echo_tui.source import ACTIONS, Channel, Controls, Limited, Source, unavailable
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.commands import app_commands, client_commands
from echo_tui.ui.screens.client_detail import ClientDetail
from echo_tui.ui.screens.help import HelpScreen, key_lines
from echo_tui.ui.screens.selector_chooser import SelectorChooser
from echo_tui.ui.screens.trace import TraceScreen
from tests.ui.fakes import PROBE_MISSING, FakeEngine, SomeControls
from tests.ui.helpers import conn_id_of, notices, until

SIZE = (120, 40)
Connect = Callable[..., socket.socket]


def offered(app: EchoTuiApp) -> set[str]:
    """The actions the keys of the screen on top offer now."""
    return {active.binding.action for active in app.screen.active_bindings.values()}


def test_the_engine_the_replay_and_the_fakes_are_what_the_dashboard_takes(
    tmp_path: Path,
) -> None:
    """mypy checks the annotations (and fakes.py's); this checks every member is there."""
    path = tmp_path / "empty.jsonl"
    engine = EchoEngine(EngineConfig(port=0))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    engine.stop()
    recorder.stop()
    replay: Source = ReplaySource(Timeline(path))
    fake = FakeEngine()
    probe: Controls = SomeControls(engine, PROBE_MISSING)
    for source in (engine, replay, fake):
        assert isinstance(source, Source) and isinstance(source.channel, Channel), source
    for controls in (engine, fake, probe):
        assert isinstance(controls, Controls), controls
    assert not isinstance(replay, Controls), "a replay has no controls"

    assert all(unavailable(engine, action) is None for action in ACTIONS)
    assert all(unavailable(None, action) for action in ACTIONS)
    assert isinstance(probe, Limited) and not isinstance(engine, Limited)
    assert [a for a in ACTIONS if unavailable(probe, a)] == ["mute", "switch_selector"]


async def test_controls_without_mute_and_switch_offer_neither_and_their_keys_say_why(
    engine: EchoEngine, connect: Connect
) -> None:
    controls = SomeControls(engine, PROBE_MISSING)
    app = EchoTuiApp(engine, controls)
    async with app.run_test(size=SIZE) as pilot:
        client = connect(engine.address)
        cid = await conn_id_of(pilot, app, client)
        keys = offered(app)
        assert {"kick", "kick_matching", "detail", "trace"} <= keys, keys
        assert not keys & {"mute", "unmute", "choose_selector"}, keys

        await pilot.press("m")
        await until(pilot, lambda: "Not available: muting (a probe never stops" in notices(app))
        await pilot.press("S")
        await until(
            pilot, lambda: "Not available: switching the selector (the program" in notices(app)
        )
        assert not isinstance(app.screen, SelectorChooser)

        await pilot.press("enter")  # the detail: kick offered, mute says why
        await until(pilot, lambda: isinstance(app.screen, ClientDetail))
        assert "kick" in offered(app) and "mute" not in offered(app)
        app.clear_notifications()
        await pilot.press("m")
        await until(pilot, lambda: "Not available: muting" in notices(app))
        await pilot.press("escape")

        await pilot.press("t")  # the trace, with step mode
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))
        await pilot.press("space")
        await until(pilot, lambda: engine.steps.stepping)
        await pilot.press("escape")
        await until(pilot, lambda: not engine.steps.stepping)

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        meanings = {meaning for _, meaning in key_lines(app.screen.bindings)}
        assert {
            "Kick the highlighted client (asks first)",
            "The select() trace: every call, step by step",
            "In the trace: step mode on/off (freeze the loop between calls)",
        } <= meanings, meanings
        assert not [m for m in meanings if "mute" in m or "selector" in m], meanings
        await pilot.press("escape")

        titles = [command.title for command in app_commands(app)]
        assert "select() trace" in titles and "Kick all matching the filter" in titles
        assert not [t for t in titles if t.startswith("Switch selector")], titles
        for_client = [command.title.split(" client")[0] for command in client_commands(app)]
        assert for_client == ["Show", "Kick"], for_client

        assert app.model.clients[cid].stats.state == READING
        assert controls.refused == [], "the dashboard asked what the controls do not do"


async def test_without_step_mode_the_trace_says_why_its_keys_do_nothing(
    engine: EchoEngine,
) -> None:
    controls = SomeControls(engine, {"step": "this engine cannot stop its loop"})
    app = EchoTuiApp(engine, controls)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen))
        assert "toggle_stepping" not in offered(app) and "step" not in offered(app)
        await pilot.press("space")
        await until(pilot, lambda: "Not available: step mode (this engine cannot" in notices(app))
        assert controls.refused == [] and not engine.steps.stepping
