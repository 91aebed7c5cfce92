"""Run the echo-tui dashboard with a probe on its UI thread's event loop.

    python benchmarks/ui_probe.py OUT [echo-tui arguments...]

Every callback the UI thread's asyncio loop runs (Textual's timers, message
handlers, screen refreshes) holds the GIL for its whole duration, and the
engine thread waits for the GIL each time it returns from select(): so
`dashboard.py` wants the length of those callbacks, not only their sum.  The
probe times each one in thread CPU time (time spent waiting for the GIL is not
counted) and, five times a second, appends a line to OUT: the monotonic time,
then the CPU microseconds of every callback that finished since the last line.
"""

from __future__ import annotations

import asyncio.events
import sys
import threading
import time

from echo_tui.cli import main

_durations: list[int] = []


def _probed_run(self: asyncio.events.Handle, _run=asyncio.events.Handle._run) -> None:  # type: ignore[no-untyped-def]
    started = time.thread_time_ns()
    _run(self)
    _durations.append((time.thread_time_ns() - started) // 1000)


def _write_lines(path: str) -> None:
    with open(path, "a", buffering=1) as out:
        while True:
            time.sleep(0.2)
            count = len(_durations)
            done, _durations[:count] = _durations[:count], []
            out.write(" ".join([f"{time.monotonic():.6f}", *map(str, done)]) + "\n")


if __name__ == "__main__":
    asyncio.events.Handle._run = _probed_run  # type: ignore[method-assign]
    threading.Thread(target=_write_lines, args=(sys.argv[1],), daemon=True).start()
    sys.exit(main(sys.argv[2:]))
