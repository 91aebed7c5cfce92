"""The dashboard over a socket: a RemoteSource sees and acts as the engine's own consumer does.

Real engines, real viewer servers and real sockets (TCP and Unix); the viewer
runs in another thread here, in another process in tests/test_remote_processes.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time

import pytest

from echo_tui.engine.events import CLIENT, Disconnected, Snapshot
from echo_tui.recordings.records import Record
from echo_tui.remote.protocol import (
    FrameReader,
    Refused,
    Welcome,
    ack_frame,
    hello_frame,
    parse_frame,
)
from echo_tui.remote.server import ViewerServer
from echo_tui.remote.viewer import AttachError, RemoteSource
from echo_tui.remote.viewer import connect as connect_attach
from tests.helpers import recv_exactly, wait_for
from tests.remote_helpers import Relay, View, raw_viewer, serve


@pytest.fixture(params=["tcp", "unix"])
def address(request: pytest.FixtureRequest, tmp_path) -> str | tuple[str, int]:
    return ("127.0.0.1", 0) if request.param == "tcp" else str(tmp_path / "viewers.sock")


def echo(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    assert recv_exactly(sock, len(data)) == data


def test_the_viewer_sees_the_same_totals_and_clients_as_the_engine(
    served, address, connect
) -> None:
    server = served(address)
    local = View(server.engine.channel)
    clients = [connect(server.engine.address) for _ in range(3)]
    for size, client in enumerate(clients, 1):
        echo(client, b"x" * 100 * size)
    clients[0].close()
    early = View(server.attach().channel)
    wait_for(lambda: early.update() and early.state.open_count == 2)  # served already, so ...
    source = server.attach()  # ... only the state sent at its welcome has the clients so far
    remote = View(source.channel)

    def same_moment() -> bool:
        mine, theirs = local.update(), remote.update()
        return mine is not None and theirs is not None and mine.seq == theirs.seq

    wait_for(lambda: same_moment() and local.state.open_count == 2, timeout=10)
    mine, theirs = local.state, remote.state
    assert theirs.totals == mine.totals and theirs.totals.bytes_in == 600
    assert theirs.loop == mine.loop
    assert dict(theirs.changed) == dict(mine.changed) and set(theirs.changed) == {2, 3}
    # Later events reach both alike.
    clients[1].close()
    wait_for(lambda: remote.update() and 2 not in remote.state.changed)
    assert any(isinstance(e, Disconnected) and e.conn_id == 2 for e in remote.events)


def test_the_viewer_gets_the_engines_trace(served, connect) -> None:
    server = served()
    source = server.attach()
    assert source.trace(True).result(5).ok
    client = connect(server.engine.address)
    echo(client, b"traced")
    calls = wait_for(
        lambda: [c for c in source.channel.take_trace() if any(k.received == 6 for k in c.ready)]
    )
    local = {c.seq: c for c in server.engine.channel.take_trace()}
    assert calls[0] == local[calls[0].seq]  # the very call, every field
    assert calls[0].ready[0].role == CLIENT


def test_kick_and_mute_from_the_viewer_act_on_exactly_that_client(served, connect) -> None:
    server = served()
    source = server.attach()
    a, b, c = (connect(server.engine.address) for _ in range(3))
    for client in (a, b, c):
        echo(client, b"hi")
    view = View(source.channel)
    wait_for(lambda: view.update() and view.state.open_count == 3)
    muted = source.mute(2).result(5)
    assert (muted.ok, muted.conn_id) == (True, 2)
    b.sendall(b"unheard")
    echo(a, b"a still echoed")
    echo(c, b"c still echoed")
    b.settimeout(0.3)
    with pytest.raises(TimeoutError):
        b.recv(100)  # muted: not read, so not echoed
    kicked = source.kick(3).result(5)
    assert (kicked.ok, kicked.conn_id) == (True, 3)
    c.settimeout(5)
    assert c.recv(100) == b""
    echo(a, b"a untouched")
    assert source.unmute(2).result(5).ok
    assert recv_exactly(b, 7) == b"unheard"
    wait_for(lambda: view.update() and 3 not in view.state.changed)  # as kick_where sees it
    matching = source.kick_where(lambda stats: stats.conn_id == 1).result(5)
    assert (matching.command, matching.ok, matching.count) == ("kick_where", True, 1)
    assert a.recv(100) == b""
    echo(b, b"b untouched")


def test_step_mode_from_the_viewer(served, connect) -> None:
    server = served()
    engine = server.engine
    source = server.attach()
    assert source.trace(True).result(5).ok
    source.set_stepping(True)
    wait_for(lambda: engine.steps.frozen)
    client = connect(engine.address)
    client.sendall(b"step")
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(4)  # the loop is frozen: nothing is echoed
    for _ in range(20):  # the accept, the read (each one select() call), whatever comes first
        source.step()
        try:
            if client.recv(4) == b"step":
                break
        except TimeoutError:
            pass
    else:
        pytest.fail("the viewer's steps did not run the loop")
    source.set_stepping(False)
    wait_for(lambda: not engine.steps.stepping)
    echo(client, b"running")


def test_a_viewer_that_stops_reading_is_disconnected_the_others_unaffected(served, connect) -> None:
    server = served(stall_timeout=1.0)
    stuck, welcome = raw_viewer(server.url)  # says hello, then never reads nor acknowledges
    assert isinstance(welcome, Welcome)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    source = server.attach()
    view = View(source.channel)
    client = connect(server.engine.address)
    started = time.monotonic()
    while not server.viewers.disconnected:
        echo(client, b"x" * 10_000)  # the engine serves on
        assert time.monotonic() - started < 10, "the stuck viewer was never disconnected"
    assert list(server.viewers.disconnected) == ["not reading for 1 s"]
    assert any("not reading" in n for n in server.viewers.take_notices())
    seen = wait_for(view.update).seq
    wait_for(lambda: view.update().seq > seen + 2)  # the other viewer's stream goes on
    assert source.running and server.viewers.viewers == 1


def test_a_viewer_gone_while_stepping_releases_the_loop(served) -> None:
    server = served()
    engine = server.engine
    source = server.attach()
    source.trace(True).result(5)
    source.set_stepping(True)
    wait_for(lambda: engine.steps.frozen)
    source.stop()
    wait_for(lambda: not engine.steps.stepping, timeout=1)
    assert any("step mode" in n for n in server.viewers.take_notices())


def test_a_viewer_does_not_release_step_mode_it_found_on(served) -> None:
    """The local dashboard had turned it on: a viewer leaving must not resume the loop."""
    server = served()
    engine = server.engine
    engine.set_stepping(True)
    source = server.attach()
    source.set_stepping(True)
    assert source.trace(True).result(5).ok  # answered after set_stepping: it was run
    source.stop()
    wait_for(lambda: server.viewers.viewers == 0)
    assert engine.steps.stepping
    engine.set_stepping(False)


def test_a_unix_socket_is_made_mode_0600(served, tmp_path) -> None:
    path = tmp_path / "viewers.sock"
    server = served(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert server.url == f"unix:{path}"
    server.viewers.stop()
    assert not path.exists()


def test_another_address_than_loopback_needs_a_token(make_engine) -> None:
    with pytest.raises(ValueError, match="needs a token"):
        ViewerServer(make_engine(), ("0.0.0.0", 0))


def test_a_token_is_required_when_set(served) -> None:
    server = served(token="s3cret")
    with pytest.raises(AttachError, match="refused: a valid token is required"):
        connect_attach(server.url, "wrong")
    assert server.attach("s3cret").running
    assert server.viewers.refused["token"] == 1


def test_read_only_viewers_watch_but_do_not_act(served, connect) -> None:
    server = served(readonly=True)
    source = server.attach()
    client = connect(server.engine.address)
    echo(client, b"hi")
    assert source.controls == ("trace", "inspect")
    kicked = source.kick(1).result(5)
    assert not kicked.ok and "read-only" in kicked.message
    assert not source.inspect(1, preview=True).result(5).ok
    assert source.inspect(1).result(5).ok
    assert source.trace(True).result(5).ok
    echo(client, b"still here")


def test_attach_to_nothing_or_to_the_echo_port_says_why(served, tmp_path) -> None:
    server = served()
    with pytest.raises(AttachError, match="nothing listens"):
        connect_attach(f"unix:{tmp_path / 'none.sock'}", None)
    host, port = server.engine.address
    with pytest.raises(AttachError, match="echo server's port"):
        connect_attach(f"{host}:{port}", None)


def test_a_server_refusal_is_the_only_thing_said(served) -> None:
    server = served(token="t")
    sock, frame = raw_viewer(server.url, token=None)
    assert frame == Refused("a valid token is required")
    sock.settimeout(5)
    assert sock.recv(100) == b""
    sock.close()


async def test_the_attached_dashboard_says_disconnected_then_reconnects(connect) -> None:
    """Across a restart of the whole server: the header says so, and the new one is shown."""
    from echo_tui.remote.attach import attached_app
    from tests.reliability.procs import free_port
    from tests.ui.helpers import log_text, screen_text, until

    port = free_port()
    first = serve(("127.0.0.1", port))
    second = None
    source = RemoteSource(first.url, connect_attach(first.url, None))
    source.start()
    app = attached_app(source, refresh_hz=10)
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            echo(connect(first.engine.address), b"first")
            await until(pilot, lambda: len(app.model.clients) == 1)
            assert "attached to 127.0.0.1" in screen_text(app)
            first.stop()
            await until(pilot, lambda: "DISCONNECTED" in screen_text(app))
            assert app.is_running
            second = serve(("127.0.0.1", port))
            for _ in range(2):
                echo(connect(second.engine.address), b"second")
            await until(pilot, lambda: len(app.model.clients) == 2, timeout=15)
            await until(pilot, lambda: "DISCONNECTED" not in screen_text(app))
            assert "reconnected" in log_text(app)
            assert app.snapshot.started_at == second.engine.started_at
    finally:
        source.stop()
        first.stop()
        if second is not None:
            second.stop()


def test_after_a_reconnection_clients_gone_meanwhile_are_gone_from_the_view(
    served, connect
) -> None:
    """The network fails: the view stays, then catches up on reconnection."""
    server = served()
    relay = Relay(server.viewers.address)
    source = RemoteSource(relay.url, connect_attach(relay.url, None))
    try:
        source.start()
        view = View(source.channel)
        staying, leaving = connect(server.engine.address), connect(server.engine.address)
        echo(staying, b"a")
        echo(leaving, b"b")
        wait_for(lambda: view.update() and view.state.open_count == 2)
        relay.cut()
        wait_for(lambda: source.status and "DISCONNECTED" in source.status)
        assert not source.kick(1).result(5).ok  # said at once, not sent
        leaving.close()
        wait_for(lambda: server.engine.channel.latest.open_count == 1)
        assert sorted(view.update().changed) == [1, 2]  # the last view stays
        relay.mend()
        wait_for(lambda: source.status is None, timeout=10)
        wait_for(lambda: view.update() and sorted(view.state.changed) == [1])
        assert any("reconnected" in notice for notice in source.take_notices())
    finally:
        source.stop()
        relay.close()


def test_a_viewer_that_falls_behind_gets_merged_snapshots_and_counted_drops(
    served, tmp_path
) -> None:
    path = tmp_path / "viewers.sock"  # a Unix socket: a peer that reads nothing fills it soon
    server = served(str(path), capacity=50, stall_timeout=60)
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.settimeout(5)
    slow.connect(str(path))
    slow.sendall(hello_frame(None, "slow"))
    done = {"peer-closed": 600}
    for _ in range(600):  # 1,200 lifecycle events while it does not read
        socket.create_connection(server.engine.address, timeout=5).close()
    wait_for(lambda: (latest := server.engine.channel.latest) and latest.totals.closed == done)
    reader, last = FrameReader(1 << 26), None
    with slow:
        while last is None or last.totals.closed != done:  # now it reads
            for line in reader.feed(slow.recv(1 << 16)):
                frame = parse_frame(line)
                if isinstance(frame, Record) and isinstance(frame.item, Snapshot):
                    last = frame.item
                    slow.sendall(ack_frame(last.seq))
    assert last.events_dropped > 0  # counted, as the engine's own channel counts its drops
    assert last.totals.accepted == 600 and last.open_count == 0  # exact


def test_attach_refuses_a_server_of_another_protocol_version() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.recv(1000)
                data = {"protocol": "echo-tui", "version": 2}
                peer.sendall(json.dumps({"kind": "welcome", "data": data}).encode() + b"\n")
                peer.recv(1000)

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        port = listener.getsockname()[1]
        with pytest.raises(AttachError, match="protocol version 2: this side speaks version 1"):
            connect_attach(f"127.0.0.1:{port}", None)
        server.join(5)


async def test_the_attached_dashboard_inspects_a_client_and_steps_the_loop(served, connect) -> None:
    from echo_tui.remote.attach import attached_app
    from tests.ui.helpers import screen_text, until

    server = served()
    engine = server.engine
    app = attached_app(server.attach(), refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        client = connect(engine.address)
        echo(client, b"hello")
        await until(pilot, lambda: len(app.model.clients) == 1)
        await pilot.press("enter")  # the client's detail: its SelectorKey, interest changes
        await until(pilot, lambda: "SelectorKey" in screen_text(app))
        await pilot.press("v")  # the preview of its bytes, sent to this viewer only now
        await until(
            pilot, lambda: (s := app.snapshot) and s.inspected and s.inspected.preview == b""
        )
        echo(client, b"PREVIEWED")
        await until(pilot, lambda: "PREVIEWED" in screen_text(app))
        await pilot.press("escape", "t")  # the trace, then step mode
        await until(pilot, lambda: "select() trace" in screen_text(app))
        await pilot.press("space")
        await until(pilot, lambda: engine.steps.frozen and "STEPPING" in screen_text(app))
        await pilot.press("space")
        await until(pilot, lambda: not engine.steps.stepping)
    echo(client, b"free")


def preview_of(app) -> bytes | None:
    """The preview bytes of the inspected client in the app's latest snapshot, if any."""
    snapshot = app.snapshot
    inspected = snapshot.inspected if snapshot is not None else None
    return inspected.preview if inspected is not None else None


def test_a_failing_viewer_server_releases_the_loop(served, monkeypatch) -> None:
    server = served()
    engine = server.engine
    source = server.attach()
    source.trace(True).result(5)
    source.set_stepping(True)
    wait_for(lambda: engine.steps.frozen)

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.viewers, "_check_time", broken)
    wait_for(lambda: not engine.steps.stepping, timeout=2)
    assert "viewer server failed: RuntimeError: a bug" in server.viewers.take_notices()


async def test_a_read_only_attached_dashboard_says_why_it_cannot_act(served, connect) -> None:
    """The server's controls decide what the dashboard offers: read-only, kick and mute
    say why in one line, the trace (a control a read-only server accepts) still opens."""
    from echo_tui.remote.attach import attached_app
    from tests.ui.helpers import notices, screen_text, until

    server = served(readonly=True)
    app = attached_app(server.attach(), refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        echo(connect(server.engine.address), b"hello")
        await until(pilot, lambda: len(app.model.clients) == 1)
        await pilot.press("m")
        await until(
            pilot, lambda: "Not available: muting (the server is read-only)" in notices(app)
        )
        await pilot.press("k")
        await until(
            pilot, lambda: "Not available: kicking (the server is read-only)" in notices(app)
        )
        assert server.engine.channel.drain()[1] is not None  # the engine serves on
        await pilot.press("t")
        await until(pilot, lambda: "select() trace" in screen_text(app))
