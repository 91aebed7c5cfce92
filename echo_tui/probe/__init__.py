"""The probe: echo-tui's view of any program whose event loop runs on `selectors`.

`install()` replaces the selector classes of the `selectors` module (DefaultSelector
and every class the platform has) with probed ones that wrap the real classes;
asyncio's SelectorEventLoop, socketserver and hand-written loops created afterwards
use them.  Each probed selector is a loop (`loops()`), recorded in bounded rings and
read by any thread through `Loop.snapshot()`.

Standard library only, importable without Textual: it runs inside other people's
programs, and must never harm them (see echo_tui.probe.selector).

A forked child (multiprocessing's fork start method) is not watched: after a fork the
child's module classes are the originals again and every inherited probed selector
passes its calls straight on, since the parent's readers cannot reach the child and
no one could release a step held there.
"""

from __future__ import annotations

import os
import selectors

from echo_tui.probe.loop import Loop
from echo_tui.probe.selector import ProbedSelector, forget_all, loops, probed_class

__all__ = ["Loop", "ProbedSelector", "install", "installed", "loops", "original", "uninstall"]

SELECTOR_CLASSES = (
    "SelectSelector",
    "PollSelector",
    "EpollSelector",
    "DevpollSelector",
    "KqueueSelector",
    "DefaultSelector",
)

_originals: dict[str, type[selectors.BaseSelector]] = {
    name: getattr(selectors, name) for name in SELECTOR_CLASSES if hasattr(selectors, name)
}
_probed: dict[type[selectors.BaseSelector], type[ProbedSelector]] = {}


def original(name: str = "DefaultSelector") -> type[selectors.BaseSelector]:
    """The module's real class `name`, installed or not: the probe's own I/O uses these."""
    return _originals[name]


def installed() -> bool:
    return any(getattr(selectors, name) is not real for name, real in _originals.items())


def install() -> None:
    """Replace every selector class of `selectors` with its probed wrapper (idempotent).

    Only code that looks the class up afterwards sees it: install before the program
    runs (socketserver binds PollSelector when it is imported)."""
    for name, real in _originals.items():
        if real not in _probed:
            _probed[real] = probed_class(real)
        setattr(selectors, name, _probed[real])


def uninstall() -> None:
    """Put the real classes back and release every loop held in step mode; selectors made
    meanwhile keep recording until they close."""
    for name, real in _originals.items():
        setattr(selectors, name, real)
    for loop in loops():
        loop.release()


def _after_fork_in_child() -> None:
    if installed():
        for name, real in _originals.items():
            setattr(selectors, name, real)
    forget_all()


os.register_at_fork(after_in_child=_after_fork_in_child)
