"""Run echo-tui with every round of its select() loop timed.

    python benchmarks/select_probe.py OUT [echo-tui arguments...]

A round is what the loop does with one select() call's ready events: from
select() returning to the next call.  Nothing else a client waits for is the
server's own doing, so on a shared machine the longest round in thread CPU time
measures the code and the wall-clock echo measures the code plus the machine.
The probe wraps the default selector class's select() (a few microseconds a
call) and, when the server exits, writes one JSON line to OUT: the rounds, and
the longest in thread CPU and in wall-clock seconds.  echo-tui is imported from
the working directory, as `python -m echo_tui` would.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import sys
import threading
import time

_select = selectors.DefaultSelector.select
_rounds: list[tuple[float, float]] = []  # (thread CPU, wall) seconds, loop threads mixed
_returned = threading.local()  # when this thread's last select() returned: (CPU, wall)


def _timed_select(self: selectors.BaseSelector, timeout: float | None = None) -> list:
    cpu, wall = time.thread_time(), time.perf_counter()
    last = getattr(_returned, "at", None)
    if last is not None:
        _rounds.append((cpu - last[0], wall - last[1]))
    ready = _select(self, timeout)  # type: ignore[arg-type]
    _returned.at = (time.thread_time(), time.perf_counter())
    return ready


def _write(path: str) -> None:
    summary = {
        "rounds": len(_rounds),
        "longest_cpu": max((cpu for cpu, _ in _rounds), default=0.0),
        "longest_wall": max((wall for _, wall in _rounds), default=0.0),
    }
    with open(path, "a") as out:
        out.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    selectors.DefaultSelector.select = _timed_select  # type: ignore[method-assign]
    atexit.register(_write, sys.argv[1])
    sys.path.insert(0, os.getcwd())
    from echo_tui.cli import main

    sys.exit(main(sys.argv[2:]))
