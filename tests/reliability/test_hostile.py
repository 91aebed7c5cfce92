"""Hostile bytes: echoed byte-exact, never written to the terminal raw or parsed as markup."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable
from dataclasses import replace

from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.screens.client_detail import ClientDetail
from tests.helpers import recv_exactly
from tests.pty_app import LEAVE_ALT_SCREEN, PtyApp
from tests.reliability.hostile import FORBIDDEN_OUTPUT, LONG_LINE, PAYLOAD
from tests.reliability.procs import connect_when_listening, free_port
from tests.ui.helpers import screen_text, until


def send_and_check_echo(sock: socket.socket) -> None:
    sock.sendall(PAYLOAD)
    echoed = recv_exactly(sock, len(PAYLOAD), timeout=10)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(PAYLOAD).digest()


def quit_and_check(app: PtyApp, forbidden: Iterable[bytes]) -> bytes:
    """Quit with `q`; check that none of `forbidden` reached the terminal; return its output."""
    app.write(b"q")
    assert app.wait_exit(timeout=3) == 0
    shown = bytes(app.output[: app.output.rindex(LEAVE_ALT_SCREEN)])
    for sequence in forbidden:
        assert sequence not in shown, f"{sequence!r} reached the terminal"
    return shown


def test_hostile_bytes_in_a_real_terminal(pty_app) -> None:
    port = free_port()
    app = pty_app("--port", str(port), "--refresh", "10")
    assert app.read_until(b"127.0.0.1", timeout=15)
    with connect_when_listening(port) as client:
        for _ in range(3):  # several messages, so several refreshes show the traffic
            send_and_check_echo(client)
        app.read_until(b"never appears", timeout=1)  # ten refreshes showing the traffic
        assert app.process.poll() is None, "markup in client bytes must not run actions"
    quit_and_check(app, FORBIDDEN_OUTPUT)


async def test_hostile_bytes_on_the_rendered_screen(engine, connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=10)
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


# The payload without its long printable tail: what the preview's last 256 bytes then hold.
HOSTILE_TAIL = PAYLOAD[: -len(LONG_LINE)]
# The preview shows these bytes escaped, so its words (HACKED, evil.example) are on screen:
# what must not be is every sequence a terminal would act on.
ACTIVE_OUTPUT = [s for s in FORBIDDEN_OUTPUT if any(b < 0x20 or b >= 0x7F for b in s)]


def test_hostile_bytes_in_the_preview_in_a_real_terminal(pty_app) -> None:
    port = free_port()
    # Tall enough that the detail shows the preview without scrolling.
    app = pty_app("--port", str(port), "--refresh", "10", columns=120, rows=60)
    assert app.read_until(b"127.0.0.1", timeout=15)
    with connect_when_listening(port) as client:
        mark = len(app.output)
        assert app.read_until(b"clients 1/", timeout=10, start=mark)  # it is in the table
        app.write(b"\r")  # Enter: the detail of the only client
        assert app.read_until(b"SelectorKey", timeout=10, start=mark)
        app.write(b"v")  # the preview on
        assert app.read_until(b"nothing received", timeout=10, start=mark)
        mark = len(app.output)
        send_and_check_echo(client)
        client.sendall(HOSTILE_TAIL)
        assert recv_exactly(client, len(HOSTILE_TAIL), timeout=10) == HOSTILE_TAIL
        assert app.read_until(b"0000", timeout=10, start=mark)  # the hex dump is shown
        app.read_until(b"never appears", timeout=1)  # ten refreshes showing it
        assert app.process.poll() is None, "markup in client bytes must not run actions"
    shown = quit_and_check(app, ACTIVE_OUTPUT)
    assert b"\\u202e" in shown[mark:]  # the bidi override, escaped where the text shows


async def test_hostile_bytes_in_the_preview_and_socket_repr(engine, connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    async with app.run_test(size=(140, 45)) as pilot:
        client = connect(engine.address)
        send_and_check_echo(client)
        await until(pilot, lambda: app.table.row_ids)
        await pilot.press("enter", "v")
        await until(pilot, lambda: "nothing received" in screen_text(app))
        client.sendall(HOSTILE_TAIL)
        assert recv_exactly(client, len(HOSTILE_TAIL), timeout=10) == HOSTILE_TAIL
        await until(pilot, lambda: "0000  " in screen_text(app))
        screen = app.screen
        assert isinstance(screen, ClientDetail)
        # A socket repr is the kernel's and Python's words, but it is shown escaped all
        # the same: feed the screen a hostile one (the view paused, so it stays).
        app.action_pause()
        inspected = app.snapshot.inspected  # type: ignore[union-attr]
        hostile = HOSTILE_TAIL.decode("utf-8", "replace")
        screen._show(app.clock(), replace(inspected, fileobj=hostile))  # type: ignore[arg-type]
        await pilot.pause()
        text = screen_text(app)
        assert app.is_running and app.return_code is None
        assert "HACKED" in text and "[@click=app.quit]" in text  # shown, escaped
        for forbidden in ("\x1b", "\x07", "\u202e", "\u2066", "\x9b", "\x9d", "\x00"):
            assert forbidden not in text
