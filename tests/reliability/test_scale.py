"""Scale: 10,000 concurrent clients (held by a separate process) on the real dashboard."""

from __future__ import annotations

import asyncio
import gc
import re
import resource
import signal
import time

import pytest

from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.screens.help import HelpScreen
from tests.pty_app import LEAVE_ALT_SCREEN
from tests.reliability.procs import connect_when_listening, fd_count, free_port, rss_bytes
from tests.ui.helpers import screen_text, until

CLIENTS = 10_000
FDS_NEEDED = CLIENTS + 500  # each side (engine process, client process) needs this many
_HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
pytestmark = pytest.mark.skipif(
    _HARD != resource.RLIM_INFINITY and _HARD < FDS_NEEDED,
    reason=f"10,000 clients need a hard RLIMIT_NOFILE of {FDS_NEEDED}; here it is {_HARD}",
)
KEY_LATENCY = 0.2  # seconds from a key press to its effect on screen
STOP_WITHIN = 2.0  # seconds from SIGTERM to the exit, less the machine's share (see PtyApp)
RSS_HEADLESS = 1024  # bytes per connection, engine only (0.9 KiB measured; the README says 1)
RSS_DASHBOARD = 4096  # ... engine and dashboard (2-3.4 KiB measured)
FD_SLACK = 3  # descriptors that may stay open after all clients left (none expected)


async def key_latency(pilot, key: str, effect) -> float:
    """Seconds from pressing `key` until `effect()` holds (polled every 2 ms, not Pilot's idle
    wait, which alone takes ~100 ms here)."""
    started = time.perf_counter()
    press = asyncio.create_task(pilot.press(key))
    while not effect() and time.perf_counter() - started < 2:
        await asyncio.sleep(0.002)
    latency = time.perf_counter() - started
    await press
    return latency


@pytest.mark.timeout(120)
async def test_ten_thousand_clients_on_the_dashboard(make_engine, swarm, capsys) -> None:
    engine = make_engine()  # max_clients defaults to 10,000; start() raised RLIMIT_NOFILE
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause(0.3)
        gc.collect()
        fds_before, rss_before = fd_count(), rss_bytes()

        clients = swarm("hold", *engine.address, CLIENTS)
        held = await asyncio.to_thread(clients.result)
        assert held["connected"] == held["echoed"] == CLIENTS

        await until(pilot, lambda: app.table.shown_count == CLIENTS, timeout=30)
        assert len(app.model.clients) == app.snapshot.open_count == CLIENTS
        await until(pilot, lambda: "clients 10,000/10,000" in screen_text(app), timeout=5)
        assert fd_count() - fds_before >= CLIENTS
        # Settled: the burst of 10,000 arrivals (and their rates falling back to 0) is applied.
        await until(pilot, lambda: not any(c.rate_in for c in app.model.clients.values()))
        await pilot.pause(0.5)
        gc.collect()
        per_connection = (rss_bytes() - rss_before) / CLIENTS

        latencies = [
            await key_latency(pilot, "question_mark", lambda: isinstance(app.screen, HelpScreen)),
            await key_latency(pilot, "escape", lambda: not isinstance(app.screen, HelpScreen)),
            await key_latency(pilot, "p", lambda: app.paused),
        ]
        assert " PAUSED " in screen_text(app)
        latencies.append(await key_latency(pilot, "p", lambda: not app.paused))
        assert " PAUSED " not in screen_text(app)

        released = await asyncio.to_thread(clients.release)
        assert released == {"closed": CLIENTS}
        await until(pilot, lambda: app.table.shown_count == 0, timeout=30)
        assert app.snapshot.open_count == 0 and not app.model.clients
        assert app.snapshot.totals.accepted == sum(app.snapshot.totals.closed.values())
        await until(pilot, lambda: "clients 0/10,000" in screen_text(app), timeout=5)
        assert fd_count() - fds_before <= FD_SLACK

    with capsys.disabled():
        print(
            f"\n10,000 clients on the dashboard: {per_connection / 1024:.1f} KiB RSS per "
            f"connection (engine + UI); key latencies {[round(t * 1000) for t in latencies]} ms"
        )
    assert per_connection <= RSS_DASHBOARD
    assert max(latencies) < KEY_LATENCY, latencies


@pytest.mark.timeout(90)
def test_ten_thousand_clients_headless(headless, swarm, capsys) -> None:
    server = headless()
    server.stats()
    fds_before, rss_before = fd_count(server.pid), rss_bytes(server.pid)

    clients = swarm("hold", *server.address, CLIENTS)
    held = clients.result()
    assert held["connected"] == held["echoed"] == CLIENTS
    # A stats line may show a snapshot taken before the last echoes: wait for the
    # totals, which can only reach these values if every byte was counted once.
    server.until(
        lambda s: s["connections"] == CLIENTS and s["bytes_in"] == s["bytes_out"] == 8 * CLIENTS
    )
    per_connection = (rss_bytes(server.pid) - rss_before) / CLIENTS

    assert clients.release() == {"closed": CLIENTS}
    line = server.until(lambda s: s["connections"] == 0, timeout=20)
    assert line["accepted"] == line["closed"]["peer-closed"] == CLIENTS
    assert fd_count(server.pid) - fds_before <= FD_SLACK

    with capsys.disabled():
        print(f"\n10,000 clients headless: {per_connection / 1024:.1f} KiB RSS per connection")
    assert per_connection <= RSS_HEADLESS


def header_drawn(shown: bytes, live: bool) -> bool:
    """Whether `shown` redraws the header (row 1) for 10,000 clients, paused or `live`."""
    for line in re.findall(rb"\x1b\[1;1H([^\x1b]*)", shown):
        if b"clients 10,000/10,000" in line and (b"PAUSED" not in line) == live:
            return True
    return False


@pytest.mark.timeout(90)
def test_ten_thousand_clients_keys_and_sigterm_in_a_real_terminal(pty_app, swarm) -> None:
    port = free_port()
    app = pty_app("--port", str(port), columns=140, rows=45)
    assert app.read_until(b"127.0.0.1", timeout=15)
    connect_when_listening(port).close()
    clients = swarm("hold", "127.0.0.1", port, CLIENTS)
    assert clients.result()["connected"] == CLIENTS
    assert app.read_until(b"clients 10,000/10,000", timeout=30)
    app.read_until(b"never appears", timeout=1.5)  # let the burst of arrivals settle

    latencies = []
    for live in (False, True):  # pause, then resume: the header redrawn with, then without PAUSED
        typed = len(app.output)
        waits, started = app.cpu_waits(), time.monotonic()
        app.write(b"p")
        assert app.read_until_shown(lambda shown, live=live: header_drawn(shown, live), 2, typed)
        # Less the time a busy machine kept the app's threads waiting for a CPU.
        latencies.append(time.monotonic() - started - app.cpu_waited_since(waits))
    assert max(latencies) < KEY_LATENCY, latencies

    status, took = app.stop_timed(signal.SIGTERM, timeout=STOP_WITHIN + 2)  # all still connected
    assert status == 0 and took < STOP_WITHIN, (status, took)
    assert LEAVE_ALT_SCREEN in app.output and b"Traceback" not in app.output
    assert clients.release() == {"closed": CLIENTS}
