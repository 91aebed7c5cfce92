"""`echo-tui` in a real pseudo-terminal, recording every byte it writes."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Sequence

from tests.helpers import cpu_waits, waited_since

ENTER_ALT_SCREEN = b"\x1b[?1049h"
LEAVE_ALT_SCREEN = b"\x1b[?1049l"
_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # colours and styles

# Makes the pty (its stdin) the controlling terminal of the new session, then runs the
# command, as a terminal emulator does: closing the master then hangs the terminal up and
# the kernel sends the session leader SIGHUP and SIGCONT, as closing the window would.
_AS_CONTROLLING_TERMINAL = (
    sys.executable,
    "-c",
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])",
)


class PtyApp:
    """`echo-tui` running on a pseudo-terminal; everything it writes is kept in `output`."""

    def __init__(
        self,
        *args: str,
        columns: int = 100,
        rows: int = 30,
        command: Sequence[str] = (sys.executable, "-m", "echo_tui", "--port", "0"),
        env: dict[str, str] | None = None,
        controlling: bool = False,
    ) -> None:
        """Run `command` + `args` (extra `env` on top of ours) on a new pty of that size.

        `controlling`: the pty becomes the process's controlling terminal (see `hang_up`).
        """
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.initial_modes = termios.tcgetattr(self.slave)
        # No COLUMNS/LINES: they would override the pty's size (shutil.get_terminal_size reads
        # them first), so the app would never see a resize.
        inherited = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env = {**inherited, "TERM": "xterm-256color", **(env or {})}
        prefix = _AS_CONTROLLING_TERMINAL if controlling else ()
        self.process = subprocess.Popen(
            [*prefix, *command, *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )
        self.output = bytearray()
        self.hung_up = False
        self._cpu_waits: dict[str, int] = {}  # see cpu_waits

    def read_until(self, marker: bytes, timeout: float, start: int = 0) -> bool:
        """Read output until `marker` appears after offset `start`; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while marker not in self.output[start:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                return marker in self.output[start:]
        return True

    def read_until_text(self, text: str, timeout: float, start: int = 0) -> bool:
        """`read_until` for `text` as shown: colours and styles (SGR sequences) ignored."""
        marker = text.encode()
        return self.read_until_shown(lambda shown: marker in shown, timeout, start)

    def read_until_shown(
        self, check: Callable[[bytes], bool], timeout: float, start: int = 0
    ) -> bool:
        """Read until `check(output after start, SGR sequences removed)`; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while not check(_SGR.sub(b"", bytes(self.output[start:]))):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                return check(_SGR.sub(b"", bytes(self.output[start:])))
        return True

    def resize(self, columns: int, rows: int) -> None:
        """Change the terminal's size and tell the app (SIGWINCH), as a terminal window does."""
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process.send_signal(signal.SIGWINCH)

    def write(self, keys: bytes) -> None:
        """Type `keys` on the terminal."""
        os.write(self.master, keys)

    def wait_exit(self, timeout: float) -> int | None:
        """Keep reading (a full terminal would block the app) until it exits; its status."""
        deadline = time.monotonic() + timeout
        while True:
            self.cpu_waits()  # read before the exit status is collected (then they are gone)
            if self.process.poll() is not None or time.monotonic() >= deadline:
                break
            self._read(0.05)
        while self._read(0.05):  # what it wrote last
            pass
        return self.process.poll()

    def stop_timed(self, signum: int, timeout: float) -> tuple[int | None, float]:
        """Send `signum` and wait for the exit: its status, and the seconds it took less those
        the app's threads spent waiting for a CPU (what a busy machine added)."""
        waits = self.cpu_waits()
        signalled = time.monotonic()
        self.process.send_signal(signum)
        status = self.wait_exit(timeout)
        return status, time.monotonic() - signalled - self.cpu_waited_since(waits)

    def cpu_waits(self) -> dict[str, int]:
        """Nanoseconds each of the app's threads has spent waiting for a CPU (cpu_waits);
        once it exited, as of its exit (wait_exit reads them before the exit status is
        collected)."""
        waits = cpu_waits(self.process.pid)
        if waits:
            self._cpu_waits = waits
        return self._cpu_waits

    def cpu_waited_since(self, before: dict[str, int]) -> float:
        """Seconds the app's threads have waited for a CPU since `before` (cpu_waits): what a
        busy machine, not the app, added to a time measured meanwhile (threads that ended
        meanwhile count nothing, so it errs on the side of the app)."""
        return waited_since(before, self.cpu_waits())

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

    def hang_up(self) -> None:
        """Close the terminal's master side, as a terminal window that is closed does."""
        os.close(self.master)
        os.close(self.slave)
        self.hung_up = True

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        if not self.hung_up:
            os.close(self.master)
            os.close(self.slave)
