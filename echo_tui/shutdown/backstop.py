"""The last resort once echo-tui has been asked to stop: a bound on how long stopping takes.

A stop signal (or the terminal's loss, which the dashboard turns into SIGHUP) starts an
orderly shutdown that should take well under a second. Should it hang anyway (a UI thread
blocked writing to a terminal that no longer reads, a bug in a library), the backstop
restores what it can of the terminal, says so in one line on stderr, kills the demo swarm
and ends the process with `os._exit`, which also releases every socket left open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from echo_tui.shutdown.signals import SignalSafeEvent

BOUND = 3.0  # seconds from the stop request to the forced exit
FORCED_EXIT = 1  # the orderly shutdown failed
_WRITE_BOUND = 0.5  # seconds the last writes may block (a terminal that does not read)

# What the dashboard turns on, turned off: kitty keyboard, mouse reporting, bracketed paste,
# focus events, in-band resize; line wrap and the cursor back; the alternate screen left.
RESET_TERMINAL = (
    b"\x1b[<u\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l\x1b[?2004l"
    b"\x1b[?1004l\x1b[?2048l\x1b[?7h\x1b[?1049l\x1b[?25h"
)


class Backstop:
    """Once armed, exits the process `bound` seconds later unless it has exited by itself."""

    def __init__(self, bound: float = BOUND) -> None:
        self.bound = bound
        self._armed = False
        self._wake = SignalSafeEvent()  # armed (maybe by a signal handler), or closed unarmed
        self._terminal: tuple[int, list] | None = None  # fd and its modes to restore
        self._children: list[int] = []
        # Started now, not when armed: a signal handler must not start threads (the main
        # thread it interrupts may hold threading's internal locks).
        self._thread = threading.Thread(target=self._run, name="echo-backstop", daemon=True)
        self._thread.start()

    def guard_terminal(self, fd: int) -> None:
        """Remember the terminal on `fd` as it is now, to put it back if the backstop fires."""
        import termios

        with contextlib.suppress(termios.error, OSError):
            self._terminal = (fd, termios.tcgetattr(fd))

    def guard_child(self, pid: int) -> None:
        """Kill process `pid` too if the backstop fires."""
        self._children.append(pid)

    def arm(self) -> None:
        """Start the countdown (safe in a signal handler; arming twice changes nothing)."""
        self._armed = True
        self._wake.set()

    def close(self) -> None:
        """Stopped without a stop request: end the thread. An armed backstop stays armed."""
        if not self._armed:
            self._wake.set()
            self._thread.join()

    def _run(self) -> None:
        self._wake.wait()
        if not self._armed:
            return
        time.sleep(self.bound)
        for pid in self._children:
            with contextlib.suppress(OSError):
                os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # Windows: no SIGKILL
        # os.write, not print: a blocked thread may hold sys.stderr's lock, and the writes
        # get a thread of their own because a terminal that does not read blocks them.
        writer = threading.Thread(target=self._restore_and_say, daemon=True)
        writer.start()
        writer.join(_WRITE_BOUND)
        os._exit(FORCED_EXIT)

    def _restore_and_say(self) -> None:
        if self._terminal is not None:
            import termios

            fd, modes = self._terminal
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSANOW, modes)
            with contextlib.suppress(OSError):
                os.write(2, RESET_TERMINAL)
        message = f"echo-tui: did not stop within {self.bound:g} s of the request; forced exit\n"
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
