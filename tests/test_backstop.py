"""The backstop: a shutdown that hangs ends anyway, with one line on stderr, children killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import process_alive, wait_for

BOUND = 3.0  # seconds from the stop request to the forced exit (README)

HANGING_SHUTDOWN = """
import subprocess, sys, threading, time
from echo_tui.shutdown.backstop import Backstop

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
backstop = Backstop()  # the bound echo-tui uses
backstop.guard_child(child.pid)
armed = time.monotonic()
backstop.arm()
print(child.pid, armed, flush=True)
threading.Event().wait()  # a shutdown that never finishes
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_an_armed_backstop_ends_a_hung_process_with_one_line_and_kills_its_children() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HANGING_SHUTDOWN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid, armed = process.stdout.readline().split()  # type: ignore[union-attr]
    child = int(pid)
    try:
        _, errors = process.communicate(timeout=10)
        exited = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes
        assert process.returncode == 1
        assert errors.splitlines() == [
            "echo-tui: did not stop within 3 s of the request; forced exit"
        ]
        # Not before the 3 s the README promises; after them, at most its writes' 0.5 s
        # bound and a busy machine's scheduling.
        assert BOUND <= exited - float(armed) < BOUND + 1.5, exited - float(armed)
        wait_for(lambda: not process_alive(child), timeout=5)
    finally:
        process.kill()
        if process_alive(child):
            os.kill(child, signal.SIGKILL)
