"""Stop signals: what they do from each point on, and an event their handlers may set."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from echo_tui.portable import STOP_SIGNALS

if TYPE_CHECKING:
    from echo_tui.shutdown.backstop import Backstop


class SignalSafeEvent(threading.Event):
    """A threading.Event whose set() may run in a signal handler.

    Python runs a handler in the main thread between two bytecodes, possibly in
    the middle of this event's wait() or set(), with its lock held.  With
    threading.Event's plain lock, set() in the handler would then wait for that
    lock forever (`while not stop.wait(0)` hung on about half of the stop signals
    sent to it); with a reentrant lock it goes on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(threading.RLock())  # Event keeps its lock here


def flag_stop_signals(stop: threading.Event, backstop: Backstop) -> None:
    """From now on a stop signal only sets `stop` (and arms the backstop)."""

    def flag(signum: int, frame: FrameType | None) -> None:
        stop.set()
        backstop.arm()

    on_stop_signals(flag)


def interrupt_on_stop_signals() -> None:
    """From now on every stop signal raises KeyboardInterrupt, as Ctrl-C does, so `with`
    blocks undo what they drew (a progress bar hides the cursor) before the exit."""
    on_stop_signals(signal.default_int_handler)


def on_stop_signals(handler: Callable[[int, FrameType | None], None]) -> None:
    """From now on every stop signal (SIGINT, SIGTERM and SIGHUP where there is one) runs
    `handler`."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
