"""What differs between operating systems and Python versions, in one place (standard
library only).

echo-tui runs where Textual runs: Linux, macOS and Windows.  Everything POSIX-only
is looked up here at run time, so importing echo-tui never fails for lack of it:
the file-descriptor limit (`resource`), the stop signals (no SIGHUP on Windows),
a child process detached from the terminal's Ctrl+C, and select()'s limit.  It
runs on Python 3.10 too: `assert_never` stands in for typing's (3.11+).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, NoReturn

try:
    import resource
except ImportError:  # Windows: no RLIMIT_NOFILE to raise
    resource = None  # type: ignore[assignment]

CAN_RAISE_FD_LIMIT = resource is not None

# The signals that ask echo-tui to stop, of those this platform has.
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

# select.select() limits: on Windows the number of sockets per call, elsewhere
# FD_SETSIZE, the first descriptor number it cannot watch.
SELECT_LIMIT = 512 if sys.platform == "win32" else 1024
SELECT_LIMIT_TEXT = (
    f"more than {SELECT_LIMIT} sockets"
    if sys.platform == "win32"
    else f"descriptors numbered {SELECT_LIMIT} or higher"
)


def select_can_watch(fd: int, watched: int) -> bool:
    """Whether select() can watch descriptor `fd` beside the `watched` it already has."""
    if sys.platform == "win32":
        return watched < SELECT_LIMIT
    return fd < SELECT_LIMIT


def raise_fd_limit(wanted: int) -> int | None:
    """Raise the soft RLIMIT_NOFILE towards `wanted` as far as allowed; return the soft limit.

    None where the platform has no such limit to raise (Windows).
    """
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def detached_child_options() -> dict[str, Any]:
    """Popen options that keep the terminal's Ctrl+C (and hang-up) from reaching a child."""
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    if hasattr(subprocess, "CREATE_NEW_PROCESS_GROUP"):  # Windows
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {}


def assert_never(value: NoReturn) -> NoReturn:
    """typing.assert_never (Python 3.11+): a type checker flags every call it can reach, so
    a `match` ending in `case _: assert_never(x)` must handle every type `x` may have."""
    raise AssertionError(f"unhandled {type(value).__name__}: {value!r}")
