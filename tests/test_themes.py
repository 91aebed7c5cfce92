"""Themes: `--theme NAME` from Textual's built-in themes, and the palette's theme switcher."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from textual.theme import BUILTIN_THEMES
from textual.widgets import Input

from echo_tui.engine.server import EchoEngine
from echo_tui.ui.app import EchoTuiApp
from tests.helpers import quiet_recording
from tests.test_cli import COMMAND, assert_usage_error, run
from tests.ui.helpers import until
from tests.ui.test_palette import prompts


def test_help_lists_every_theme() -> None:
    result = run("--help")
    assert result.returncode == 0
    themes = result.stdout.split("themes (--theme NAME", 1)[1]
    for name in BUILTIN_THEMES:
        assert name in themes


def test_an_unknown_theme_is_a_one_line_usage_error_listing_the_valid_ones() -> None:
    result = run("--theme", "chartreuse")
    assert_usage_error(result, "unknown theme 'chartreuse'", *BUILTIN_THEMES)


def test_theme_is_for_the_dashboard_only() -> None:
    assert_usage_error(run("--headless", "--theme", "nord"), "--theme", "--headless")


def test_replay_takes_the_same_theme_option(tmp_path: Path) -> None:
    replay = "echo-tui replay"
    path = str(tmp_path / "any.jsonl")  # never read: the options are refused first
    assert_usage_error(run("replay", path, "--theme", "chartreuse"), "unknown theme", prog=replay)
    assert_usage_error(
        run("replay", path, "--headless", "--theme", "nord"), "--theme", "--headless", prog=replay
    )


def test_a_replay_in_a_terminal_shows_the_theme_chosen(tmp_path: Path, pty_app) -> None:
    path = quiet_recording(tmp_path / "short.jsonl")
    app = pty_app(
        command=[*COMMAND, "replay", str(path), "--theme", "textual-light"],
        env={"COLORTERM": "truecolor"},
    )
    light = BUILTIN_THEMES["textual-light"].background
    assert light is not None and light != BUILTIN_THEMES["textual-dark"].background
    red, green, blue = (int(light[i : i + 2], 16) for i in (1, 3, 5))  # "#E0E0E0"
    assert app.read_until_text("REPLAY", timeout=15), bytes(app.output[-2000:])
    assert app.read_until(f"48;2;{red};{green};{blue}m".encode(), timeout=5)
    app.write(b"q")
    assert app.wait_exit(timeout=10) == 0


async def test_the_theme_applies_and_the_palette_switches_it(engine: EchoEngine) -> None:
    app = EchoTuiApp(engine, engine, theme="textual-light")
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "textual-light" and not app.current_theme.dark
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(Input).value = "theme"
        await pilot.pause(0.3)
        await pilot.press("enter")  # the "Theme" command: a palette of themes
        await until(pilot, lambda: "themes" in str(app.screen.query_one(Input).placeholder))
        app.screen.query_one(Input).value = "solarized-dark"
        await until(pilot, lambda: prompts(app)[:1] == ["solarized-dark"])
        await pilot.press("down", "enter")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette))
        assert app.theme == "solarized-dark" and app.current_theme.dark
