"""An event that a signal handler may set."""

from __future__ import annotations

import threading


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
