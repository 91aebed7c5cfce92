"""The examples run under `python -m echo_tui.probe` with real clients: what the probe says
of them is checked against /proc and against what the clients did."""

from __future__ import annotations

import selectors
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import recv_exactly, wait_for
from tests.probe.programs import EXAMPLES, ProbedProgram, tcp_connections, unix_inodes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

READ = selectors.EVENT_READ
SINGLE_LOOP = ("selectors_echo", "asyncio_streams_echo", "asyncio_protocol_echo")


@pytest.fixture
def run() -> Iterator[Callable[..., ProbedProgram]]:
    """Start scripts under the probe; each stopped (SIGTERM) and cleaned up afterwards."""
    programs: list[ProbedProgram] = []

    def start(script: Path, *args: str, **options: Any) -> ProbedProgram:
        programs.append(ProbedProgram(script, *args, **options))
        return programs[-1]

    yield start
    for program in programs:
        program.stop()


def example(name: str) -> Path:
    return EXAMPLES / f"{name}.py"


def connect(port: int, count: int = 1) -> list[socket.socket]:
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    for number, client in enumerate(clients):
        echo(client, b"hello %d" % number)  # each accepted and served before the next step
    return clients


def echo(client: socket.socket, payload: bytes) -> None:
    client.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload


def peer(client: socket.socket) -> str:
    host, port = client.getsockname()
    return f"{host}:{port}"


def fd_of(loop: dict[str, Any], client: socket.socket) -> int:
    """The fd of the key whose peer is `client`."""
    (fd,) = [k["fd"] for k in loop["keys"] if k["fileobj"].get("peer") == peer(client)]
    return fd


def clients_of(loop: dict[str, Any]) -> list[int]:
    """The fds of the loop's TCP connections."""
    connections = [k for k in loop["keys"] if k["fileobj"].get("family") == "AF_INET"]
    return [k["fd"] for k in connections if "peer" in k["fileobj"]]


def loops(name: str) -> int:
    return 2 if name == "two_loops" else 1


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


@pytest.mark.parametrize("name", [*SINGLE_LOOP, "two_loops"])
def test_the_registered_fds_are_the_programs_open_sockets(
    run: Callable[..., ProbedProgram], name: str
) -> None:
    """Every TCP socket the program has open is registered, and every registered fd is an
    open socket of the program; what else it has open is a Unix socket that is not the
    network's (asyncio's self-pipe writes on one end and watches the other)."""
    program = run(example(name))
    port = program.ports(loops(name))[0]
    clients = connect(port, 2)
    registered = {k["fd"] for loop in program.loops() for k in loop["keys"]}
    open_sockets = program.socket_inodes()
    control = program.control_inodes()
    assert control  # the probe's own, told apart by /proc/net/unix
    tcp = tcp_connections()
    programs = {fd for fd, inode in open_sockets.items() if inode not in control}
    assert {fd for fd in programs if open_sockets[fd] in tcp} == {
        fd for fd in registered if open_sockets[fd] in tcp
    }
    assert (
        len([fd for fd in registered if open_sockets[fd] in tcp]) == loops(name) + 2
    )  # listeners, clients
    assert registered <= programs
    assert all(open_sockets[fd] in unix_inodes() for fd in programs - registered)
    for client in clients:
        client.close()


def test_socketserver_registers_its_listener_and_serves_clients_in_threads(
    run: Callable[..., ProbedProgram],
) -> None:
    program = run(example("socketserver_echo"))
    clients = connect(program.ports()[0], 2)
    loop = program.loop()
    (listener,) = loop["keys"]
    assert listener["fileobj"]["listening"] is True
    assert loop["selector"] == "PollSelector"  # the class socketserver bound at import
    open_sockets = program.socket_inodes()
    tcp = tcp_connections()
    peers = {inode for inode, (_, remote) in tcp.items() if not remote.endswith(":0000")}
    connected = {fd for fd, inode in open_sockets.items() if inode in peers}
    control = program.control_inodes()
    assert {listener["fd"]} == {
        fd for fd, inode in open_sockets.items() if inode not in control and fd not in connected
    }
    assert len(connected) == 2
    for client in clients:
        client.close()


def test_keys_describe_the_callbacks_the_docs_example_registers(
    run: Callable[..., ProbedProgram],
) -> None:
    program = run(example("selectors_echo"))
    (client,) = connect(program.ports()[0])
    keys = {k["fileobj"].get("listening"): k["data"] for k in program.loop()["keys"]}
    script = example("selectors_echo")
    assert keys[True]["name"] == "accept"
    assert keys[True]["where"] == f"{script}:{line_of(script, 'def accept(sock, mask):')}"
    assert keys[False]["name"] == "read"
    assert keys[False]["where"] == f"{script}:{line_of(script, 'def read(conn, mask):')}"
    client.close()


@pytest.mark.parametrize(
    ("name", "protocol"),
    [("asyncio_streams_echo", "StreamReaderProtocol"), ("asyncio_protocol_echo", "EchoProtocol")],
)
def test_keys_describe_asyncios_handle_callbacks_and_protocols(
    run: Callable[..., ProbedProgram], name: str, protocol: str
) -> None:
    program = run(example(name))
    (client,) = connect(program.ports()[0])
    loop = program.loop()
    readers = {k["fd"]: k["data"]["reader"] for k in loop["keys"]}
    assert readers[fd_of(loop, client)]["name"] == "_SelectorSocketTransport._read_ready"
    assert readers[fd_of(loop, client)]["protocol"] == protocol
    listening = [k["fd"] for k in loop["keys"] if k["fileobj"].get("listening")]
    assert [readers[fd]["name"] for fd in listening] == ["BaseSelectorEventLoop._accept_connection"]
    client.close()


@pytest.mark.parametrize("name", SINGLE_LOOP)
def test_the_ready_lists_follow_what_the_clients_did(
    run: Callable[..., ProbedProgram], name: str
) -> None:
    program = run(example(name))
    port = program.ports()[0]
    program.trace()
    (a,) = connect(port)
    (b,) = connect(port)
    echo(a, b"again")
    loop = program.loop()
    (listener,) = [k["fd"] for k in loop["keys"] if k["fileobj"].get("listening")]
    watched = {listener, fd_of(loop, a), fd_of(loop, b)}
    fd_a, fd_b = fd_of(loop, a), fd_of(loop, b)
    ready = [tuple(e) for call in loop["calls"] for e in call["ready"] if e[0] in watched]
    assert ready == [(listener, READ), (fd_a, READ), (listener, READ), (fd_b, READ), (fd_a, READ)]
    a.close()
    b.close()


@pytest.mark.parametrize("name", SINGLE_LOOP)
def test_a_kick_ends_exactly_that_client_and_the_program_unregisters_it(
    run: Callable[..., ProbedProgram], name: str
) -> None:
    program = run(example(name))
    a, b = connect(program.ports()[0], 2)
    loop = program.loop()
    fd_a = fd_of(loop, a)
    assert program.command(cmd="kick", loop=loop["id"], fd=fd_a) == {"ok": True}
    assert a.recv(10) == b""  # an ordinary end of stream
    echo(b, b"still served")
    wait_for(lambda: fd_a not in {k["fd"] for k in program.loop()["keys"]})
    changes = program.loop()["changes"]
    assert [c["op"] for c in changes if c["fd"] == fd_a][-1] == "unregister"
    a.close()
    b.close()


@pytest.mark.parametrize("name", ["selectors_echo", "asyncio_protocol_echo"])
def test_step_mode_freezes_the_program_until_a_step_and_detaching_releases_it(
    run: Callable[..., ProbedProgram], name: str
) -> None:
    program = run(example(name))
    (client,) = connect(program.ports()[0])
    loop_id = program.loop()["id"]
    program.trace()
    program.command(cmd="step", loop=loop_id, on=True)
    client.sendall(b"frozen")
    wait_for(lambda: any(c["stepped"] and c["ready"] for c in program.loop()["calls"]))
    client.settimeout(0.3)
    with pytest.raises(TimeoutError):
        client.recv(10)  # no echo while select()'s result is held
    client.settimeout(0.05)
    received = b""
    for _ in range(20):  # a few steps: the echo comes once its read has been let through
        program.command(cmd="next", loop=loop_id)
        try:
            received += client.recv(10)
        except TimeoutError:
            continue
        if received == b"frozen":
            break
    assert received == b"frozen"
    client.sendall(b"held again")
    wait_for(lambda: program.loop()["calls"][-1]["ready"])
    program.detach()
    assert recv_exactly(client, 10) == b"held again"
    client.close()


def test_a_controller_killed_with_sigkill_leaves_the_program_running_unfrozen(
    run: Callable[..., ProbedProgram],
) -> None:
    program = run(example("selectors_echo"))
    (client,) = connect(program.ports()[0])
    loop_id = program.loop()["id"]
    program.trace()
    controller = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, program.control_path, str(loop_id)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert controller.stdout is not None
        assert controller.stdout.readline() == "stepping\n"
        client.sendall(b"frozen")
        wait_for(lambda: any(c["stepped"] and c["ready"] for c in program.loop()["calls"]))
        controller.kill()
        assert recv_exactly(client, 6) == b"frozen"
        echo(client, b"and running")
    finally:
        controller.kill()
        controller.wait(10)
        controller.stdout.close()  # type: ignore[union-attr]
    client.close()


CONTROLLER = """
import json, socket, sys, time
control = socket.socket(socket.AF_UNIX)
control.connect(sys.argv[1])
control.sendall(json.dumps({"cmd": "step", "loop": int(sys.argv[2]), "on": True}).encode() + b"\\n")
control.recv(100)
print("stepping", flush=True)
time.sleep(60)
"""


def test_inspecting_a_key_names_the_lines_that_change_it(
    run: Callable[..., ProbedProgram],
) -> None:
    program = run(example("selectors_echo"))
    (client,) = connect(program.ports()[0])
    loop = program.loop()
    fd = fd_of(loop, client)
    program.command(cmd="inspect", loop=loop["id"], fd=fd, on=True)
    client.close()
    wait_for(lambda: program.loop()["changes"][-1]["op"] == "unregister")
    script = example("selectors_echo")
    unregister = line_of(script, "        sel.unregister(conn)")
    assert program.loop()["changes"][-1]["where"] == f"{script}:{unregister}"


def test_each_loop_is_named_by_its_thread(run: Callable[..., ProbedProgram]) -> None:
    program = run(example("two_loops"))
    _, second = program.ports(2)
    (client,) = connect(second)
    loops = {loop["thread"]: loop for loop in program.loops()}
    assert set(loops) == {"loop-1", "loop-2"}
    assert clients_of(loops["loop-1"]) == []
    assert clients_of(loops["loop-2"]) == [fd_of(loops["loop-2"], client)]
    client.close()


def test_examples_stop_cleanly_on_sigterm(run: Callable[..., ProbedProgram]) -> None:
    for name in (*SINGLE_LOOP, "socketserver_echo", "two_loops"):
        program = run(example(name))
        program.ports(2 if name == "two_loops" else 1)
        assert program.stop() == 0, name


def test_a_program_that_never_makes_a_selector_gets_one_line(
    run: Callable[..., ProbedProgram], tmp_path: Path
) -> None:
    script = tmp_path / "no_selectors.py"
    script.write_text(
        "import time\nprint('listening on 127.0.0.1:0', flush=True)\ntime.sleep(60)\n"
    )
    program = run(script, notice_after=0.1)
    program.ports()
    assert program.process.stderr is not None
    line = program.process.stderr.readline()
    assert "no selector seen in 0.1 s" in line


def test_a_module_runs_as_main_with_the_working_directory_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "probed_module.py").write_text(
        "import selectors, sys\n"
        "print(__name__, sys.argv, sys.path[0], selectors.DefaultSelector.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "echo_tui.probe", "-m", "probed_module", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    argv = [str(tmp_path / "probed_module.py"), "--port", "1"]
    assert done.stdout == f"__main__ {argv} {tmp_path} echo_tui.probe.selector\n", done.stderr


def test_the_program_runs_as_main_with_its_arguments_and_exit_status(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import sys\nprint(__name__, sys.argv, sys.path[0])\nraise SystemExit(sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "echo_tui.probe", str(script), "3"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout == f"__main__ [{str(script)!r}, '3'] {tmp_path}\n"
    assert done.returncode == 1 and done.stderr == "3\n"
