"""The dashboard in a real pseudo-terminal: stop signals restore the terminal."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

ENTER_ALT_SCREEN = b"\x1b[?1049h"
LEAVE_ALT_SCREEN = b"\x1b[?1049l"


class PtyApp:
    """`echo-tui` running on a pseudo-terminal; everything it writes is kept in `output`."""

    def __init__(self, *args: str, columns: int = 100, rows: int = 30) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.initial_modes = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "echo_tui", "--port", "0", *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )
        self.output = bytearray()

    def read_until(self, marker: bytes, timeout: float, start: int = 0) -> bool:
        """Read output until `marker` appears after offset `start`; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while marker not in self.output[start:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                return marker in self.output[start:]
        return True

    def wait_exit(self, timeout: float) -> int | None:
        """Keep reading (a full terminal would block the app) until it exits; its status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        while self._read(0.05):  # what it wrote last
            pass
        return self.process.poll()

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return self.process.poll() is None
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side closed
            return False
        self.output += chunk
        return bool(chunk)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def pty_app():
    apps: list[PtyApp] = []

    def start(*args: str) -> PtyApp:
        app = PtyApp(*args)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


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
