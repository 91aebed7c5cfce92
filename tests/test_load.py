"""`echo-tui load`: verified echoes against the real engine, mismatches, unreachable servers."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from echo_tui.tools.load import (
    HEADER,
    LoadClient,
    LoadSpec,
    Payloads,
    SelectorPoller,
    default_processes,
    load_main,
    percentile,
)


class _FlipFirstByte(socketserver.BaseRequestHandler):
    """A broken echo: every chunk comes back with its first byte changed."""

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(bytes([data[0] ^ 0xFF]) + data[1:])


class _ReplayFirst(socketserver.BaseRequestHandler):
    """A stale echo: every message is answered with a copy of the connection's first one."""

    def handle(self) -> None:
        first = self.request.recv(65536)
        self.request.sendall(first)
        while data := self.request.recv(65536):
            self.request.sendall(first[: len(data)])


class _ResetMidMessage(socketserver.BaseRequestHandler):
    """Reads a little of a message too big for the socket buffers, then resets the connection."""

    def handle(self) -> None:
        self.request.recv(1)
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()  # now: socketserver's own shutdown would send a FIN first


class _HangUp(socketserver.BaseRequestHandler):
    """Closes every connection after its first message, without answering."""

    def handle(self) -> None:
        self.request.recv(65536)


@pytest.fixture
def serve() -> Iterator[Callable[[type[socketserver.BaseRequestHandler]], int]]:
    """Run a threaded socketserver with the given handler on 127.0.0.1:0; returns its port."""
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(handler: type[socketserver.BaseRequestHandler]) -> int:
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = load_main([*args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_load_against_engine_verifies_every_echo(engine, capsys) -> None:
    port = str(engine.address[1])
    code, summary, err = run_json(capsys, "--port", port, "--connections", "4", "--duration", "0.5")
    assert code == 0, err
    assert summary["connections"] == 4
    assert summary["messages"] > 0 and summary["messages_per_s"] > 0
    assert summary["mismatches"] == 0 and summary["errors"] == 0
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]


def test_load_large_messages_over_worker_processes(engine, capsys) -> None:
    port = str(engine.address[1])
    code, summary, err = run_json(
        capsys, "--port", port, "--connections", "4", "--processes", "2",
        "--size", "300000", "--duration", "0.5",
    )  # fmt: skip
    assert code == 0, err
    assert summary["processes"] == 2 and summary["connections"] == 4
    assert summary["messages"] > 0 and summary["mismatches"] == 0


def test_paced_load_keeps_to_the_rate(engine, capsys) -> None:
    port = str(engine.address[1])
    code, summary, err = run_json(
        capsys, "--port", port, "--connections", "2", "--rate", "40", "--duration", "0.5"
    )
    assert code == 0, err
    assert 0 < summary["messages"] <= 2 * 40 * 0.5 + 2


def test_mismatches_are_reported_with_exit_1(serve, capsys) -> None:
    port = str(serve(_FlipFirstByte))
    code, summary, err = run_json(capsys, "--port", port, "--connections", "2", "--duration", "0.3")
    assert code == 1
    assert summary["mismatches"] > 0
    assert "differs at byte 0" in summary["reasons"][0]
    assert err.count("\n") == 1 and "mismatched echoes" in err


def test_stale_echo_of_an_earlier_message_is_a_mismatch(serve, capsys) -> None:
    port = str(serve(_ReplayFirst))
    code, summary, err = run_json(capsys, "--port", port, "--connections", "1", "--duration", "0.3")
    assert code == 1 and "mismatched echoes" in err
    assert summary["mismatches"] == summary["messages"] - 1 > 0
    assert "message 2: echo differs at byte 7 of 100" in summary["reasons"][0]


def test_reset_while_a_message_is_half_sent_is_one_error(serve, capsys) -> None:
    port = str(serve(_ResetMidMessage))
    code, summary, err = run_json(
        capsys, "--port", port, "--connections", "2", "--size", "8000000", "--duration", "2"
    )
    assert code == 1 and err.count("\n") == 1
    assert summary["errors"] == 2 and summary["mismatches"] == 0
    assert all("failed" in reason for reason in summary["reasons"]), summary["reasons"]


def test_messages_shorter_than_the_header_are_verified(engine, capsys) -> None:
    port = str(engine.address[1])
    code, summary, err = run_json(
        capsys, "--port", port, "--connections", "3", "--size", "3", "--duration", "0.3"
    )
    assert code == 0, err
    assert summary["messages"] > 0 and summary["mismatches"] == 0


def test_portable_poller_drives_the_same_load(engine) -> None:
    """The `selectors` fallback (systems without epoll) verifies echoes in pieces too."""
    spec = LoadSpec(port=engine.address[1], connections=3, size=200_000, duration=0.3)
    client = LoadClient(spec, 0, spec.connections, poller=SelectorPoller())
    assert client.connect()
    result = client.run()
    assert result.connections == 3 and result.messages > 0
    assert result.mismatches == 0 and result.errors == 0


def test_server_hanging_up_is_an_error_with_exit_1(serve, capsys) -> None:
    port = str(serve(_HangUp))
    code, summary, err = run_json(capsys, "--port", port, "--connections", "3", "--duration", "2")
    assert code == 1
    assert summary["errors"] == 3
    assert "server closed the connection" in err


@pytest.mark.parametrize("processes", ["1", "2"])
def test_nothing_listening_exits_2_with_one_line(capsys, processes: str) -> None:
    code = load_main(["--port", str(free_port()), "--connections", "2", "--processes", processes])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("echo-tui load: nothing listens on 127.0.0.1:") and err.count("\n") == 1
    assert "start the server, or give its --host and --port" in err


@pytest.mark.parametrize("args", [["--size", "0"], ["--port", "70000"], ["--rate", "x"]])
def test_usage_errors_exit_2(capsys, args: list[str]) -> None:
    assert load_main(args) == 2
    assert "echo-tui load: error:" in capsys.readouterr().err


def test_echo_tui_load_command_is_quiet_when_piped(engine) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echo_tui", "load", "--port", str(engine.address[1]),
         "--connections", "2", "--duration", "0.3"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "mismatches   0" in done.stdout and "latency      p50" in done.stdout


def test_payloads_differ_per_connection_and_message() -> None:
    payloads = Payloads(100)
    messages = {payloads.make(conn, seq) for conn in range(3) for seq in range(300)}
    assert len(messages) == 900 and {len(m) for m in messages} == {100}
    assert HEADER.unpack(payloads.make(7, 12)[: HEADER.size]) == (7, 12)
    assert len(Payloads(3).make(1, 1)) == 3


@pytest.mark.parametrize("size", [100, 8, 3])
def test_advancing_a_message_in_place_makes_the_next_one(size: int) -> None:
    payloads = Payloads(size)
    message = payloads.blank(5)
    assert message == payloads.make(5, 0)
    for seq in range(1, 70_000):  # the last byte wraps 273 times, the last two bytes once
        payloads.advance(message, 5, seq)
        assert message == payloads.make(5, seq), seq


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100 and percentile([], 0.5) == 0


@pytest.mark.parametrize(
    ("connections", "cores", "processes"),
    [(10, 8, 1), (31, 8, 1), (32, 1, 1), (32, 2, 1), (100, 3, 2), (100, 64, 2)],
)
def test_default_processes_leave_a_core_to_the_server(
    connections: int, cores: int, processes: int
) -> None:
    assert default_processes(connections, cores) == processes
