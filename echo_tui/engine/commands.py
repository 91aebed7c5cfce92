"""What other threads may ask of the engine, and the inbox that carries it.

Each command travels with a `Future` that the engine thread completes with a
`CommandResult`; the same result is also published on the event channel.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from echo_tui.engine.events import CommandResult, ConnectionStats


@dataclass(frozen=True, slots=True)
class Kick:
    conn_id: int


@dataclass(frozen=True, slots=True)
class KickWhere:
    predicate: Callable[[ConnectionStats], bool]


@dataclass(frozen=True, slots=True)
class Mute:
    conn_id: int
    muted: bool


@dataclass(frozen=True, slots=True)
class SwitchSelector:
    name: str


@dataclass(frozen=True, slots=True)
class Trace:
    """Record every select() call for the consumer (see EventChannel.take_trace), or stop."""

    on: bool


@dataclass(frozen=True, slots=True)
class Inspect:
    """Record the interest changes of client `conn_id` (None: of no client) and, with
    `preview`, the last bytes it sent."""

    conn_id: int | None
    preview: bool = False


Command = Kick | KickWhere | Mute | SwitchSelector | Trace | Inspect
QUIET_COMMANDS = (Trace, Inspect)  # the UI's own bookkeeping: not logged as events

_NAMES = {
    Kick: "kick",
    KickWhere: "kick_where",
    SwitchSelector: "switch_selector",
    Trace: "trace",
    Inspect: "inspect",
}


def command_name(command: Command) -> str:
    """The name a CommandResult carries for `command` ("kick", "kick_where", "unmute", ...)."""
    if isinstance(command, Mute):
        return "mute" if command.muted else "unmute"
    return _NAMES[type(command)]


@dataclass(slots=True)
class Envelope:
    command: Command
    future: Future[CommandResult] = field(default_factory=Future)

    def refuse(self, message: str) -> None:
        """Answer the command with a failure, without running it."""
        self.future.set_result(CommandResult(command_name(self.command), False, message))


class CommandInbox:
    """A thread-safe queue plus a wake-up socketpair the engine's selector watches."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Envelope] = queue.SimpleQueue()
        self.wake_reader, self._wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def submit(self, command: Command) -> Future[CommandResult]:
        """Queue a command and wake the engine; the future completes when it is done."""
        envelope = Envelope(command)
        self._queue.put(envelope)
        self.wake()
        return envelope.future

    def wake(self) -> None:
        # BlockingIOError: a wake-up is already pending; OSError: closed.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def take_all(self) -> list[Envelope]:
        """Empty the wake-up pipe and return the queued commands that still want an answer.

        Commands whose future its caller cancelled are dropped; the others' futures are
        marked running, so they can no longer be cancelled and `set_result` cannot fail.
        """
        try:
            while self.wake_reader.recv(4096):
                pass
        except OSError:  # BlockingIOError: empty; OSError: closed
            pass
        taken: list[Envelope] = []
        while True:
            try:
                envelope = self._queue.get_nowait()
            except queue.Empty:
                return taken
            if envelope.future.set_running_or_notify_cancel():
                taken.append(envelope)

    def refuse_all(self, message: str) -> None:
        """Complete every queued command's future with a failure (once the engine is gone)."""
        for envelope in self.take_all():
            envelope.refuse(message)

    def close(self) -> None:
        self.wake_reader.close()
        self._wake_writer.close()


class StepControl:
    """Step mode: freeze the loop between select() calls, let it run one call at a time.

    Not a command in the inbox: a frozen loop does not read its inbox.  The UI
    thread calls `set_stepping` and `step`; the engine thread calls `wait_turn`
    before each select() while stepping; `release` (engine stop) ends every wait.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.stepping = False  # read by the engine thread without the lock: a plain flag
        self.frozen = False  # the engine thread waits for a step (and has none to take)
        self._steps = 0
        self._released = False

    def set_stepping(self, on: bool) -> None:
        with self._cond:
            self.stepping = on
            self._steps = 0
            self._cond.notify_all()

    def step(self) -> None:
        """Let the loop run one more select() call and its handlers."""
        with self._cond:
            self._steps += 1
            self.frozen = False  # until the loop has run the step and waits again
            self._cond.notify_all()

    def release(self) -> None:
        """End step mode for good (the engine is stopping)."""
        with self._cond:
            self._released = True
            self.stepping = False
            self._cond.notify_all()

    def wait_turn(self) -> float:
        """Block until a step is allowed (or stepping ends); return the seconds spent frozen."""
        started = time.monotonic()
        with self._cond:
            self.frozen = True
            while self.stepping and not self._steps and not self._released:
                self._cond.wait()
            self.frozen = False
            if self._steps:
                self._steps -= 1
        return time.monotonic() - started
