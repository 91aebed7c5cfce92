"""Helpers for tests: waiting on conditions with deadlines, reading exact byte counts."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.recording import Recorder


def wait_for(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.005):
    """Poll `condition` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


def recv_exactly(sock: socket.socket, size: int, timeout: float = 5.0) -> bytes:
    """Read exactly `size` bytes or fail the test."""
    sock.settimeout(timeout)
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            pytest.fail(f"EOF after {len(chunks)} of {size} bytes")
        chunks += chunk
    return bytes(chunks)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def quiet_recording(path: Path) -> Path:
    """A real recording, at `path`, of an engine that started and stopped with no client."""
    engine = EchoEngine(EngineConfig(port=0))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    engine.stop()
    recorder.stop()
    return path


def cpu_waits(pid: int | str = "self") -> dict[str, int]:
    """Nanoseconds each thread of process `pid` has spent ready to run but waiting for a
    CPU (Linux schedstat, by thread id): what a busy machine, not the code, adds to a
    time measured meanwhile.  Empty once the process is gone, or without /proc."""
    waits = {}
    with contextlib.suppress(OSError):
        for thread in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{thread}/schedstat"
            with contextlib.suppress(OSError, IndexError, ValueError), open(path) as stat:
                waits[thread] = int(stat.read().split()[1])
    return waits


def waited_since(before: dict[str, int], now: dict[str, int]) -> float:
    """Seconds of CPU waits (cpu_waits) between `before` and `now`; threads that ended
    meanwhile count nothing, so it errs on the side of the code."""
    return sum(wait - before.get(thread, 0) for thread, wait in now.items()) / 1e9
