"""The seam between what the dashboard watches and the dashboard: a Source, and Controls.

A source is anything that gives the engine's events and snapshots: the
EchoEngine in this process, a recording played back, a remote engine, a probe
in someone's program.  Controls are what the dashboard may ask of it.  Both are
structural (typing.Protocol): the engine satisfies them without importing
anything of the dashboard, and an object talking over a socket can too
(commands answer with a Future, as the engine's do).  The dashboard never asks
what kind of source it watches, only what its controls support.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Literal, Protocol, get_args, runtime_checkable

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import (
    CommandResult,
    ConnectionStats,
    EngineError,
    LifecycleEvent,
    SelectCall,
    Snapshot,
)

# What controls may offer: kick (one client or all matching), mute (and unmute),
# switch_selector, trace (the select() trace), inspect (a client up close), step
# (step mode in the trace).
Action = Literal["kick", "mute", "switch_selector", "trace", "inspect", "step"]
ACTIONS: tuple[Action, ...] = get_args(Action)
NO_CONTROLS = "no server takes commands from this view"


@runtime_checkable  # the tests check the engine, the replay and the fakes
class Channel(Protocol):
    """Where a source's events, snapshots and traced calls wait for the dashboard."""

    def drain(self) -> tuple[list[LifecycleEvent], Snapshot | None, EngineError | None]:
        """The events since the last drain, their snapshots merged, and any engine error."""
        ...

    def take_trace(self, last: int | None = None) -> list[SelectCall]:
        """The select() calls traced since the last take (at most the `last` ones)."""
        ...


@runtime_checkable  # the tests check the engine, the replay and the fakes
class Source(Protocol):
    """What the dashboard reads: the channel, the engine's error, and who it watches."""

    @property
    def channel(self) -> Channel: ...

    @property
    def address(self) -> tuple[str, int]:
        """Where the watched server listens (listened, for a recording)."""
        ...

    @property
    def selector_name(self) -> str:
        """The selectors class its loop started with (snapshots tell the current one)."""
        ...

    @property
    def config(self) -> EngineConfig:
        """Its limits (the header shows max_clients)."""
        ...

    @property
    def error(self) -> EngineError | None:
        """Why the engine crashed, once it has."""
        ...

    @property
    def stopped(self) -> threading.Event:
        """Set once the watched engine no longer runs."""
        ...

    def stop(self) -> None:
        """Let go of it when the dashboard closes (stops an engine of this process)."""
        ...


@runtime_checkable  # the tests check the engine, the replay and the fakes
class Controls(Protocol):
    """What the dashboard may ask, each answered as the engine answers (a Future)."""

    def kick(self, conn_id: int) -> Future[CommandResult]: ...

    def kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> Future[CommandResult]:
        """Kick every client whose stats match `predicate` (its result counts them)."""
        ...

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]: ...

    def switch_selector(self, name: str) -> Future[CommandResult]: ...

    def trace(self, on: bool = True) -> Future[CommandResult]:
        """Trace every select() call into the channel's take_trace(), or stop."""
        ...

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        """Record one client's interest changes (and its last bytes) in each snapshot."""
        ...

    def set_stepping(self, on: bool) -> None:
        """Step mode (while tracing): the loop waits before each select() for step()."""
        ...

    def step(self) -> None: ...


@runtime_checkable
class Limited(Protocol):
    """Controls that offer only some actions say which (controls without it offer all)."""

    def unavailable(self, action: Action) -> str | None:
        """Why `action` is not offered, in a few words; None when it is."""
        ...


@runtime_checkable
class Connected(Protocol):
    """A source on the other side of a connection says when that connection is down."""

    @property
    def status(self) -> str | None:
        """While the connection is down: that it is, and what happens (None while up)."""
        ...


def connection_status(source: Source) -> str | None:
    """What a source's connection is doing when it is down; None when it is up or local."""
    return source.status if isinstance(source, Connected) else None


def unavailable(controls: Controls | None, action: Action) -> str | None:
    """Why `action` cannot be asked of `controls`, in a few words; None when it can."""
    if controls is None:
        return NO_CONTROLS
    if isinstance(controls, Limited):
        return controls.unavailable(action)
    return None
