"""One watched loop: what a probed selector saw, in bounded rings, and the controls that
act on it between two select() calls.

The loop thread writes (its selector's calls); any other thread reads through
`snapshot()`.  Per select() the loop thread does two clock reads and a few adds; while
the trace is open, also one append to a bounded deque (the ready list as fds: the
program's keys and file objects are never held).  Everything else (descriptions,
socket byte counts, callers' lines) happens once per key or only when a reader asks.
Appends and copies of deques and dicts are atomic under the GIL, so readers take
no lock the loop would wait on.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from echo_tui.probe.describe import caller, describe_data, describe_fileobj
from echo_tui.probe.tcp import tcp_bytes

CALLS_KEPT = 4096  # select() calls each loop keeps for its readers
CHANGES_KEPT = 1024  # register / modify / unregister records each loop keeps
KICK_WAIT = 0.2  # seconds a kick waits for the loop thread before doing it itself
KICK_GIVE_UP = 5.0  # seconds a kick waits for a loop that runs handlers all along

WALL_OFFSET = time.time() - time.monotonic()  # monotonic + this = wall clock

_loop_ids = itertools.count(1)


@dataclass
class Key:
    """A registered key as described when it was registered (data: when last modified)."""

    fd: int
    events: int
    data: dict[str, Any]
    data_id: int  # id() of the data described, to describe it again only when it changes
    fileobj: dict[str, Any]
    registered: float  # monotonic

    def inode(self) -> int | None:
        return self.fileobj.get("inode")


@dataclass(eq=False)  # a loop is itself: compared and hashed by identity
class Loop:
    """The records of one probed selector instance (a loop: asyncio's, or the program's own),
    named by the thread that calls its select()."""

    selector: str  # the real selector class's name
    id: int = field(default_factory=lambda: next(_loop_ids))
    thread: str | None = None  # the thread calling select(), once it has
    created: float = field(default_factory=time.time)
    closed: bool = False
    error: str | None = None  # the probe's own failure, after which it only passes calls on
    keys: dict[int, Key] = field(default_factory=dict)
    calls: deque[tuple] = field(default_factory=lambda: deque(maxlen=CALLS_KEPT))
    changes: deque[tuple] = field(default_factory=lambda: deque(maxlen=CHANGES_KEPT))
    selects: int = 0  # select() calls returned
    recorded: int = 0  # select() calls recorded in `calls` (while traced), dropped ones too
    change_count: int = 0  # register / modify / unregister calls
    waited: float = 0.0  # seconds spent inside select()
    first_started: float = 0.0  # monotonic, when the first select() was called
    last_returned: float = 0.0  # monotonic, when the last select() returned
    traced: bool = False  # record every select() call, and the caller's line of every change
    inspected: set[int] = field(default_factory=set)  # fds whose changes record callers
    stepping: bool = False
    waiting: bool = False  # in select() or held by step mode: no handler is running
    actions: list[Callable[[], None]] = field(default_factory=list)  # for the loop thread
    _steps: int = 0  # steps granted and not yet taken
    _lock: threading.Condition = field(default_factory=threading.Condition)

    # -- the loop thread's side: called by the probed selector ---------------------------

    def changed(self, op: str, fd: int, events: int, fileobj: object, data: object) -> None:
        """Record a register, modify or unregister (with the caller's line when traced)."""
        now = time.monotonic()
        line = caller(sys._getframe(2)) if self.traced or fd in self.inspected else None
        self.change_count += 1
        self.changes.append((self.change_count, op, now, fd, events, line))
        if op == "unregister":
            self.keys.pop(fd, None)
        elif op == "register":
            described = describe_data(data)
            self.keys[fd] = Key(fd, events, described, id(data), describe_fileobj(fileobj, fd), now)
        else:
            key = self.keys.get(fd)
            if key is not None:
                described = key.data if id(data) == key.data_id else describe_data(data)
                self.keys[fd] = Key(fd, events, described, id(data), key.fileobj, key.registered)

    def selected(self, timeout: float | None, started: float, returned: float, ready: list) -> None:
        """Count one select() call and its time waited; while traced, record it: its number,
        when it started and returned, the asked timeout, the keys registered, whether step
        mode held it, and the ready (fd, mask) pairs in order.  The rest (time waited, the
        iteration before it, busy time) is arithmetic on these, done by readers."""
        if self.thread is None:
            self.thread = threading.current_thread().name
            self.first_started = started
        self.selects += 1
        self.waited += returned - started
        self.last_returned = returned
        if self.traced:
            self.recorded += 1
            ready_fds = [(key.fd, mask) for key, mask in ready]
            self.calls.append(
                (self.selects, started, returned, timeout, len(self.keys), self.stepping, ready_fds)
            )

    def hold(self) -> None:
        """In step mode, keep select()'s result until a step is granted or stepping ends."""
        with self._lock:
            while self.stepping and not self._steps:
                self._lock.wait()
            if self._steps:
                self._steps -= 1

    def run_actions(self) -> None:
        """Run what the controls asked the loop thread to do (kicks), between two selects."""
        with self._lock:
            actions, self.actions = self.actions, []
        for action in actions:
            action()

    # -- the consumers' side: any other thread ------------------------------------------

    def set_stepping(self, on: bool) -> None:
        """Hold each select()'s result until `step()`; off releases the loop at once."""
        with self._lock:
            self.stepping = on
            self._steps = 0
            self._lock.notify_all()

    def step(self) -> None:
        """Let one held select() return (its handlers run; the next select() is held)."""
        with self._lock:
            self._steps += 1
            self._lock.notify_all()

    def release(self) -> None:
        """Stop holding the loop (detach, uninstall, close, the probe's own failure)."""
        self.set_stepping(False)

    def release_closed(self) -> None:
        """The selector closed (or was collected unclosed): release it and say so."""
        self.closed = True
        self.release()

    def kick(self, fd: int) -> bool:
        """Shut the connection on `fd` down both ways (closing nothing: the program sees an
        ordinary end of stream and cleans up itself), from the loop thread before its next
        select() call; or from this thread if the loop is waiting in select() or held by
        step mode (no handler running) and has not come round within KICK_WAIT.

        False when `fd` is not registered or no longer the socket it was, or when the
        loop closes, fails or stays busy for KICK_GIVE_UP seconds."""
        key = self.keys.get(fd)
        if key is None or key.inode() is None:
            return False
        inode = key.inode()
        outcome: list[bool] = []
        done = threading.Event()

        def shut_down() -> None:
            outcome.append(shutdown(fd, inode))
            done.set()

        with self._lock:
            self.actions.append(shut_down)
        deadline = time.monotonic() + KICK_GIVE_UP
        while not done.wait(KICK_WAIT):
            with self._lock:
                queued = shut_down in self.actions
                give_up = self.closed or self.error is not None or time.monotonic() > deadline
                if queued and (self.waiting or give_up):
                    self.actions.remove(shut_down)
            if queued and self.waiting:
                shut_down()
            elif queued and give_up:
                return False
        return outcome[0]

    def busy(self) -> float:
        """Seconds the loop spent outside select() (running handlers) since its first call."""
        return (
            max(0.0, self.last_returned - self.first_started - self.waited) if self.selects else 0.0
        )

    def snapshot(self, since: int = 0, bytes_counted: bool = True) -> dict[str, Any]:
        """Plain data (JSON-ready) for a reader: the loop's totals, its keys (with the TCP
        bytes each way where the kernel says, unless not `bytes_counted`: a few system calls
        per connection), the recorded calls after number `since` and the changes kept
        (what the rings dropped is counted, not listed)."""
        keys = list(self.keys.values())
        recorded = self.recorded
        calls_kept = self.calls.copy()
        calls = [c for c in calls_kept if c[0] >= since]  # and call `since`: its return
        changes = self.changes.copy()
        return {
            "id": self.id,
            "selector": self.selector,
            "thread": self.thread,
            "closed": self.closed,
            "error": self.error,
            "stepping": self.stepping,
            "selects": self.selects,
            "waited": self.waited,
            "busy": self.busy(),
            "calls_dropped": max(0, recorded - len(calls_kept)),
            "changes_dropped": max(0, self.change_count - CHANGES_KEPT),
            "keys": [key_view(key, bytes_counted) for key in keys],
            "calls": [view for view in calls_view(calls) if view["seq"] > since],
            "changes": [change_view(change) for change in changes],
        }


def key_view(key: Key, bytes_counted: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "fd": key.fd,
        "events": key.events,
        "data": key.data,
        "fileobj": key.fileobj,
        "registered": key.registered + WALL_OFFSET,
    }
    if bytes_counted and key.fileobj.get("peer") and key.fileobj.get("type") == "SOCK_STREAM":
        counted = with_socket(key.fd, key.inode(), tcp_bytes)
        if counted is not None:
            view["bytes_received"], view["bytes_sent"] = counted
    return view


def calls_view(calls: list[tuple]) -> list[dict[str, Any]]:
    """The recorded calls as readers see them, with each one's wait and the iteration before
    it (from the previous call's return: unknown for the first one kept)."""
    views = []
    previous_return = None
    for seq, started, returned, timeout, keys, stepped, ready in calls:
        views.append(
            {
                "seq": seq,
                "at": returned + WALL_OFFSET,
                "timeout": timeout,
                "waited": returned - started,
                "iteration": None if previous_return is None else started - previous_return,
                "keys": keys,
                "stepped": stepped,
                "ready": ready,
            }
        )
        previous_return = returned
    return views


def change_view(change: tuple) -> dict[str, Any]:
    seq, op, at, fd, events, line = change
    return {"seq": seq, "op": op, "at": at + WALL_OFFSET, "fd": fd, "events": events, "where": line}


def with_socket(fd: int, inode: int | None, use: Callable[[socket.socket], Any]) -> Any:
    """`use(sock)` on a duplicate of `fd`, closed afterwards, if it is still the file whose
    inode is `inode` (not a later one that reused the number); else None."""
    try:
        duplicate = os.dup(fd)
    except OSError:
        return None
    try:
        same = inode is not None and os.fstat(duplicate).st_ino == inode
    except OSError:
        same = False
    if not same:
        os.close(duplicate)
        return None
    with socket.socket(fileno=duplicate) as sock:
        return use(sock)


def shutdown(fd: int, inode: int | None) -> bool:
    """shutdown(SHUT_RDWR) of the socket on `fd` (through a closed duplicate) if it is still
    the one with `inode`."""

    def shut(sock: socket.socket) -> bool:
        sock.shutdown(socket.SHUT_RDWR)
        return True

    try:
        return bool(with_socket(fd, inode, shut))
    except OSError:
        return False
