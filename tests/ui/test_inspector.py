"""The loop inspector against the real engine and real sockets: FD/Interest columns, the
client detail, the select() trace and step mode."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator

from echo_tui.engine.server import EchoEngine
from echo_tui.ui.app import EchoTuiApp
from echo_tui.ui.screens.client_detail import ClientDetail
from echo_tui.ui.screens.trace import TraceScreen
from tests.helpers import recv_exactly
from tests.ui.helpers import at_eof, conn_id_of, screen_text, until

SIZE = (140, 45)
Connect = Callable[..., socket.socket]


def server_side_fd(client: socket.socket) -> int:
    """The fd of the engine's socket for `client`, found through /proc, not the engine."""
    wanted = client.getsockname()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            with socket.socket(fileno=os.dup(fd)) as other:
                if other.type == socket.SOCK_STREAM and other.getpeername() == wanted:
                    return fd
        except OSError:
            continue
    raise AssertionError("no server-side socket found")


def trace_text(app: EchoTuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    return "\n".join(strip.text for strip in screen.log_view.lines)


@contextlib.contextmanager
def sending(sock: socket.socket, data: bytes) -> Iterator[threading.Thread]:
    """sendall(data) in a thread (it blocks while the server is not reading)."""
    thread = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(10)


async def test_fd_column_is_the_server_side_fileno(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        clients = [connect(engine.address) for _ in range(3)]
        for client in clients:
            cid = await conn_id_of(pilot, app, client)
            assert app.table.cell_text(cid, "fd") == str(server_side_fd(client))
            assert app.table.cell_text(cid, "interest") == "R"


async def test_events_flip_to_rw_when_a_reader_stalls_and_back(
    make_engine: Callable[..., EchoEngine], connect: Connect
) -> None:
    engine = make_engine(max_buffer=64 << 20)  # high water 32 MiB: it keeps reading
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        client = connect(engine.address, SO_RCVBUF=4096)
        cid = await conn_id_of(pilot, app, client)
        size = 16 << 20  # more than loopback socket buffers hold
        with sending(client, b"x" * size):
            await until(pilot, lambda: app.table.cell_text(cid, "interest") == "RW")
            assert recv_exactly(client, size, timeout=10) == b"x" * size
        await until(pilot, lambda: app.table.cell_text(cid, "interest") == "R")
        await pilot.press("slash", *"rw", "enter")
        await until(pilot, lambda: app.table.shown_count == 0)


async def test_detail_shows_backpressure_interest_changes_newest_first(
    make_engine: Callable[..., EchoEngine], connect: Connect
) -> None:
    engine = make_engine(max_buffer=256 * 1024)  # high water 128 KiB, low water 32 KiB
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        client = connect(engine.address, SO_RCVBUF=4096)
        cid = await conn_id_of(pilot, app, client)
        app.table.move_to(cid)
        await pilot.press("enter")
        assert isinstance(app.screen, ClientDetail) and app.screen.conn_id == cid
        await until(pilot, lambda: "registered for EVENT_READ" in screen_text(app))
        # Each change shows on screen while it is among the newest; the whole record
        # passes through the snapshots (a flood cycles backpressure many times).
        shown: set[str] = set()

        def shown_line(pattern: str) -> bool:
            shown.update(re.findall(r"\d\d:\d\d:\d\d\.\d{3}  (.+)", screen_text(app)))
            return any(re.match(pattern, line) for line in shown)

        size = 4 << 20
        with sending(client, b"y" * size):
            await until(pilot, lambda: shown_line(r"modify EVENT_WRITE \(backpressure:"))
            assert recv_exactly(client, size, timeout=20) == b"y" * size
        # Reading resumes once at most low water (32 KiB) is pending, with echo still
        # pending (one send() per EVENT_WRITE) or none.
        drained = r"modify EVENT_READ( \| EVENT_WRITE)? \(drained to [^:]+: reading again\)"
        await until(pilot, lambda: shown_line(drained))
        assert shown_line(r"modify EVENT_READ \| EVENT_WRITE \(send took"), shown
        # Newest first (the newest are on screen at 80x24): times never rise down the list.
        text = screen_text(app)
        times = re.findall(r"(\d\d:\d\d:\d\d\.\d{3})  (?:modify|register|unregister)", text)
        assert len(times) >= 3 and times == sorted(times, reverse=True), text
        await pilot.press("escape")
        assert not isinstance(app.screen, ClientDetail)


async def test_detail_kick_and_mute_act_on_its_client(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        other, client = connect(engine.address), connect(engine.address)
        await conn_id_of(pilot, app, other)
        cid = await conn_id_of(pilot, app, client)
        app.table.move_to(cid)
        await pilot.press("enter")
        await pilot.press("m")
        await until(pilot, lambda: app.model.clients[cid].stats.state == "muted")
        await until(pilot, lambda: "unregister (muted)" in screen_text(app))
        await pilot.press("k", "y")
        await until(pilot, lambda: at_eof(client))
        await until(pilot, lambda: "disconnected" in screen_text(app))
        assert not at_eof(other)


async def test_trace_shows_accept_read_and_a_kick_wakeup(
    engine: EchoEngine, connect: Connect
) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, TraceScreen)
        await until(pilot, lambda: app.screen.last is not None)  # type: ignore[attr-defined]
        client = connect(engine.address)
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"
        fd = server_side_fd(client)  # accepted by now: it echoed
        cid = await conn_id_of(pilot, app, client)
        engine.kick(cid).result(5)
        peer = "{}:{}".format(*client.getsockname())
        await until(pilot, lambda: "(wake-up) READ → kicked" in trace_text(app))
        text = trace_text(app)
        accept = text.index(f"(listener) READ → accept fd {fd} from {peer}")
        read = text.index(f"fd {fd} #{cid} READ → recv 5 B, send 5 B")
        kick = text.index(f"(wake-up) READ → kicked #{cid}")
        assert accept < read < kick
        assert "keys registered" in screen_text(app)


async def test_step_mode_serves_nobody_until_n(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        first, second = connect(engine.address), connect(engine.address)
        await conn_id_of(pilot, app, first)
        await conn_id_of(pilot, app, second)
        await pilot.press("t", "space")
        await until(pilot, lambda: engine.steps.frozen)
        assert "STEPPING" in screen_text(app)
        first.sendall(b"one")
        second.sendall(b"two")
        first.settimeout(0.3)
        try:
            early = first.recv(3)
        except TimeoutError:
            early = b""
        assert early == b"", "echoed while the loop was frozen"
        for _ in range(3):
            await pilot.press("n")
            await until(pilot, lambda: engine.steps.frozen)
            first.settimeout(0)
            try:
                got = first.recv(3)
                break
            except BlockingIOError:
                continue
        assert got == b"one"
        await pilot.press("space")  # resume: everyone is served
        assert recv_exactly(second, 3) == b"two"
        first.sendall(b"again")
        assert recv_exactly(first, 5) == b"again"
        assert "STEPPING" not in screen_text(app)


async def test_closing_the_trace_resumes_the_loop(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine, refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        client = connect(engine.address)
        await conn_id_of(pilot, app, client)
        await pilot.press("t", "space")
        await until(pilot, lambda: engine.steps.frozen)
        client.sendall(b"held")
        await pilot.press("escape")
        assert not isinstance(app.screen, TraceScreen)
        assert recv_exactly(client, 4) == b"held"  # served again, nothing lost
        await until(pilot, lambda: not engine.steps.stepping)


async def test_quit_while_stepping_exits_at_once(engine: EchoEngine, connect: Connect) -> None:
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t", "space")
        await until(pilot, lambda: engine.steps.frozen)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=2)
    assert engine.stopped.wait(2)
