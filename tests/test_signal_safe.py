"""SignalSafeEvent: a stop signal's handler may set it while the main thread waits on it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

# In a process of its own: each round, the main thread polls the event as fast as it
# can (as `replay --headless --speed 0` does between lines) and another thread sends
# the signal whose handler sets it.  A threading.Event hangs in about half the rounds.
ROUNDS = """
    import os, signal, threading
    from {module} import {event} as Event

    for _ in range(200):
        stop, polling = Event(), threading.Event()
        signal.signal(signal.SIGUSR1, lambda signum, frame: stop.set())
        sender = threading.Thread(
            target=lambda: polling.wait() and os.kill(os.getpid(), signal.SIGUSR1)
        )
        sender.start()
        polling.set()
        while not stop.wait(0):
            pass
        sender.join()
    print("done")
"""


def run_rounds(module: str, event: str) -> subprocess.CompletedProcess[str] | None:
    """The rounds' output, or None when they hung."""
    code = textwrap.dedent(ROUNDS.format(module=module, event=event))
    try:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_signal_handler_sets_it_while_the_main_thread_polls_it() -> None:
    done = run_rounds("echo_tui.shutdown.signals", "SignalSafeEvent")
    assert done is not None, "hung: the handler waited for the lock its own thread held"
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")
