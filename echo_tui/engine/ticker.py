"""Ticker: wakes the engine's loop when housekeeping is due, so its select() needs no timeout."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time


class Ticker:
    """A thread that makes `reader` readable at the monotonic time last given to arm().

    The loop registers `reader` in its selector and calls select() without a
    timeout: no clock read and no timeout arithmetic per select(), one wake-up
    per tick instead.  arm() and take() are for the engine thread.
    """

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        self._wakeup = threading.Condition()
        self._due = math.inf
        self.fired_for = 0.0  # the due time of the last wake-up (its lateness is loop delay)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="echo-engine-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def arm(self, due: float) -> None:
        """Make `reader` readable at `due` (time.monotonic()), instead of any earlier request."""
        with self._wakeup:
            self._due = due
            self._wakeup.notify()

    def take(self) -> None:
        """Consume the wake-up that made `reader` readable."""
        with contextlib.suppress(OSError):  # BlockingIOError: nothing (more) to read
            self.reader.recv(64)

    def close(self) -> None:
        """Stop the thread and close both sockets. Safe to call more than once."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
        if self._thread.is_alive():
            self._thread.join()
        self.reader.close()
        self._writer.close()

    def _run(self) -> None:
        with self._wakeup:
            while not self._closed:
                delay = self._due - time.monotonic()
                if delay > 0:
                    self._wakeup.wait(None if delay == math.inf else delay)
                    continue
                self.fired_for, self._due = self._due, math.inf
                with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is pending
                    self._writer.send(b"\0")
