"""The probe in this process: installing, describing keys, recording calls, kicking,
stepping, and never harming the program when the probe itself fails."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import selectors
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from echo_tui import probe
from echo_tui.probe import loop as probe_loop
from echo_tui.probe.describe import describe_data, describe_fd, printable
from echo_tui.probe.selector import ProbedSelector
from echo_tui.probe.tcp import tcp_bytes
from tests.helpers import recv_exactly, wait_for
from tests.probe import conftest
from tests.probe.conftest import DocsServer


def loop_of(selector: selectors.BaseSelector) -> probe.Loop:
    assert isinstance(selector, ProbedSelector)
    return selector.loop


def connect(server: DocsServer) -> socket.socket:
    return socket.create_connection(server.address)


def peer_of(client: socket.socket) -> str:
    """The client's address as the server's key describes its peer."""
    host, port = client.getsockname()
    return f"{host}:{port}"


def echo(client: socket.socket, payload: bytes) -> None:
    client.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload


def test_the_probe_imports_without_textual() -> None:
    """It runs inside other people's programs: nothing of the dashboard comes with it, nor
    with what serves it to viewers (--listen)."""
    code = (
        "import sys, echo_tui.probe.__main__, echo_tui.remote.probed\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('textual', 'rich', 'prometheus_client')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout == "[]\n", done.stderr


def test_install_replaces_every_selector_class_and_uninstall_puts_them_back() -> None:
    names = [n for n in probe.SELECTOR_CLASSES if hasattr(selectors, n)]
    before = {name: getattr(selectors, name) for name in names}
    probe.install()
    try:
        for name in names:
            probed = getattr(selectors, name)
            assert issubclass(probed, ProbedSelector)
            assert probed.real_class is before[name] is probe.original(name)
        assert selectors.DefaultSelector is getattr(selectors, before["DefaultSelector"].__name__)
    finally:
        probe.uninstall()
    assert {name: getattr(selectors, name) for name in names} == before
    assert not probe.installed()


def test_tcp_info_counts_the_bytes_each_way_of_an_accepted_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            client.sendall(b"x" * 100_000)
            recv_exactly(server, 100_000)
            server.sendall(b"y" * 1234)
            recv_exactly(client, 1234)
            if sys.platform.startswith("linux"):
                assert wait_for(lambda: tcp_bytes(server) == (100_000, 1234))
            else:
                assert tcp_bytes(server) is None


def test_tcp_bytes_are_absent_for_what_is_not_a_tcp_connection() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert tcp_bytes(left) is None


def test_describing_an_fd_reads_a_duplicate_and_leaves_the_programs_socket_open() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        described = describe_fd(listener.fileno())
        assert described["listening"] is True
        assert described["local"] == f"127.0.0.1:{listener.getsockname()[1]}"
        assert described["inode"] == os.fstat(listener.fileno()).st_ino
        client = socket.create_connection(listener.getsockname())  # still listening
        client.close()


def handler(conn: object, mask: int) -> None:
    """A callback as the docs' example registers."""


def test_data_is_described_by_name_and_line_or_by_type() -> None:
    line = handler.__code__.co_firstlineno
    assert describe_data(handler) == {
        "kind": "callable",
        "name": "handler",
        "where": f"{__file__}:{line}",
    }
    assert describe_data(functools.partial(handler, 1))["name"] == "handler"
    assert describe_data(DocsServer.read)["name"] == "DocsServer.read"
    assert describe_data({"a": 1}) == {"kind": "object", "name": "dict"}
    assert describe_data(None) == {"kind": "object", "name": "NoneType"}


def test_text_from_the_program_is_escaped() -> None:
    assert printable("\x1b[31mred\u202e") == "\\x1b[31mred\\u202e"
    assert printable("a" * 200, limit=10) == "a" * 10 + "…"


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def test_asyncio_keys_name_the_handle_callback_and_the_protocol(installed: None) -> None:
    async def scenario() -> list[dict]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        keys = loop_of(loop._selector).snapshot()["keys"]  # type: ignore[attr-defined]
        writer.close()
        server.close()
        return keys

    keys = asyncio.run(scenario())
    readers = [k["data"]["reader"] for k in keys if k["data"]["kind"] == "asyncio"]
    names = {(r["name"], r.get("protocol")) for r in readers}
    assert ("_SelectorSocketTransport._read_ready", "Echo") in names
    assert ("_SelectorSocketTransport._read_ready", "StreamReaderProtocol") in names
    assert ("BaseSelectorEventLoop._accept_connection", None) in names


def test_select_calls_record_the_ready_list_and_keys_their_description(
    docs_server: Callable[[], DocsServer],
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    loop.traced = True
    a = socket.create_connection(server.address)
    a_address = peer_of(a)
    echo(a, b"one")
    b = socket.create_connection(server.address)
    echo(b, b"two")
    echo(a, b"three")
    keys = {k["fd"]: k for k in loop.snapshot()["keys"]}
    listener, fd_a, fd_b = (c["fd"] for c in loop.snapshot()["changes"] if c["op"] == "register")
    if sys.platform.startswith("linux"):
        wait_for(lambda: counted(loop, fd_a) == (8, 8))
    a.close()
    wait_for(lambda: fd_a not in loop.keys)
    b.close()
    wait_for(lambda: fd_b not in loop.keys)
    snapshot = loop.snapshot()
    assert snapshot["thread"] == "docs-loop"
    assert keys[fd_a]["data"]["name"] == "DocsServer.read"
    assert keys[fd_a]["fileobj"]["peer"] == a_address
    assert keys[listener]["data"]["name"] == "DocsServer.accept"
    assert keys[listener]["fileobj"]["listening"] is True
    read = selectors.EVENT_READ
    assert [call["ready"] for call in snapshot["calls"] if call["ready"]] == [
        [(listener, read)],
        [(fd_a, read)],
        [(listener, read)],
        [(fd_b, read)],
        [(fd_a, read)],
        [(fd_a, read)],  # end of stream: unregistered
        [(fd_b, read)],
    ]
    assert [(c["op"], c["fd"]) for c in snapshot["changes"]][-2:] == [
        ("unregister", fd_a),
        ("unregister", fd_b),
    ]
    assert all(c["iteration"] >= 0 for c in snapshot["calls"][1:])


def test_a_ready_list_keeps_the_order_select_returned(
    docs_server: Callable[[], DocsServer],
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    loop.traced = True
    clients = [connect(server) for _ in range(3)]
    for client in clients:
        echo(client, b"x")
    loop.set_stepping(True)
    wait_for(
        lambda: any(c["stepped"] for c in loop.snapshot()["calls"])
    )  # held: the three wait together
    for client in reversed(clients):
        client.sendall(b"y")
    loop.release()
    for client in clients:
        assert recv_exactly(client, 1) == b"y"
        client.close()
    reads = set(server.served)
    ready = [fd for call in loop.snapshot()["calls"] for fd, _ in call["ready"] if fd in reads]
    assert ready[: len(server.served)] == server.served
    assert any(len(call["ready"]) == 3 for call in loop.snapshot()["calls"])


def test_traced_changes_name_the_programs_line(docs_server: Callable[[], DocsServer]) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    with connect(server) as untraced:
        echo(untraced, b"x")
    wait_for(lambda: len(loop.snapshot()["changes"]) == 3)  # its unregister too
    loop.traced = True
    with connect(server) as traced:
        echo(traced, b"x")
    wait_for(lambda: len(loop.snapshot()["changes"]) == 5)
    lines = [(c["op"], c["where"]) for c in loop.snapshot()["changes"]]
    register = DocsServer.accept.__code__.co_firstlineno + 3
    assert lines[1:3] == [("register", None), ("unregister", None)]
    assert lines[3] == ("register", f"{conftest.__file__}:{register}")
    assert lines[4][1].startswith(f"{conftest.__file__}:")


def test_without_the_trace_calls_are_counted_not_recorded(
    docs_server: Callable[[], DocsServer],
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    with connect(server) as client:
        echo(client, b"x")
        snapshot = loop.snapshot()
    assert snapshot["selects"] >= 2 and snapshot["calls"] == []
    assert snapshot["busy"] > 0 and snapshot["waited"] > 0
    loop.traced = True
    wait_for(lambda: loop.snapshot()["calls"])
    assert loop.snapshot()["calls"][0]["seq"] > snapshot["selects"]


def counted(loop: probe.Loop, fd: int) -> tuple[int, int] | None:
    """(bytes received, bytes sent) of the key on `fd`, as the snapshot tells them."""
    for key in loop.snapshot()["keys"]:
        if key["fd"] == fd and "bytes_received" in key:
            return key["bytes_received"], key["bytes_sent"]
    return None


def test_a_kick_shuts_that_client_down_and_the_program_unregisters_it(
    docs_server: Callable[[], DocsServer],
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    with (
        socket.create_connection(server.address) as a,
        socket.create_connection(server.address) as b,
    ):
        echo(a, b"a")
        echo(b, b"b")
        fd_a = next(k.fd for k in loop.keys.values() if k.fileobj.get("peer") == peer_of(a))
        assert loop.kick(fd_a)
        a.settimeout(5)
        assert a.recv(10) == b""  # an ordinary end of stream
        echo(b, b"still served")
        wait_for(lambda: fd_a not in loop.keys)
    assert not loop.kick(fd_a)


def test_a_kick_reaches_a_loop_held_by_step_mode(docs_server: Callable[[], DocsServer]) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    with connect(server) as client:
        echo(client, b"x")
        fd = next(k.fd for k in loop.keys.values() if k.fileobj.get("peer") == peer_of(client))
        loop.traced = True
        loop.set_stepping(True)
        wait_for(lambda: any(c["stepped"] for c in loop.snapshot()["calls"]))
        assert loop.kick(fd)  # from this thread: the held loop runs no handler
        client.settimeout(5)
        assert client.recv(10) == b""
        assert fd in loop.keys  # the program has not seen it yet: it is held
        loop.release()
        wait_for(lambda: fd not in loop.keys)


def test_step_mode_holds_the_loop_until_a_step_and_release_frees_it(
    docs_server: Callable[[], DocsServer],
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    loop.traced = True
    with socket.create_connection(server.address) as client:
        echo(client, b"before")
        loop.set_stepping(True)
        client.sendall(b"held")
        wait_for(lambda: any(c["stepped"] and c["ready"] for c in loop.snapshot()["calls"]))
        client.settimeout(0.3)
        with pytest.raises(TimeoutError):
            client.recv(10)  # no echo: select()'s result is held
        for _ in range(3):
            loop.step()
        assert recv_exactly(client, 4) == b"held"
        client.sendall(b"again")
        wait_for(lambda: loop._steps == 0)
        loop.release()
        assert recv_exactly(client, 5) == b"again"


def test_a_failing_probe_reports_once_and_the_program_keeps_serving(
    docs_server: Callable[[], DocsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = docs_server()
    loop = loop_of(server.selector)
    failures = []

    def broken(data: object) -> dict:
        failures.append(data)
        raise RuntimeError("injected")

    monkeypatch.setattr(probe_loop, "describe_data", broken)
    with (
        socket.create_connection(server.address) as a,
        socket.create_connection(server.address) as b,
    ):
        echo(a, b"served")  # its register failed inside the probe
        echo(b, b"served too")
    assert loop.error == "RuntimeError: injected"
    assert len(failures) == 1  # then every call went straight to the real selector
    selects = loop.selects
    with socket.create_connection(server.address) as c:
        echo(c, b"unwatched")
    assert loop.selects == selects


def test_a_forked_child_runs_on_the_real_classes_unwatched(installed: None) -> None:
    selector = selectors.DefaultSelector()
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it is unwatched
        selector.select(0)
        watched = probe.installed() or probe.loops() or loop_of(selector).selects
        os._exit(1 if watched else 0)
    _, status = os.waitpid(pid, 0)
    selector.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_selector_collected_unclosed_is_listed_as_closed(installed: None) -> None:
    loop = loop_of(selectors.DefaultSelector())  # the selector itself is dropped at once
    wait_for(lambda: gc.collect() is not None and loop.closed)


def test_a_file_object_whose_repr_fails_is_still_watched(installed: None) -> None:
    class Odd(socket.socket):
        def __repr__(self) -> str:
            raise RuntimeError("the program's bug")

    with selectors.DefaultSelector() as selector, Odd() as odd:
        selector.register(odd, selectors.EVENT_READ)
        (key,) = loop_of(selector).snapshot()["keys"]
        assert key["fileobj"]["repr"] == "<Odd whose repr failed>"
        assert loop_of(selector).error is None


def test_close_releases_a_held_loop(installed: None) -> None:
    selector = selectors.DefaultSelector()
    loop = loop_of(selector)
    loop.set_stepping(True)
    left, right = socket.socketpair()
    selector.register(left, selectors.EVENT_READ)
    right.send(b"x")
    held = threading.Thread(target=selector.select, args=(1,))
    held.start()
    wait_for(lambda: loop.selects == 1)
    assert held.is_alive()
    selector.close()
    held.join(5)
    assert not held.is_alive()
    left.close()
    right.close()
