"""`echo-tui load` as a background subprocess, for tests that need heavy traffic."""

from __future__ import annotations

import asyncio
import json
import subprocess

from tests.reliability.procs import python_process


class Load:
    """Closed-loop load on `address` until `duration` s are up (or its connections are lost)."""

    def __init__(self, address: tuple[str, int], connections: int, duration: float) -> None:
        self.process = python_process(
            "-m", "echo_tui", "load", "--host", address[0], "--port", str(address[1]),
            "--connections", str(connections), "--size", "1024",
            "--duration", str(duration), "--json",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def wait(self, timeout: float = 30) -> tuple[int, dict | None]:
        """Exit status and summary (None when it printed none)."""
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, json.loads(out) if out.strip() else None

    async def result(self, timeout: float = 30) -> tuple[int, dict | None]:
        """`wait()` without blocking the app's event loop."""
        return await asyncio.to_thread(self.wait, timeout)

    def close(self) -> None:
        self.process.kill()
        self.process.communicate()
