"""The command-line contract, end to end: `python -m echo_tui` as a subprocess."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest

from echo_tui import __version__
from echo_tui.cli import print_summary
from echo_tui.engine.config import available_selectors
from echo_tui.ui.app import REFRESH_RATES
from tests.helpers import recv_exactly, wait_for

COMMAND = [sys.executable, "-m", "echo_tui"]
FIRST_LINE = re.compile(r"^listening on (\S+):(\d+) \((\w+Selector)\)$")


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=20, **kwargs)


@contextmanager
def headless(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """A running `--headless` process, its first line's host and port; killed afterwards."""
    process = subprocess.Popen(
        [*COMMAND, "--headless", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline().rstrip("\n")  # type: ignore[union-attr]
        if "--json" in args:
            listening = json.loads(first)
            assert listening["event"] == "listening", first
            yield process, listening["host"], listening["port"]
            return
        match = FIRST_LINE.match(first)
        assert match, f"unexpected first line {first!r}; stderr: {process.stderr.read()}"  # type: ignore[union-attr]
        yield process, match.group(1), int(match.group(2))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=5)


def test_help_lists_every_option_with_defaults_and_the_keys() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in (
        "--host", "--port", "--selector", "--headless", "--interval", "--json",
        "--max-clients", "--idle-timeout", "--max-buffer", "--refresh", "--demo", "--version",
    ):  # fmt: skip
        assert option in result.stdout
    # --refresh names the rates the dashboard has (others are refused).
    rates = ", ".join(f"{hz:g}" for hz in REFRESH_RATES[:-1]) + f" or {REFRESH_RATES[-1]:g}"
    assert rates in " ".join(result.stdout.split())
    assert "(default: 127.0.0.1)" in result.stdout
    assert "(default: 1234)" in result.stdout
    assert "(default: 10000)" in result.stdout
    assert "key bindings" in result.stdout
    keys = result.stdout.split("key bindings", 1)[1]
    for description in ("Kick", "Quit", "Help"):
        assert description.lower() in keys.lower()


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    textual = metadata.version("textual")
    assert result.stdout.strip() == (
        f"echo-tui {__version__} (Python {platform.python_version()}, Textual {textual})"
    )


def test_console_script_is_installed() -> None:
    script = shutil.which("echo-tui")
    assert script, "the echo-tui console script is not on PATH"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=20)
    assert result.stdout.startswith(f"echo-tui {__version__} (Python ")


def test_headless_prints_the_address_then_stats_lines() -> None:
    with headless("--interval", "0.2") as (process, host, port):
        assert host == "127.0.0.1"
        assert 0 < port < 65536
        with socket.create_connection((host, port), timeout=5) as client:
            client.sendall(b"x" * 1000)
            recv_exactly(client, 1000)
            line = wait_for(lambda: _line_with(process, "clients 1"), timeout=5)
    assert re.search(
        r"clients 1  in [\d.]+ K?i?B/s  out [\d.]+ K?i?B/s  pending 0 B"
        r"  selects/s [\d.]+k?  per select [\d.]+  busy \d+%",
        line,
    ), line


def _line_with(process: subprocess.Popen[str], text: str) -> str | None:
    line = process.stdout.readline()  # type: ignore[union-attr]
    return line if text in line else None


def test_headless_json_stdout_is_json_lines_only() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--headless", "--json", "--interval", "0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read_line() -> str:
        lines.append(process.stdout.readline())  # type: ignore[union-attr]
        return lines[-1]

    try:
        first = json.loads(read_line())
        assert first.keys() == {"event", "host", "port", "selector"}
        assert first["event"] == "listening" and first["host"] == "127.0.0.1"
        assert first["selector"].endswith("Selector")
        with socket.create_connection((first["host"], first["port"]), timeout=5) as client:
            client.sendall(b"hi")
            assert recv_exactly(client, 2) == b"hi"
            wait_for(lambda: '"connections": 1' in read_line(), timeout=5)
        wait_for(lambda: '"connections": 0' in read_line(), timeout=5)
        process.send_signal(signal.SIGTERM)
        rest, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in [*lines, *rest.splitlines(keepends=True)]]
    assert all(line.endswith("\n") for line in lines)
    assert [record["event"] for record in records[:2]] == ["listening", "stats"]
    assert {record["event"] for record in records[1:-1]} == {"stats"}
    assert records[-1]["event"] == "summary" and records[-1]["closed"] == {"peer-closed": 1}


def test_headless_json_lines_parse() -> None:
    with headless("--json", "--interval", "0.2") as (process, host, port):

        def record_with_bytes() -> dict | None:
            record = json.loads(process.stdout.readline())  # type: ignore[union-attr]
            return record if record["bytes_in"] == 5 else None

        with socket.create_connection((host, port), timeout=5) as client:
            client.sendall(b"hello")
            recv_exactly(client, 5)
            record = wait_for(record_with_bytes, timeout=5)
    assert record["connections"] == 1
    assert record["bytes_out"] == 5
    for key in ("msgs_per_s", "selects_per_s", "events_per_select", "bytes_in_per_s"):
        assert isinstance(record[key], (int, float))


@pytest.mark.parametrize("selector", ["select", "poll", "epoll"])
def test_each_selector_is_reported_in_the_first_line(selector: str) -> None:
    if selector not in available_selectors():
        pytest.skip(f"{selector} is not available on this platform")
    names = {"select": "SelectSelector", "poll": "PollSelector", "epoll": "EpollSelector"}
    process = subprocess.Popen(
        [*COMMAND, "--headless", "--port", "0", "--selector", selector],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        assert first.rstrip().endswith(f"({names[selector]})")
    finally:
        process.kill()
        process.communicate(timeout=5)


def assert_usage_error(
    result: subprocess.CompletedProcess[str], *fragments: str, prog: str = "echo-tui"
) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith(f"{prog}: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--headless", "--port", str(port))
    assert_usage_error(result, f"port {port}", "already in use", "--port")


def test_address_not_available() -> None:
    result = run("--headless", "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1, never local
    assert_usage_error(result, "192.0.2.1", "not available")


def test_unknown_host() -> None:
    result = run("--headless", "--host", "no-such-host.invalid", "--port", "0")
    assert_usage_error(result, "unknown host", "no-such-host.invalid")


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range(port: str) -> None:
    assert_usage_error(run("--headless", "--port", port), "between 0 and 65535")


def test_permission_denied_on_a_privileged_port() -> None:
    command = [*COMMAND, "--headless", "--port", "80"]
    if os.geteuid() == 0:  # root binds anything: run without the capability that allows it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not available to drop privileges")
        drop = "-net_bind_service"
        command = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if result.returncode == 0 or "already in use" in result.stderr:
        pytest.skip("this machine lets unprivileged users bind port 80")
    assert_usage_error(result, "permission denied", "port 80")


def test_unknown_selector_names_the_available_ones() -> None:
    result = run("--selector", "nosuch")
    assert_usage_error(
        result, "'nosuch'", "epoll" if hasattr(__import__("select"), "epoll") else "select"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--max-clients", "abc"],
        ["--max-clients", "0"],
        ["--idle-timeout", "-3"],
        ["--max-buffer", "12x"],
        ["--interval", "nan"],
        ["--port", "http"],
        ["--demo", "-1"],
        ["--no-such-option"],
        ["--json"],
    ],
)
def test_bad_arguments(args: list[str]) -> None:
    assert_usage_error(run(*args))


def test_non_loopback_bind_works_with_a_warning() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--headless", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        match = FIRST_LINE.match(first.rstrip())
        assert match and match.group(1) == "0.0.0.0"
        with socket.create_connection(("127.0.0.1", int(match.group(2))), timeout=5) as client:
            client.sendall(b"ok")
            assert recv_exactly(client, 2) == b"ok"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "warning" in stderr and "0.0.0.0" in stderr and "other machines" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_exit_zero_close_clients_and_free_the_port(signum: int) -> None:
    with headless("--interval", "0.2") as (process, host, port):
        client = socket.create_connection((host, port), timeout=5)
        client.sendall(b"ping")
        assert recv_exactly(client, 4) == b"ping"
        process.send_signal(signum)
        assert process.wait(timeout=2) == 0
        assert client.recv(10) == b""  # the server closed our connection
        client.close()
        stderr = process.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in stderr
        last = process.stdout.read().splitlines()[-1]  # type: ignore[union-attr]
        assert last.startswith("summary: up ") and "closed 1 (shutdown 1)" in last
    with socket.socket() as again:  # the port can be bound again right away
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, port))


def test_headless_engine_failure_is_reported_with_its_traceback_and_exit_1() -> None:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.faulty", "engine", "--headless", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": repo},
    )
    try:
        match = FIRST_LINE.match(process.stdout.readline().rstrip())  # type: ignore[union-attr]
        assert match
        with socket.create_connection((match.group(1), int(match.group(2))), timeout=5) as client:
            client.sendall(b"crash")
            assert process.wait(timeout=5) == 1
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "echo-tui: engine failed: RuntimeError: injected engine fault" in stderr
    assert "Traceback" in stderr


def test_sizes_take_human_units_and_help_shows_them_that_way() -> None:
    help_text = run("--help").stdout
    assert "(default: 4MiB)" in help_text and "(default: 256MiB)" in help_text
    sizes = ("--max-buffer", "256KiB", "--max-total-buffer", "1GiB")
    with headless(*sizes) as (_, host, port), socket.create_connection((host, port), 5) as client:
        client.sendall(b"sized")
        assert recv_exactly(client, 5) == b"sized"
    assert_usage_error(run("--max-buffer", "4MB!"), "--max-buffer", "256KiB, 4MiB or 1GiB")
    assert_usage_error(run("--max-buffer", "1000"), "at least 1KiB")


def test_load_takes_a_human_size_and_its_help_shows_every_default(engine) -> None:
    done = run("load", "--port", str(engine.address[1]), "--size", "2KiB", "--duration", "0.3",
               "--connections", "1", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["size"] == 2048
    help_text = run("load", "--help").stdout
    for default in ("127.0.0.1", "1234", "10", "100", "5.0"):
        assert f"(default: {default})" in help_text
    assert "--size SIZE" in help_text and "default: unlimited" in help_text


def test_usage_names_every_subcommand() -> None:
    usage = run("--help").stdout.split("\n\n", 1)[0]
    assert usage.startswith("usage: echo-tui [options]")
    for command in ("load", "client"):
        assert f"echo-tui {command} [options]" in usage


def test_refresh_accepts_only_the_rates_the_dashboard_has() -> None:
    assert_usage_error(run("--refresh", "7"), "--refresh", "must be 1, 2, 5, 10 or 20")


@pytest.mark.parametrize("redirect", ["stdin", "stdout"])
@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        # Refused before the file is read (it is no recording): reading may take a while.
        ["replay", "{garbage}"],
    ],
    ids=["live", "replay"],
)
def test_the_dashboard_refuses_to_start_without_a_terminal(
    redirect: str, args: list[str], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"no recording\n")
    args = [arg.format(garbage=garbage) for arg in args]
    master, slave = os.openpty() if hasattr(os, "openpty") else (None, None)
    if slave is None:
        pytest.skip("no pseudo-terminals on this platform")
    streams = {"stdin": slave, "stdout": slave, redirect: subprocess.DEVNULL}
    try:
        done = subprocess.run(
            [*COMMAND, *args], **streams, stderr=subprocess.PIPE, text=True, timeout=20
        )
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert re.match(r"echo-tui( replay)?: error: the dashboard needs a terminal", line), line
    assert "--headless" in line


def test_replaying_a_missing_file_without_a_terminal_names_the_file() -> None:
    """The likelier mistake first: a wrong name, not the missing terminal."""
    done = subprocess.run(
        [*COMMAND, "replay", "missing.jsonl.gz"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "echo-tui replay: error: cannot read missing.jsonl.gz: No such file or directory\n"
    )


def test_quitting_the_dashboard_prints_the_headless_summary(make_engine, connect, capsys) -> None:
    engine = make_engine()
    client = connect(engine.address)
    client.sendall(b"x")
    assert recv_exactly(client, 1) == b"x"
    engine.stop()  # as the app does when it quits; the last snapshot waits in the channel
    print_summary(engine, None)
    out = capsys.readouterr().out
    assert out.startswith("summary: up ") and out.count("\n") == 1
    assert "accepted 1  closed 1 (shutdown 1)  in 1 B  out 1 B" in out
