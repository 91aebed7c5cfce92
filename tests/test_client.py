"""`echo-tui client` as a subprocess against the real engine: piped, in a terminal, failing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

COMMAND = [sys.executable, "-m", "echo_tui", "client"]
HOSTILE = b"plain \x1b[31mred\x1b]0;title\x07 \x00\x9b\xff\xe2\x80\xae end\n"


def client(port: int, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*COMMAND, "--port", str(port), *args], input=data, capture_output=True, timeout=20
    )


def test_piped_hello_prints_hello_and_exits_0(engine) -> None:
    done = client(engine.address[1], data=b"hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"hello\n", b"")


def test_piped_output_is_the_exact_bytes_whatever_they_are(engine) -> None:
    data = HOSTILE + bytes(range(256)) * 1000 + b"no newline at the end"
    done = client(engine.address[1], data=data)
    assert done.returncode == 0 and done.stdout == data


@pytest.mark.skipif(sys.platform == "win32", reason="no pseudo-terminals")
def test_on_a_terminal_control_characters_are_escaped(engine) -> None:
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*COMMAND, "--port", str(engine.address[1])], stdin=subprocess.PIPE, stdout=slave
    )
    os.close(slave)
    process.communicate(HOSTILE, timeout=20)
    screen = bytearray()
    while True:  # everything the client wrote to the terminal (EIO once it is closed)
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert process.returncode == 0
    assert b"\x1b" not in screen and b"\x07" not in screen and b"\x00" not in screen
    assert "\u202e".encode() not in screen and b"\x9b" not in screen
    shown = screen.decode()
    assert "plain \\x1b[31mred\\x1b]0;title\\x07 \\x00\\x9b\\xff\\u202e end" in shown
    assert shown.endswith("end\r\n")  # the newline itself is kept (the terminal adds \r)


def test_a_server_that_closes_first_is_reported_with_exit_1(make_engine) -> None:
    engine = make_engine()
    process = subprocess.Popen(
        [*COMMAND, "--port", str(engine.address[1])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        process.stdin.write(b"still typing\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        assert process.stdout.readline() == b"still typing\n"  # type: ignore[union-attr]
        engine.stop()
        assert process.wait(timeout=10) == 1
        stderr = process.stderr.read().decode()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()  # type: ignore[union-attr]
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    assert stderr == "echo-tui client: the server closed the connection\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", str(free_port())], "connection refused"),
        (["--host", "no-such-host.invalid"], "unknown host"),
        (["--port", "0"], "between 1 and 65535"),
        (["--nope"], "unrecognized arguments"),
    ],
)
def test_errors_are_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    done = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("echo-tui client: error: ") and fragment in line


def test_help_names_the_defaults() -> None:
    done = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0
    assert "(default: 127.0.0.1)" in done.stdout and "(default: 1234)" in done.stdout
