"""`echo-tui run`: the program in a child process under the probe, its loop in the
dashboard (Pilot), its output and its exit in the event log, and how it is stopped."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from echo_tui.remote.run import Program, program_app, run_main
from echo_tui.remote.viewer import RemoteSource
from echo_tui.ui.app import EchoTuiApp
from tests.helpers import process_alive, recv_exactly, wait_for
from tests.probe.programs import EXAMPLES
from tests.ui.helpers import log_text, screen_text, until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Unix signals")

CRASHES_AT_FIRST_CLIENT = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
sock = socket.create_server(("127.0.0.1", 0))
sel.register(sock, selectors.EVENT_READ)
print("listening on 127.0.0.1:%d" % sock.getsockname()[1], flush=True)
sel.select()
sys.exit("crashed on purpose: a client came")
"""

IGNORES_SIGINT_AND_SIGTERM = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring", flush=True)
time.sleep(60)
"""


@pytest.fixture
def start() -> Iterator[Callable[..., tuple[Program, RemoteSource]]]:
    """Programs run as `echo-tui run` runs them, each attached; stopped and cleaned up."""
    started: list[tuple[Program, RemoteSource]] = []

    def run(*command: str) -> tuple[Program, RemoteSource]:
        program = Program(list(command))
        source = RemoteSource(program.url, program.attach(), None)
        source.start()
        started.append((program, source))
        return program, source

    yield run
    for program, source in started:
        source.stop()
        program.stop()
        program.close()


def listening_port(app: EchoTuiApp) -> int | None:
    found = re.search(r"stdout: listening on 127\.0\.0\.1:(\d+)", log_text(app))
    return int(found.group(1)) if found else None


async def test_the_dashboard_shows_the_program_its_output_and_its_exit(start) -> None:
    program, source = start(str(EXAMPLES / "selectors_echo.py"))
    app = program_app(program, source, refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        port = await until(pilot, lambda: listening_port(app))
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"
        await until(pilot, lambda: len(app.model.clients) == 1)
        assert f"PID {program.process.pid}" in screen_text(app)
        # The header shows where the program listens, found once it did (not "0").
        await until(pilot, lambda: f"127.0.0.1:{port}" in app.status_header.text.plain)
        assert "not loopback" not in screen_text(app)
        await pilot.press("t")  # the trace names the handler of each ready key
        client.sendall(b"again")
        assert recv_exactly(client, 5) == b"again"
        await until(pilot, lambda: "selectors_echo.py:22" in screen_text(app))
        assert "read() " in screen_text(app)
        await pilot.press("space")  # step mode: the program is frozen until resumed
        await until(pilot, lambda: "STEPPING" in screen_text(app))
        client.sendall(b"held")
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(4)
        await pilot.press("space")
        client.settimeout(5)
        assert recv_exactly(client, 4) == b"held"
        await pilot.press("escape")
        program.process.terminate()  # it stops as on Ctrl+C (the example's SIGTERM handler)
        await until(pilot, lambda: "the program exited with status 0" in log_text(app))
        assert app.is_running  # the last view stays until q
        client.close()


async def test_a_program_that_crashes_shows_its_exit_status_and_last_stderr_lines(
    start, tmp_path: Path
) -> None:
    script = tmp_path / "crashes.py"
    script.write_text(CRASHES_AT_FIRST_CLIENT)
    program, source = start(str(script))
    app = program_app(program, source, refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        port = await until(pilot, lambda: listening_port(app))
        # The program exits as the connection completes: its close may reset the connect
        # before it returns (a connect with a timeout reads its outcome after a poll).
        with contextlib.suppress(ConnectionResetError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        await until(pilot, lambda: "the program exited with status 1" in log_text(app))
        assert "its last stderr: crashed on purpose: a client came" in log_text(app)


def test_what_cannot_run_gets_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert run_main([str(tmp_path / "nosuch.py")]) == 2
    assert capsys.readouterr().err == f"echo-tui run: error: no such script: {tmp_path}/nosuch.py\n"
    script = tmp_path / "exits.py"
    script.write_text("import sys\nsys.exit('nothing to serve')\n")
    assert run_main(["--headless", str(script)]) == 2
    assert capsys.readouterr().err == (
        "echo-tui run: error: the program exited with status 1 before its loop could be watched;"
        " its last stderr: nothing to serve\n"
    )


def test_stopping_takes_sigint_then_sigterm_then_sigkill_and_says_which(tmp_path: Path) -> None:
    polite = Program([str(EXAMPLES / "selectors_echo.py")])
    stubborn_script = tmp_path / "stubborn.py"
    stubborn_script.write_text(IGNORES_SIGINT_AND_SIGTERM)
    stubborn = Program([str(stubborn_script)])
    try:
        polite.attach()
        assert polite.stop() == "stopped the program with SIGINT (exit status 0)"
        wait_for(lambda: "stdout: ignoring" in stubborn.output, timeout=10)
        assert stubborn.stop() == "stopped the program with SIGKILL (exit status -9)"
    finally:
        for program in (polite, stubborn):
            program.stop()
            program.close()


def test_echo_tui_run_in_a_terminal_shows_the_programs_output_in_the_log_and_q_stops_it(
    pty_app,
) -> None:
    from tests.pty_app import LEAVE_ALT_SCREEN

    app = pty_app(
        "run",
        str(EXAMPLES / "selectors_echo.py"),
        command=(sys.executable, "-m", "echo_tui"),
        columns=140,
        rows=40,
    )
    assert app.read_until_text("stdout: listening on 127.0.0.1:", timeout=15)
    shown = bytes(app.output).decode("utf-8", "replace")
    assert shown.count("listening on") == shown.count("stdout: listening on")  # never raw
    (pid,) = set(re.findall(r"running \S+selectors_echo\.py: PID (\d+)", shown))
    app.write(b"q")
    assert app.wait_exit(15) == 0
    after = bytes(app.output).split(LEAVE_ALT_SCREEN)[-1].decode()
    assert "echo-tui run: stopped the program with SIGINT (exit status 0)" in after
    assert not process_alive(int(pid))
