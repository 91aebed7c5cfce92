"""The dashboard in a real pseudo-terminal: stop signals restore the terminal."""

from __future__ import annotations

import re
import select
import signal
import socket
import termios
import time

import pytest

from tests.helpers import quiet_recording
from tests.pty_app import ENTER_ALT_SCREEN, LEAVE_ALT_SCREEN
from tests.test_cli import COMMAND

STOP_WITHIN = 2.0  # seconds from a stop signal to the exit


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signal_leaves_the_alternate_screen_and_restores_modes(pty_app, signum) -> None:
    app = pty_app()
    assert app.read_until(ENTER_ALT_SCREEN, timeout=15), bytes(app.output[-2000:])
    assert app.read_until(b"127.0.0.1", timeout=10), "the dashboard never drew its address"
    raw = termios.tcgetattr(app.slave)
    assert not raw[3] & termios.ECHO, "the app should have put the terminal in raw mode"

    signalled_at = len(app.output)
    started = time.monotonic()
    app.process.send_signal(signum)
    assert app.wait_exit(timeout=2) == 0
    assert time.monotonic() - started < 2.5

    assert LEAVE_ALT_SCREEN in app.output[signalled_at:], "alternate screen not left"
    modes = termios.tcgetattr(app.slave)
    assert modes[3] & termios.ECHO, "echo not restored"
    assert modes[3] & termios.ICANON, "canonical mode not restored"
    assert b"Traceback" not in app.output


def test_sigcont_without_a_suspend_does_not_restart_the_terminal(pty_app) -> None:
    """Textual 8.2.8 restarts application mode on any SIGCONT, with a second writer thread
    and a second input thread (`echo_tui/ui/terminal.py`); a hang-up sends SIGCONT too."""
    app = pty_app()
    assert app.read_until(b"127.0.0.1", timeout=15), "the dashboard never drew its address"
    signalled_at = len(app.output)
    app.process.send_signal(signal.SIGCONT)  # handled before the key that follows is read
    app.write(b"q")
    assert app.wait_exit(timeout=5) == 0
    assert ENTER_ALT_SCREEN not in app.output[signalled_at:], "application mode was restarted"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_replay_stops_on_a_signal_and_restores_the_terminal(pty_app, tmp_path, signum) -> None:
    path = quiet_recording(tmp_path / "session.jsonl")
    app = pty_app(command=[*COMMAND, "replay", str(path)])
    assert app.read_until_text("REPLAY", timeout=15), bytes(app.output[-2000:])
    signalled_at = len(app.output)
    app.process.send_signal(signum)
    assert app.wait_exit(timeout=STOP_WITHIN) == 0
    assert LEAVE_ALT_SCREEN in app.output[signalled_at:], "alternate screen not left"
    modes = termios.tcgetattr(app.slave)
    assert modes[3] & termios.ECHO and modes[3] & termios.ICANON, "terminal modes not restored"
    assert b"Traceback" not in app.output


def test_a_stop_signal_while_the_loop_is_frozen_in_step_mode_exits_at_once(pty_app) -> None:
    app = pty_app()
    assert app.read_until(b"127.0.0.1:", timeout=15), bytes(app.output[-2000:])
    assert app.read_until(b"\x1b", timeout=5, start=app.output.index(b"127.0.0.1:"))
    port = int(re.search(rb"127\.0\.0\.1:(\d+)", app.output).group(1))  # type: ignore[union-attr]
    shown = len(app.output)
    app.write(b"t")
    assert app.read_until_text("select() trace", timeout=10, start=shown)
    app.write(b" ")
    assert app.read_until_text("STEPPING", timeout=10, start=shown)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"held")
        assert not select.select([client], [], [], 0.5)[0], "echoed: the loop is not frozen"
        signalled_at = len(app.output)
        started = time.monotonic()
        app.process.send_signal(signal.SIGTERM)
        assert app.wait_exit(timeout=STOP_WITHIN) == 0
        assert time.monotonic() - started < STOP_WITHIN + 0.5
    assert LEAVE_ALT_SCREEN in app.output[signalled_at:], "alternate screen not left"
    assert b"Traceback" not in app.output
