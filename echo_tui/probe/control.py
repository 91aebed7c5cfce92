"""A line-oriented control socket for the probe: JSON commands in, one JSON answer each.

For tests and for a person with `socat`; the dashboard will attach through the viewer
protocol instead.  It serves from a thread of its own with blocking sockets (no
selector: nothing here runs on the program's loops, which step mode may hold).
A connection that closes releases every loop it put in step mode (detaching).

Commands (`loop` is a loop's id from a snapshot):
  {"cmd": "snapshot"}                        -> {"loops": [Loop.snapshot(), ...]}
  {"cmd": "kick", "loop": 1, "fd": 7}        -> {"ok": true}
  {"cmd": "step", "loop": 1, "on": true}     -> {"ok": true}   (step mode on / off)
  {"cmd": "next", "loop": 1}                 -> {"ok": true}   (one step)
  {"cmd": "trace", "loop": 1, "on": true}    -> {"ok": true}   (callers' lines of changes)
  {"cmd": "inspect", "loop": 1, "fd": 7, "on": true} -> {"ok": true}  (... of that key's)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from typing import Any

from echo_tui.probe.loop import Loop
from echo_tui.probe.selector import loops

LINE_LIMIT = 4096  # bytes of one command


def find(loop_id: object) -> Loop:
    for loop in loops():
        if loop.id == loop_id:
            return loop
    raise LookupError(f"no loop {loop_id!r}")


def answer(command: dict[str, Any], stepped: set[Loop]) -> dict[str, Any]:
    """Run one command; `stepped` collects the loops this connection put in step mode."""
    match command.get("cmd"):
        case "snapshot":
            return {"loops": [loop.snapshot() for loop in loops()]}
        case "kick":
            return {"ok": find(command["loop"]).kick(int(command["fd"]))}
        case "step":
            loop = find(command["loop"])
            loop.set_stepping(bool(command["on"]))
            (stepped.add if command["on"] else stepped.discard)(loop)
            return {"ok": True}
        case "next":
            find(command["loop"]).step()
            return {"ok": True}
        case "trace":
            find(command["loop"]).traced = bool(command["on"])
            return {"ok": True}
        case "inspect":
            loop = find(command["loop"])
            fd = int(command["fd"])
            (loop.inspected.add if command["on"] else loop.inspected.discard)(fd)
            return {"ok": True}
        case other:
            raise LookupError(f"unknown command {other!r}")


def serve_connection(conn: socket.socket) -> None:
    stepped: set[Loop] = set()
    try:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                try:
                    reply = answer(json.loads(line[:LINE_LIMIT]), stepped)
                except (LookupError, ValueError, TypeError) as error:
                    reply = {"error": str(error)}
                conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass  # the reader went away: detached
    finally:
        for loop in stepped:
            loop.release()


class ControlServer:
    """The control socket at `path` (a Unix socket), served by daemon threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen()
        threading.Thread(target=self._accept, name="echo-tui-probe-control", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
