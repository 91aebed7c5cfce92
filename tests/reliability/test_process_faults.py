"""Process faults: stop signals under load, an engine crash and a UI exception in a real pty.

Usage errors (port in use, permission denied, bad arguments: one line, exit 2) are covered
by tests/test_cli.py.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Sequence

import pytest

from tests.helpers import process_alive, wait_for
from tests.pty_app import LEAVE_ALT_SCREEN, PtyApp
from tests.reliability.procs import (
    REPO,
    children,
    connect_when_listening,
    free_port,
    python_process,
)

STOP_WITHIN = 2.0  # seconds from the signal to the exit, less the machine's share (README)


def assert_terminal_restored(app: PtyApp) -> bytes:
    """The alternate screen was left, echo/canonical modes are back; what came after (unstyled)."""
    assert LEAVE_ALT_SCREEN in app.output, "alternate screen not left"
    modes = termios.tcgetattr(app.slave)
    assert modes[3] & termios.ECHO and modes[3] & termios.ICANON, "terminal modes not restored"
    after = bytes(app.output[app.output.rindex(LEAVE_ALT_SCREEN) :])
    return re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", after)  # styles of the printed traceback


def assert_nothing_left(app: PtyApp, port: int, swarm: Sequence[int] = ()) -> None:
    """No process of the app's session is left, nor its `--demo` swarm (a session of its
    own, so checked by PID), and the port can be listened on again."""
    with pytest.raises(ProcessLookupError):
        os.killpg(app.process.pid, 0)
    wait_for(lambda: not any(map(process_alive, swarm)), timeout=2)
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def at_eof(sock: socket.socket, timeout: float = 2.0) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signal_under_load(pty_app, signum: int) -> None:
    port = free_port()
    app = pty_app("--port", str(port), "--demo", "5")
    assert app.read_until(b"127.0.0.1", timeout=15)
    connect_when_listening(port).close()
    load = python_process(
        "-m", "echo_tui", "load", "--port", str(port), "--connections", "20",
        "--size", "4096", "--duration", "20", "--json",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert app.read_until(b"clients 2", timeout=10), "load never showed on the dashboard"
        swarm = children(app.process.pid)
        assert len(swarm) == 1, "the --demo swarm is one process"
        # Waited longer, as a hang ends at the backstop anyway (3 s, status 1).
        status, took = app.stop_timed(signum, timeout=STOP_WITHIN + 2)
        assert status == 0 and took < STOP_WITHIN, (status, took)
        after = assert_terminal_restored(app)
        assert b"Traceback" not in app.output and b"Error" not in after
        assert_nothing_left(app, port, swarm)
        load.communicate(timeout=10)
        assert load.returncode != 0, "the load generator should have lost its connections"
    finally:
        load.kill()
        load.communicate()


def test_engine_crash_is_shown_and_exits_cleanly(pty_app) -> None:
    port = free_port()
    app = pty_app(
        "--port", str(port),
        command=(sys.executable, "-m", "tests.reliability.faulty", "engine"),
        env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert app.read_until(b"127.0.0.1", timeout=15)
    with connect_when_listening(port) as client:
        client.sendall(b"crash")
        assert app.read_until(b"engine crashed", timeout=2), "crash not shown within 2 s"
        assert at_eof(client)
    assert app.process.poll() is None, "the UI stays up to show the crash"
    app.write(b"q")
    assert app.wait_exit(timeout=3) == 1
    after = assert_terminal_restored(app)
    assert b"engine failed: RuntimeError: injected engine fault" in after
    assert b"Traceback" in after
    assert b"threads after exit: ['MainThread']" in after
    assert_nothing_left(app, port)


def test_ui_exception_stops_the_engine_and_prints_the_traceback(pty_app) -> None:
    port = free_port()
    app = pty_app(
        "--port", str(port),
        command=(sys.executable, "-m", "tests.reliability.faulty", "ui"),
        env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert app.read_until(b"127.0.0.1", timeout=15)
    with connect_when_listening(port) as client:
        client.sendall(b"hello")
        assert app.wait_exit(timeout=3) not in (0, None)
        assert at_eof(client)
    after = assert_terminal_restored(app)
    assert b"Traceback" in after and b"RuntimeError: injected UI fault" in after
    assert b"threads after exit: ['MainThread']" in after
    assert_nothing_left(app, port)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.15, 0.2])
def test_stop_signal_while_the_dashboard_starts(pty_app, signum: int, delay: float) -> None:
    """From the moment the port listens, through the UI import and mount, into the first frame."""
    port = free_port()
    app = pty_app("--port", str(port))
    connect_when_listening(port).close()
    time.sleep(delay)  # where in the start-up the signal lands, not synchronisation
    status, took = app.stop_timed(signum, timeout=STOP_WITHIN + 2)
    assert status == 0 and took < STOP_WITHIN, (status, took, bytes(app.output[-2000:]))
    assert b"Traceback" not in app.output
    modes = termios.tcgetattr(app.slave)
    assert modes[3] & termios.ECHO and modes[3] & termios.ICANON
    assert_nothing_left(app, port)
