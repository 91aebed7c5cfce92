"""A probed program served to viewers (`python -m echo_tui.probe --listen`): a RemoteSource,
as `echo-tui attach` makes, sees its clients and its trace and acts on its loop."""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from echo_tui.engine.events import Disconnected
from echo_tui.remote.viewer import AttachError, RemoteSource, Session, connect
from tests.helpers import recv_exactly, wait_for
from tests.probe.programs import EXAMPLES, ProbedProgram
from tests.remote_helpers import View

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def program() -> Iterator[ProbedProgram]:
    started = ProbedProgram(EXAMPLES / "selectors_echo.py", listen=True)
    yield started
    started.stop()


@pytest.fixture
def attach(program: ProbedProgram) -> Iterator[RemoteSource]:
    session = wait_for(lambda: attached(program.viewers_url))
    source = RemoteSource(program.viewers_url, session, None)
    source.start()
    yield source
    source.stop()


def attached(url: str) -> Session | None:
    """A viewer's session once the probe's server listens (it starts as the program does)."""
    try:
        return connect(url, None)
    except AttachError:
        return None


def clients(program: ProbedProgram, count: int) -> list[socket.socket]:
    (port,) = program.ports()
    made = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    for client in made:
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"
    return made


def local(client: socket.socket) -> str:
    host, port = client.getsockname()
    return f"{host}:{port}"


def test_the_viewer_sees_the_programs_clients_and_its_handlers_in_the_trace(
    program: ProbedProgram, attach: RemoteSource
) -> None:
    view = View(attach.channel)
    first, second = clients(program, 2)
    wait_for(lambda: (s := view.update()) is not None and len(s.changed) == 2)
    assert view.state is not None
    assert {stats.peer for stats in view.state.changed.values()} == {local(first), local(second)}
    assert view.state.selector == program.loop()["selector"]
    python = platform.python_version()
    assert attach.welcome.program == f"selectors_echo.py (Python {python})"
    assert attach.welcome.pid == program.pid
    assert attach.unavailable("mute") == "the probe does not touch the program's reads"
    assert attach.unavailable("switch_selector") == "the program chose its selector"
    assert attach.unavailable("kick") is None

    attach.trace(True).result(5)
    calls = []

    def traced_read() -> bool:
        first.sendall(b"x")
        recv_exactly(first, 1)
        calls.extend(attach.channel.take_trace())
        return any(k.commands for c in calls for k in c.ready)

    wait_for(traced_read)
    handlers = {k.commands for c in calls for k in c.ready}
    assert ("read() " + str(EXAMPLES / "selectors_echo.py") + ":22",) in handlers, handlers
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("example", "protocol"),
    [("asyncio_streams_echo", "StreamReaderProtocol"), ("asyncio_protocol_echo", "EchoProtocol")],
)
def test_an_asyncio_programs_clients_and_the_protocols_their_reads_serve(
    example: str, protocol: str
) -> None:
    """Its clients are its TCP connections only (not asyncio's self-pipe, a connected Unix
    socket pair, nor its listener); the trace names the transport's callback and protocol."""
    program = ProbedProgram(EXAMPLES / f"{example}.py", listen=True)
    source = RemoteSource(program.viewers_url, wait_for(lambda: attached(program.viewers_url)))
    source.start()
    try:
        (client,) = clients(program, 1)
        view = View(source.channel)
        state = wait_for(lambda: (s := view.update()) is not None and s.changed and s)
        assert [c.peer for c in state.changed.values()] == [local(client)]
        assert source.trace(True).result(5).ok
        handlers: set[str] = set()

        def traced_read() -> bool:
            client.sendall(b"x")
            recv_exactly(client, 1)
            handlers.update(
                h for c in source.channel.take_trace() for k in c.ready for h in k.commands
            )
            return f"_SelectorSocketTransport._read_ready() for {protocol}" in handlers

        wait_for(traced_read)
        client.close()
    finally:
        source.stop()
        program.stop()


def test_a_kick_from_the_viewer_ends_that_client_and_the_program_unregisters_it(
    program: ProbedProgram, attach: RemoteSource
) -> None:
    view = View(attach.channel)
    kicked, spared = clients(program, 2)
    wait_for(lambda: (s := view.update()) is not None and len(s.changed) == 2)
    assert view.state is not None
    (conn_id,) = [c.conn_id for c in view.state.changed.values() if c.peer == local(kicked)]
    before = len(program.socket_inodes())

    result = attach.kick(conn_id).result(10)
    assert (result.ok, result.message) == (True, "shut down; the program unregistered it")
    assert kicked.recv(10) == b""  # an ordinary end of stream
    wait_for(lambda: (s := view.update()) is not None and conn_id not in s.changed)
    wait_for(lambda: len(program.socket_inodes()) == before - 1)  # the program closed it
    (gone,) = [e for e in view.events if isinstance(e, Disconnected)]
    assert (gone.conn_id, gone.reason, gone.bytes_in, gone.bytes_out) == (
        conn_id,
        "unregistered",
        5,
        5,
    )
    spared.sendall(b"still")
    assert recv_exactly(spared, 5) == b"still"
    kicked.close()
    spared.close()


def test_step_mode_from_the_viewer_freezes_the_program_and_detaching_releases_it(
    program: ProbedProgram, attach: RemoteSource
) -> None:
    (client,) = clients(program, 1)
    attach.trace(True).result(5)
    attach.set_stepping(True)
    wait_for(lambda: program.loop()["stepping"])
    client.sendall(b"held")
    client.settimeout(0.5)
    with pytest.raises(TimeoutError):
        client.recv(4)  # frozen: no echo while step mode holds the loop
    attach.stop()  # detaching releases it
    assert recv_exactly(client, 4) == b"held"
    client.close()


def test_a_viewer_killed_while_stepping_leaves_the_program_running_and_unfrozen(
    program: ProbedProgram,
) -> None:
    (client,) = clients(program, 1)
    wait_for(lambda: attached_and_left(program.viewers_url))
    viewer = subprocess.Popen(
        [sys.executable, "-m", "tests.remote_viewer", program.viewers_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert viewer.stdout is not None and viewer.stderr is not None
        assert viewer.stdout.readline() == "stepping\n", viewer.stderr.read()
        wait_for(lambda: program.loop()["stepping"])
        client.sendall(b"held")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(4)  # frozen
        os.kill(viewer.pid, signal.SIGKILL)
        assert recv_exactly(client, 4) == b"held"  # released: the program serves on
        assert program.process.poll() is None
    finally:
        viewer.kill()
        viewer.wait(5)
        for stream in (viewer.stdout, viewer.stderr):
            if stream is not None:
                stream.close()
        client.close()


def attached_and_left(url: str) -> bool:
    """The probe's viewer server listens (a viewer can attach; this one leaves at once)."""
    session = attached(url)
    if session is not None:
        session.close()
    return session is not None


def test_a_loop_idle_in_select_counts_as_waiting_not_busy(
    program: ProbedProgram, attach: RemoteSource
) -> None:
    """The example blocks in select() with no timeout: the call under way is time waited."""
    clients(program, 1)
    view = View(attach.channel)
    state = wait_for(lambda: (s := view.update()) is not None and s.loop.wait_seconds > 0.3 and s)
    assert state.loop.busy_seconds < state.loop.wait_seconds


def test_a_failure_of_the_probed_source_is_said_to_the_viewer_and_the_program_serves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In this process: the docs' server on a probed selector, served by ProbedLoop; the
    failure releases the step mode it had turned on."""
    from echo_tui import probe
    from echo_tui.remote import probed
    from tests.probe.conftest import DocsServer

    probe.install()
    server = DocsServer()
    source = probed.ProbedLoop(tick=0.01)
    channel = source.subscribe()
    try:
        client = socket.create_connection(server.address, timeout=5)
        client.sendall(b"before")
        assert recv_exactly(client, 6) == b"before"

        def broken(*args: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(probed, "is_client", broken)
        source.set_stepping(True)  # held by the source's first look, which fails
        source.start()
        error = wait_for(lambda: channel.drain()[2])
        assert error.message == "RuntimeError: a bug"
        client.sendall(b"after")
        assert recv_exactly(client, 5) == b"after"
        client.close()
    finally:
        source.stop()
        server.stop()
        probe.uninstall()
