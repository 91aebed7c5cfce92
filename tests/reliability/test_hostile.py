"""Hostile bytes: echoed byte-exact, never written to the terminal raw or parsed as markup."""

from __future__ import annotations

import hashlib
import socket

from echo_tui.ui.app import EchoTuiApp
from tests.helpers import recv_exactly
from tests.pty_app import LEAVE_ALT_SCREEN
from tests.reliability.hostile import FORBIDDEN_OUTPUT, PAYLOAD
from tests.reliability.procs import connect_when_listening, free_port
from tests.ui.helpers import screen_text, until


def send_and_check_echo(sock: socket.socket) -> None:
    sock.sendall(PAYLOAD)
    echoed = recv_exactly(sock, len(PAYLOAD), timeout=10)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(PAYLOAD).digest()


def test_hostile_bytes_in_a_real_terminal(pty_app) -> None:
    port = free_port()
    app = pty_app("--port", str(port), "--refresh", "10")
    assert app.read_until(b"127.0.0.1", timeout=15)
    with connect_when_listening(port) as client:
        for _ in range(3):  # several messages, so several refreshes show the traffic
            send_and_check_echo(client)
        app.read_until(b"never appears", timeout=1)  # ten refreshes showing the traffic
        assert app.process.poll() is None, "markup in client bytes must not run actions"
    app.write(b"q")
    assert app.wait_exit(timeout=3) == 0
    leave = app.output.rindex(LEAVE_ALT_SCREEN)
    shown = bytes(app.output[:leave])
    for sequence in FORBIDDEN_OUTPUT:
        assert sequence not in shown, f"{sequence!r} reached the terminal"


async def test_hostile_bytes_on_the_rendered_screen(engine, connect) -> None:
    app = EchoTuiApp(engine, refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        client = connect(engine.address)
        send_and_check_echo(client)
        await until(pilot, lambda: app.snapshot and app.snapshot.totals.bytes_out == len(PAYLOAD))
        await pilot.pause(0.3)
        text = screen_text(app)
        assert app.is_running and app.return_code is None
        for forbidden in ("HACKED", "C1-TITLE", "evil.example", "BOLD", "\x1b", "\u202e", "\x9b"):
            assert forbidden not in text
        assert len(app.model.clients) == 1
        send_and_check_echo(client)  # still serving after it was shown
