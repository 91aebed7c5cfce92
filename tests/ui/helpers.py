"""Helpers for driving the app: async polling with a deadline, reading what is on screen."""

from __future__ import annotations

import html
import re
import socket
import time
from collections.abc import Callable

import pytest
from textual.app import App
from textual.pilot import Pilot

from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.widgets.event_log import EventLog


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 5.0) -> object:
    """Let the app run until `condition()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {condition}")
        await pilot.pause(0.02)


def screen_text(app: App) -> str:
    """The visible screen as plain text (from the SVG screenshot, tags stripped)."""
    svg = app.export_screenshot()
    body = re.sub(r"<style.*?</style>|<[^>]+>", "", svg, flags=re.S)
    return html.unescape(body).replace("\xa0", " ")


def log_text(app: EchoTuiApp) -> str:
    """Every line in the event log."""
    log = app.query_one(EventLog)
    return "\n".join(strip.text for strip in log.lines)


def at_eof(sock: socket.socket) -> bool:
    """True when the peer closed `sock` (EOF or reset); never blocks."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.settimeout(timeout)


def client_ids(app: EchoTuiApp) -> list[int]:
    """conn_ids in the table, top to bottom."""
    return app.table.row_ids


def peer_of(sock: socket.socket) -> str:
    """How the engine names the client behind `sock`: its local address as host:port."""
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


async def conn_id_of(pilot: Pilot, app: EchoTuiApp, sock: socket.socket) -> int:
    """Wait until the client behind `sock` is in the table; return its conn_id."""
    peer = peer_of(sock)

    def find() -> int | None:
        for cid, client in app.model.clients.items():
            if client.stats.peer == peer and cid in client_ids(app):
                return cid
        return None

    return await until(pilot, find)  # type: ignore[return-value]


def notices(app: App) -> str:
    """The messages of the notifications on screen, one a line (toasts wrap on screen)."""
    return "\n".join(notification.message for notification in app._notifications)
