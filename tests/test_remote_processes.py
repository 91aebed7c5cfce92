"""Viewer and engine in different processes, over real TCP and Unix sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from echo_tui.engine.events import Snapshot
from echo_tui.recordings.recording import open_recording
from echo_tui.remote.viewer import RemoteSource, connect
from tests.helpers import recv_exactly, wait_for
from tests.reliability.procs import REPO, Headless, python_process
from tests.remote_helpers import View

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_viewer_sees_traces_and_kicks_what_the_engine_in_another_process_counts(
    kind, tmp_path
) -> None:
    listen = "0" if kind == "tcp" else f"unix:{tmp_path / 'viewers.sock'}"
    server = Headless("--listen-ui", listen)
    source = None
    try:
        url = server.listening["viewers"]
        source = RemoteSource(url, connect(url, None))
        source.start()
        view = View(source.channel)
        clients = [socket.create_connection(server.address, timeout=5) for _ in range(3)]
        for size, client in enumerate(clients, 1):
            client.sendall(b"x" * 1000 * size)
            recv_exactly(client, 1000 * size)
        clients[2].close()
        line = server.until(lambda s: s["bytes_in"] == 6000 and s["connections"] == 2)
        state = wait_for(lambda: view.update() and view.state.open_count == 2 and view.state)
        assert (state.totals.bytes_in, state.totals.bytes_out) == (6000, 6000)
        assert state.totals.accepted == line["accepted"] == 3
        assert sorted(state.changed) == [1, 2]
        assert [state.changed[i].bytes_in for i in (1, 2)] == [1000, 2000]
        # The trace, and a kick of exactly one client, across the processes.
        assert source.trace(True).result(5).ok
        clients[1].sendall(b"traced")
        recv_exactly(clients[1], 6)
        wait_for(lambda: any(k.received == 6 for c in source.channel.take_trace() for k in c.ready))
        kicked = source.kick(1).result(5)
        assert (kicked.ok, kicked.conn_id) == (True, 1)
        assert clients[0].recv(100) == b""
        clients[1].sendall(b"left alone")
        assert recv_exactly(clients[1], 10) == b"left alone"
        server.until(lambda s: s["closed"].get("kicked") == 1)
        for client in clients[:2]:
            client.close()
    finally:
        if source is not None:
            source.stop()
        errors = server.close()
    assert "attached" in errors


def test_a_viewer_killed_while_stepping_releases_the_loop_within_1_s(served) -> None:
    server = served()
    engine = server.engine
    viewer = python_process(
        "-m", "tests.remote_viewer", server.url, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert viewer.stdout.readline() == "stepping\n", viewer.stderr.read()  # type: ignore[union-attr]
        wait_for(lambda: engine.steps.frozen)
        os.kill(viewer.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: not engine.steps.stepping, timeout=1)
        assert time.monotonic() - killed < 1
    finally:
        viewer.kill()
        viewer.wait(5)
        viewer.stdout.close()  # type: ignore[union-attr]
        viewer.stderr.close()  # type: ignore[union-attr]
    with socket.create_connection(engine.address, timeout=5) as client:
        client.sendall(b"free")
        assert recv_exactly(client, 4) == b"free"  # the loop runs


def attach_error(*args: str, **env: str) -> str:
    """What `echo-tui attach ARGS` says on stderr when it exits 2 (here, never a terminal)."""
    without_token = {k: v for k, v in os.environ.items() if k != "ECHO_TUI_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "echo_tui", "attach", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**without_token, "PYTHONPATH": str(REPO), **env},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr  # one line
    return done.stderr


def test_a_listen_ui_on_all_interfaces_makes_a_token_and_says_it_once(tmp_path) -> None:
    server = Headless("--listen-ui", "0.0.0.0:0")
    try:
        said = server.process.stderr.readline()  # type: ignore[union-attr]
        assert "viewer token" in said
        token = said.split()[-1]
        port = server.listening["viewers"].rsplit(":", 1)[1]
        url = f"127.0.0.1:{port}"
        assert "refused: a valid token is required" in attach_error(url)
        assert "refused" in attach_error(url, ECHO_TUI_TOKEN="guess")
        # A good token gets past the server: what stops attach then is the missing terminal.
        assert "needs a terminal" in attach_error(url, ECHO_TUI_TOKEN=token)
        (tmp_path / "token").write_text(token + "\n")
        assert "needs a terminal" in attach_error(url, "--token-file", str(tmp_path / "token"))
    finally:
        errors = server.close()
    assert token not in errors  # said once, at the start
    assert errors.count("refused: a valid token is required") == 2  # counted and logged


def test_attach_in_a_real_terminal_records_and_quits_leaving_the_server(
    served, pty_app, tmp_path
) -> None:
    server = served()
    path = tmp_path / "seen.jsonl"
    with socket.create_connection(server.engine.address, timeout=5) as client:
        client.sendall(b"watched")
        recv_exactly(client, 7)
        app = pty_app(
            "attach", server.url, "--record", str(path), command=(sys.executable, "-m", "echo_tui")
        )
        assert app.read_until_text(f"attached to {server.url}", timeout=15)
        assert app.read_until_text("clients 1/", timeout=10)
        app.write(b"q")
        assert app.wait_exit(timeout=5) == 0
        assert server.engine.running  # quitting a viewer leaves the server running
        client.sendall(b"still")
        assert recv_exactly(client, 5) == b"still"
    reading = open_recording(path)
    snapshots = [r.item for r, _ in reading.records if isinstance(r.item, Snapshot)]
    assert reading.header.address == server.engine.address
    assert snapshots[0].totals.bytes_in == 7 and list(snapshots[0].changed) == [1]


def test_the_dashboard_serves_viewers_and_logs_them(pty_app, tmp_path) -> None:
    path = tmp_path / "viewers.sock"
    app = pty_app("--listen-ui", f"unix:{path}", "--refresh", "10", columns=120, rows=40)
    assert app.read_until(b"127.0.0.1", timeout=15)
    url = f"unix:{path}"
    source = RemoteSource(url, wait_for(lambda: path.exists() and connect(url, None)))
    source.start()
    view = View(source.channel)
    wait_for(view.update)
    assert app.read_until_text("attached (echo-tui attach", timeout=10)
    source.stop()
    assert app.read_until_text("disconnected: left", timeout=10)
    app.write(b"q")
    assert app.wait_exit(timeout=5) == 0
    assert not path.exists()  # removed on the way out
