"""The probed selector: the real selector class wrapped, every call passed on to it.

Each call first does what the program asked of the real selector (its exceptions are
the program's and reach it unchanged), then records it.  Any failure of the recording
itself is kept as the loop's `error` and switches that instance to pass-through: its
methods become the real selector's, so the program runs on as if unwatched.
"""

from __future__ import annotations

import selectors
import threading
import traceback
import weakref
from collections.abc import Mapping
from time import monotonic
from typing import Any

from echo_tui.probe.loop import Loop

CLOSED_KEPT = 16  # closed loops still listed for readers

_loops: list[Loop] = []
_loops_lock = threading.Lock()
_selectors: weakref.WeakSet[ProbedSelector] = weakref.WeakSet()  # every instance alive


def loops() -> list[Loop]:
    """Every open probed loop, and the last CLOSED_KEPT closed ones, oldest first."""
    with _loops_lock:
        return list(_loops)


def _add(loop: Loop) -> None:
    with _loops_lock:
        _loops.append(loop)
        closed = [old for old in _loops if old.closed]
        for old in closed[: max(0, len(closed) - CLOSED_KEPT)]:
            _loops.remove(old)


class ProbedSelector(selectors.BaseSelector):
    """A selector that records what its program does with it (see echo_tui.probe.loop).

    One subclass per real class (`probed_class`) keeps the real class's name."""

    real_class: type[selectors.BaseSelector] = selectors.DefaultSelector

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._real = self.real_class(*args, **kwargs)
        self._loop = Loop(self.real_class.__name__)
        _add(self._loop)
        _selectors.add(self)
        weakref.finalize(self, self._loop.release_closed)  # collected unclosed: closed too

    def __getattr__(self, name: str) -> Any:
        """Anything else the real class offers (EpollSelector.fileno, ...)."""
        if name == "_real":
            raise AttributeError(name)
        return getattr(self._real, name)

    @property
    def loop(self) -> Loop:
        return self._loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self._real.register(fileobj, events, data)
        try:
            self._loop.changed("register", key.fd, events, fileobj, data)
        except Exception as error:
            self._fail(error)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self._real.modify(fileobj, events, data)
        try:
            self._loop.changed("modify", key.fd, events, fileobj, data)
        except Exception as error:
            self._fail(error)
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = self._real.unregister(fileobj)
        try:
            self._loop.changed("unregister", key.fd, 0, fileobj, None)
        except Exception as error:
            self._fail(error)
        return key

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if loop.actions:
            try:
                loop.run_actions()
            except Exception as error:
                self._fail(error)
        loop.waiting = True  # no handler runs until this is False again
        try:
            started = monotonic()
            ready = self._real.select(timeout)
            returned = monotonic()
            try:
                loop.selected(timeout, started, returned, ready)
                if loop.stepping:
                    loop.hold()
            except Exception as error:
                self._fail(error)
        finally:
            loop.waiting = False
        return ready

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()
        self._loop.release_closed()

    def _fail(self, error: Exception) -> None:
        """Keep the first failure, release the loop, and pass every later call straight to
        the real selector (instance attributes shadow this class's methods)."""
        loop = self._loop
        if loop.error is None:
            loop.error = "".join(traceback.format_exception_only(type(error), error)).strip()
        self._pass_through()
        loop.release()

    def _pass_through(self) -> None:
        for name in ("register", "modify", "unregister", "select", "close"):
            setattr(self, name, getattr(self._real, name))


def forget_all() -> None:
    """In a forked child: every inherited selector passes calls straight on, and no loop
    is listed (the parent's records, locks and control threads are not the child's)."""
    global _loops_lock
    _loops_lock = threading.Lock()  # a parent's thread may have held it at the fork
    for selector in list(_selectors):
        selector._pass_through()
    _selectors.clear()
    _loops.clear()


def probed_class(real: type[selectors.BaseSelector]) -> type[ProbedSelector]:
    """A ProbedSelector subclass wrapping `real`, under `real`'s name."""
    namespace = {"real_class": real, "__doc__": real.__doc__, "__module__": __name__}
    return type(real.__name__, (ProbedSelector,), namespace)
