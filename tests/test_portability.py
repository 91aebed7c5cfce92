"""echo-tui on a platform without POSIX parts, simulated in a subprocess on this one.

The simulation hides the `resource` module and removes `signal.SIGHUP` and
`os.setsid` before echo-tui is imported, as on Windows; the real CLI then
starts headless (with the demo swarm), echoes, serves the load generator and
stops on SIGTERM.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from echo_tui import portable
from tests.helpers import recv_exactly, wait_for

SIMULATE_NO_POSIX = """
import os, signal, sys

class HideResource:
    def find_spec(self, name, path=None, target=None):
        if name == "resource":
            raise ModuleNotFoundError("simulated: no module named 'resource'")
        return None

sys.modules.pop("resource", None)
sys.meta_path.insert(0, HideResource())
del signal.SIGHUP
del os.setsid
"""

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/stat"), reason="simulates from Linux (reads /proc)"
)

RUN_CLI = SIMULATE_NO_POSIX + "from echo_tui.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_simulated(*args: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-c", RUN_CLI, *args], text=True, **options
    )


def test_the_simulation_hides_what_windows_lacks() -> None:
    probe = SIMULATE_NO_POSIX + (
        "from echo_tui import portable\n"
        "print(portable.CAN_RAISE_FD_LIMIT, portable.raise_fd_limit(100),"
        " [s.name for s in portable.STOP_SIGNALS], portable.detached_child_options())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.split() == ["False", "None", "['SIGINT',", "'SIGTERM']", "{}"]


@pytest.fixture
def portable_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ModuleType]]:
    """`echo_tui.portable` as imported with `sys.platform` set to the given value."""

    def load(platform: str) -> ModuleType:
        monkeypatch.setattr(sys, "platform", platform)
        return importlib.reload(portable)

    yield load
    monkeypatch.undo()
    importlib.reload(portable)


def test_on_windows_select_is_limited_by_how_many_sockets_it_watches(
    portable_on: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = portable_on("win32")
    assert windows.SELECT_LIMIT == 512
    assert windows.SELECT_LIMIT_TEXT == "more than 512 sockets"
    assert windows.select_can_watch(4000, watched=511)  # descriptor numbers do not matter
    assert not windows.select_can_watch(3, watched=512)
    monkeypatch.delattr(os, "setsid")
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert windows.detached_child_options() == {"creationflags": 0x200}


def test_on_macos_select_is_limited_by_descriptor_number(
    portable_on: Callable[[str], ModuleType],
) -> None:
    macos = portable_on("darwin")
    assert macos.SELECT_LIMIT == 1024
    assert macos.SELECT_LIMIT_TEXT == "descriptors numbered 1024 or higher"
    assert macos.select_can_watch(1023, watched=5000)  # however many it watches
    assert not macos.select_can_watch(1024, watched=0)
    assert macos.detached_child_options() == {"start_new_session": True}
    assert [s.name for s in macos.STOP_SIGNALS] == ["SIGINT", "SIGTERM", "SIGHUP"]


def test_help_says_the_open_file_limit_is_left_as_is() -> None:
    process = run_simulated("--help", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "open-file limit is left as is" in " ".join(out.split())


def test_headless_demo_echo_load_and_stop_without_posix_parts() -> None:
    server = run_simulated(
        "--headless", "--port", "0", "--interval", "0.2", "--demo", "3",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        first = server.stdout.readline()  # type: ignore[union-attr]
        match = re.match(r"listening on 127\.0\.0\.1:(\d+) ", first)
        assert match, (first, server.stderr.read() if server.poll() is not None else "")  # type: ignore[union-attr]
        port = int(match.group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"hello\x1b[2J")
            assert recv_exactly(client, 9) == b"hello\x1b[2J"

        def demo_connected() -> bool:
            line = server.stdout.readline()  # type: ignore[union-attr]
            found = re.search(r"clients (\d+)", line)
            return bool(found) and int(found.group(1)) >= 2

        wait_for(demo_connected, timeout=15)
        swarm = _demo_children(server.pid)
        assert swarm, "the demo swarm is not a child of the server"
        load = subprocess.run(
            [sys.executable, "-c", RUN_CLI, "load", "--port", str(port),
             "--connections", "2", "--duration", "0.5"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert load.returncode == 0, load.stdout + load.stderr
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=5) == 0
        assert "Traceback" not in server.stderr.read()  # type: ignore[union-attr]
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=5)
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in swarm), timeout=5)


def _demo_children(parent: int) -> list[str]:
    """PIDs of the `echo_tui.tools.demo` processes whose parent is `parent`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if b"echo_tui.tools.demo" in args and ppid == parent:
            found.append(pid)
    return found
