"""Helpers for tests: waiting on conditions with deadlines, reading exact byte counts."""

from __future__ import annotations

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
