"""What other threads may ask of the engine, and the inbox that carries it.

Each command travels with a `Future` that the engine thread completes with a
`CommandResult`; the same result is also published on the event channel.
"""

from __future__ import annotations

import contextlib
import queue
import socket
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


Command = Kick | KickWhere | Mute | SwitchSelector

_NAMES = {Kick: "kick", KickWhere: "kick_where", SwitchSelector: "switch_selector"}


def command_name(command: Command) -> str:
    """The name a CommandResult carries for `command` ("kick", "kick_where", "unmute", ...)."""
    if isinstance(command, Mute):
        return "mute" if command.muted else "unmute"
    return _NAMES[type(command)]


@dataclass(slots=True)
class Envelope:
    command: Command
    future: Future[CommandResult] = field(default_factory=Future)


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
        taken = []
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
            command = envelope.command
            envelope.future.set_result(CommandResult(command_name(command), False, message))

    def close(self) -> None:
        self.wake_reader.close()
        self._wake_writer.close()
