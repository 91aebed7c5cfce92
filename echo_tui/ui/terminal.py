"""Textual's Linux driver, made to survive its terminal going away (a workaround, issue 15).

Closing a terminal window closes its pseudo-terminal's master side. The kernel hangs the
terminal up (from then on every write to it fails with EIO) and sends the session leader
SIGHUP, then SIGCONT. Textual 8.2.8's `LinuxDriver` has three faults on that path; the first two
together left echo-tui hung forever in about one run in three:

1. Its SIGCONT handler restarts application mode whether or not the app was suspended.
   After a hang-up it starts a second writer thread and a second input thread (the first
   ones keep running) and makes the new writer the driver's.
2. A writer thread dies on the first write that fails (EIO), and nothing drains its queue
   of 30 writes again. The event loop's next writes block in `Queue.put` once it is full:
   the next frame, `stop_application_mode()`'s resets, or `close()`'s stop sentinel. So the
   main thread hangs in `App._shutdown -> LinuxDriver.close -> WriterThread.stop ->
   Queue.put` (the new writer is dead), while the first writer waits in `Queue.get` on its
   own, empty queue. Without SIGCONT (a terminal that is not the controlling terminal
   sends no signal) the loop hangs the same way in its next repaint.
3. Its input thread dies with EIO when it reads the closed terminal, and Textual takes that
   for a crash: the app panics, spends seconds rendering a traceback nobody can see, and
   exits with status 1.

So this driver resumes on SIGCONT only after its own SIGTSTP suspended application mode,
and treats a failed read or write of the terminal as its loss: it points echo-tui's output
on that terminal at /dev/null, so the writer thread keeps draining its queue (and Python's
last flush of stderr at exit succeeds), and asks echo-tui to stop as a hang-up does (SIGHUP).

Remove this module (and `EchoTuiApp.get_driver_class`) once Textual's writer thread survives
a failed write and its SIGCONT handler resumes only a suspended app. Reproduced for real by
tests/reliability/test_terminal_loss.py; Textual #6692 is the same undrained bounded queue,
reached through `App.suspend()`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable
from io import TextIOWrapper
from typing import IO, Any, cast

from textual.app import App
from textual.drivers.linux_driver import LinuxDriver


class TerminalDriver(LinuxDriver):
    """`LinuxDriver` that neither hangs nor resumes spuriously when its terminal is closed."""

    def __init__(self, app: App[Any], **options: Any) -> None:
        super().__init__(app, **options)
        self._lost = False
        if self._file is None:  # Python started without stderr: nothing to draw on
            raise RuntimeError("the dashboard needs a terminal on stderr")
        self._output = TerminalOutput(self._file, self._terminal_lost)
        # Every writer's output. Textual types the attribute as the stderr it defaults
        # to, but uses only write(), flush() and fileno().
        self._file = cast(TextIOWrapper, self._output)
        self._watcher: HangUpWatcher | None = None

    def start_application_mode(self) -> None:
        super().start_application_mode()
        if self._watcher is None and os.isatty(self.fileno):
            self._watcher = HangUpWatcher(self.fileno, self._terminal_lost)

    def close(self) -> None:
        super().close()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def _sigcont_application(self, *_: object) -> None:
        """Resume only if SIGTSTP suspended application mode (fault 1 above)."""
        if self._must_signal_resume:
            super()._sigcont_application()

    def run_input_thread(self) -> None:
        """Read keys until stopped; a closed terminal is a hang-up, not a crash (fault 3)."""
        try:
            super().run_input_thread()
        except OSError:
            self._terminal_lost()

    def _terminal_lost(self) -> None:
        """Send our output on that terminal to /dev/null, and stop as a hang-up does."""
        if self._lost:
            return
        self._lost = True
        terminal = os.fstat(self._output.fileno())
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in {1, 2, self._output.fileno()}:
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.fstat(fd), terminal):
                        os.dup2(null, fd)
        finally:
            os.close(null)
        self.exit_event.set()  # the input thread would spin on end-of-file until shutdown
        os.kill(os.getpid(), signal.SIGHUP)  # what the kernel sends a terminal's controller


class HangUpWatcher:
    """A thread that notices the terminal's hang-up as it happens (poll() reports POLLHUP).

    Without it, when the terminal is not our controlling terminal (no SIGHUP comes) and
    its input reads as end of file (Textual's input thread then spins, and raises
    nothing), the loss would be noticed only by the next frame written, if any.
    """

    def __init__(self, fd: int, lost: Callable[[], None]) -> None:
        self._fd = fd
        self._lost = lost
        self._wake_read, self._wake_write = os.pipe()
        self._poller = select.poll()
        self._poller.register(fd, 0)  # nothing asked for: only POLLHUP, POLLERR, POLLNVAL come
        self._poller.register(self._wake_read, select.POLLIN)
        self._thread = threading.Thread(target=self._run, name="terminal-hang-up", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for fd, events in self._poller.poll():
            if fd == self._fd and events & (select.POLLHUP | select.POLLERR):
                self._lost()  # (POLLNVAL, as macOS reports for any terminal, ends the watch)

    def stop(self) -> None:
        os.write(self._wake_write, b"\0")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)


class TerminalOutput:
    """The terminal's output for Textual's writer threads: a failed write means it is gone."""

    def __init__(self, file: IO[str], lost: Callable[[], None]) -> None:
        self._file = file
        self._lost = lost

    def write(self, text: str) -> None:
        self._attempt(self._file.write, text)

    def flush(self) -> None:
        self._attempt(self._file.flush)

    def fileno(self) -> int:
        return self._file.fileno()

    def _attempt(self, action: Callable[..., object], *args: object) -> None:
        try:
            action(*args)
        except OSError:  # fault 2: the writer thread must not die
            self._lost()
            with contextlib.suppress(OSError):
                action(*args)  # into /dev/null now
