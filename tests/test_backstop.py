"""The backstop: a shutdown that hangs ends anyway, with one line on stderr, children killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import process_alive, wait_for

HANGING_SHUTDOWN = """
import subprocess, sys, threading
from echo_tui.backstop import Backstop

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
backstop = Backstop(bound=0.2)
backstop.guard_child(child.pid)
backstop.arm()
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
    child = int(process.stdout.readline())  # type: ignore[union-attr]
    try:
        _, errors = process.communicate(timeout=10)
        assert process.returncode == 1
        assert errors.splitlines() == [
            "echo-tui: did not stop within 0.2 s of the request; forced exit"
        ]
        wait_for(lambda: not process_alive(child), timeout=5)
    finally:
        process.kill()
        if process_alive(child):
            os.kill(child, signal.SIGKILL)
