"""Processes the reliability tests drive, and what /proc says about them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default)."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) * 1024


def fd_count(pid: int | None = None) -> int:
    """Open file descriptors of a process (this one by default)."""
    return len(os.listdir(f"/proc/{pid or 'self'}/fd"))


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def python_process(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    """`python ARGS` run from the repository root (so `-m tests....` imports)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, *args], cwd=REPO, env=env, text=True, **kwargs
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connect_when_listening(port: int) -> socket.socket:
    def attempt() -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            return None

    return wait_for(attempt, timeout=10)


class Headless:
    """`echo-tui --headless --json --interval 0.1` on a free port; JSON lines kept as they come."""

    def __init__(self, *args: str) -> None:
        self.process = python_process(
            "-m",
            "echo_tui",
            "--headless",
            "--json",
            "--interval",
            "0.1",
            "--port",
            "0",
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        first = self.process.stdout.readline()  # type: ignore[union-attr]
        if not first.startswith('{"event": "listening"'):
            self.process.kill()
            _, errors = self.process.communicate(timeout=5)
            pytest.fail(f"headless did not start: {first!r} {errors}")
        self.listening = listening = json.loads(first)
        self.address = (listening["host"], listening["port"])
        self.pid = self.process.pid
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.append(json.loads(line))

    def stats(self, after: float | None = None, timeout: float = 5.0) -> dict:
        """The latest stats line, waiting for one printed after `after` (time.time())."""
        deadline = time.monotonic() + timeout
        since = time.time() if after is None else after
        while not (self.lines and self.lines[-1]["time"] > since):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"no stats line from the headless server within {timeout}s")
            time.sleep(0.02)
        return self.lines[-1]

    def until(self, condition, timeout: float = 10.0) -> dict:
        """Wait for a stats line satisfying `condition`; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.stats()
            if condition(line):
                return line
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout}s; last stats: {line}")

    def close(self) -> str:
        """SIGTERM, wait, and return what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        return self.process.stderr.read()  # type: ignore[union-attr]


class Swarm:
    """`python -m tests.reliability.swarm ARGS`: client sockets in a process of their own."""

    def __init__(self, *args: object) -> None:
        self.process = python_process(
            "-m",
            "tests.reliability.swarm",
            *map(str, args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def result(self, timeout: float = 60.0) -> dict:
        """The next JSON line it prints; fail with its stderr if it exits instead."""
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            self.close()
            pytest.fail(f"swarm gave no result: {self.process.stderr.read()}")
        return json.loads(line[0])

    def release(self) -> dict:
        """Tell a `hold` swarm to close its connections; its {"closed": N} line."""
        self.process.stdin.write("\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self.result()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()  # type: ignore[union-attr]
