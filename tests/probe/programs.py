"""Programs run under `python -m echo_tui.probe --control`, and what /proc says of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ProbedProgram:
    """A program started with the probe and a control socket; stopped with SIGTERM."""

    def __init__(
        self, script: Path, *args: str, notice_after: float = 5.0, listen: bool = False
    ) -> None:
        self.directory = tempfile.mkdtemp(prefix="probe-")  # short: Unix socket paths are
        self.control_path = os.path.join(self.directory, "control")
        command = [sys.executable, "-m", "echo_tui.probe", "--control", self.control_path]
        self.viewers_url = "unix:" + os.path.join(self.directory, "viewers")
        if listen:  # served to viewers (echo-tui attach) too
            command += ["--listen", self.viewers_url]
        command += ["--notice-after", str(notice_after), str(script), *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._control: socket.socket | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def ports(self, count: int = 1) -> list[int]:
        """The ports the program printed ("... listening on 127.0.0.1:PORT")."""
        assert self.process.stdout is not None
        lines = [self.process.stdout.readline() for _ in range(count)]
        assert all("listening on" in line for line in lines), lines
        return [int(line.rsplit(":", 1)[1]) for line in lines]

    def command(self, **command: Any) -> Any:
        """Send a control command and return its answer."""
        if self._control is None:
            wait_for(lambda: os.path.exists(self.control_path))
            self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._control.settimeout(10)
            self._control.connect(self.control_path)
            self._replies = self._control.makefile("rb")
        self._control.sendall(json.dumps(command).encode() + b"\n")
        reply = json.loads(self._replies.readline())
        assert "error" not in reply, reply
        return reply

    def loops(self) -> list[dict[str, Any]]:
        return self.command(cmd="snapshot")["loops"]

    def loop(self) -> dict[str, Any]:
        """The program's only open loop."""
        (loop,) = [loop for loop in self.loops() if not loop["closed"]]
        return loop

    def trace(self) -> None:
        """Open the trace of every loop: each select() call is recorded from now on."""
        for loop in self.loops():
            self.command(cmd="trace", loop=loop["id"], on=True)

    def detach(self) -> None:
        """Close the control connection, as a dashboard that goes away does."""
        if self._control is not None:
            self._replies.close()
            self._control.close()
            self._control = None

    def stop(self) -> int | None:
        """Stop the program (SIGTERM, then SIGKILL) and clean up; its exit status, or None
        if it was stopped before."""
        if self.process.stdout is None or self.process.stdout.closed:
            return None
        self.detach()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        os.rmdir(self.directory)
        return status

    # -- what /proc says, not the probe --------------------------------------------------

    def socket_inodes(self) -> dict[int, int]:
        """fd → inode of every socket the process has open, from /proc/PID/fd."""
        found = {}
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{name}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                found[int(name)] = int(target[len("socket:[") : -1])
        return found

    def control_inodes(self) -> set[int]:
        """The inodes of the probe's control sockets: Unix sockets on its path (accepted
        ones share their listener's path), from /proc/net/unix."""
        inodes = set()
        with open("/proc/net/unix") as table:
            next(table)
            for line in table:
                fields = line.split()
                if len(fields) == 8 and fields[7] == self.control_path:
                    inodes.add(int(fields[6]))
        return inodes


def tcp_connections() -> dict[int, tuple[str, str]]:
    """inode → (local, remote) hex addresses of every TCP socket on this host (IPv4)."""
    found = {}
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            found[int(fields[9])] = (fields[1], fields[2])
    return found


def unix_inodes() -> set[int]:
    """The inodes of every Unix socket on this host."""
    with open("/proc/net/unix") as table:
        next(table)
        return {int(line.split()[6]) for line in table}
