"""The demo swarm: real clients against the real engine, in a process that never outlives us."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from echo_tui.engine.events import BACKPRESSURED, Connected, ConnectionStats
from echo_tui.engine.server import EchoEngine
from echo_tui.tools.demo import (
    BEHAVIOURS,
    COMEBACK_DELAY,
    KINDS,
    DemoSwarm,
    behaviour_for,
    slow_reader,
)
from echo_tui.ui.app import EchoTuiApp
from tests.helpers import wait_for
from tests.ui.helpers import client_ids, peer_of, screen_text, until


class View:
    """A consumer of the engine's channel: the open connections and the events seen."""

    def __init__(self, engine: EchoEngine) -> None:
        self.engine = engine
        self.conns: dict[int, ConnectionStats] = {}
        self.events: list[object] = []

    def update(self) -> View:
        events, snapshot, error = self.engine.channel.drain()
        assert error is None
        self.events.extend(events)
        if snapshot is not None:
            for conn_id in snapshot.closed:
                self.conns.pop(conn_id, None)
            self.conns.update(snapshot.changed)
        return self


@pytest.fixture
def swarm() -> Iterator[DemoSwarm]:
    demo = DemoSwarm()
    yield demo
    demo.stop()


def gone(pid: int) -> bool:
    """True once `pid` has exited (missing, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_swarm_clients_connect_and_stop_leaves_no_process(engine, swarm) -> None:
    view = View(engine)
    swarm.start(*engine.address, 5)
    wait_for(lambda: len(view.update().conns) == 5, timeout=10)
    pid = swarm.pid
    assert pid is not None and swarm.running
    swarm.stop()
    assert not swarm.running and swarm.pid is None
    assert gone(pid)
    wait_for(lambda: not view.update().conns, timeout=5)
    swarm.stop()  # idempotent


def test_slow_reader_drives_the_server_into_backpressure(make_engine, swarm) -> None:
    engine = make_engine(max_buffer=256 * 1024)
    view = View(engine)
    index = BEHAVIOURS.index(slow_reader)
    swarm.start(*engine.address, index + 1)
    wait_for(
        lambda: any(c.state == BACKPRESSURED for c in view.update().conns.values()), timeout=15
    )


def test_kicked_client_comes_back(engine, swarm) -> None:
    view = View(engine)
    assert behaviour_for(0).__name__ == "chatty"
    swarm.start(*engine.address, 1)
    first = wait_for(lambda: next(iter(view.update().conns), None), timeout=10)
    assert engine.kick(first).result(timeout=5).ok
    back = wait_for(
        lambda: [e for e in view.update().events if isinstance(e, Connected) and e.conn_id > first],
        timeout=COMEBACK_DELAY + 5,
    )
    assert len(back) == 1


def test_swarm_exits_when_its_parent_dies(engine) -> None:
    host, port = engine.address
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from echo_tui.tools.demo import DemoSwarm; s = DemoSwarm(); "
         f"s.start({host!r}, {port}, 2); print(s.pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        swarm_pid = int(parent.stdout.readline())
        assert not gone(swarm_pid)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    wait_for(lambda: gone(swarm_pid), timeout=5)


def test_swarm_process_runs_as_a_module_and_rejects_bad_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echo_tui.tools.demo", "127.0.0.1", "not-a-port", "3"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid int value" in done.stderr


async def test_demo_5_shows_5_clients_on_the_dashboard(engine, swarm) -> None:
    """What `echo-tui --demo 5` does: the swarm next to the real app, then gone after exit."""
    app = EchoTuiApp(engine, engine, refresh_hz=10)
    swarm.start(*engine.address, 5)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(client_ids(app)) == 5, timeout=10)
    pid = swarm.pid
    assert pid is not None
    swarm.stop()
    assert gone(pid)


async def test_the_kind_column_names_each_demo_client(engine, swarm, connect) -> None:
    """The swarm reports (address, behaviour) through a pipe; other clients get no kind."""
    app = EchoTuiApp(engine, engine, refresh_hz=10, kind_of=swarm.kind_of)
    swarm.start(*engine.address, len(BEHAVIOURS))
    stranger = connect(engine.address)
    async with app.run_test(size=(140, 40)) as pilot:

        def kinds() -> dict[str, str]:
            return {
                app.model.clients[cid].stats.peer: app.table.cell_text(cid, "kind")
                for cid in client_ids(app)
            }

        # The churner is away now and then; the others stay connected.
        await until(pilot, lambda: set(kinds().values()) >= KINDS - {"churner"}, timeout=15)
        assert kinds()[peer_of(stranger)] == ""
        await until(pilot, lambda: "Kind" in (text := screen_text(app)) and "slow reader" in text)
    swarm.stop()
    assert swarm.kind_of(next(iter(kinds()))) is None


def test_kind_reports_are_checked_and_bounded() -> None:
    swarm = DemoSwarm()
    swarm._max_kinds = 2
    lines = [
        b"127.0.0.1:1 chatty\n",
        b"127.0.0.1:2 [bold]evil[/bold]\n",  # not a kind: ignored
        b"127.0.0.1:3 " + b"x" * 100 + b"\n",
        b"9" * 100 + b" idle\n",  # an address too long: ignored
        b"127.0.0.1:4 slow reader\n",
        b"127.0.0.1:5 large\n",  # a third: the oldest (port 1) goes
        b"127.0.0.1:4 -\n",  # closed
    ]
    swarm._read_kinds(io.BytesIO(b"".join(lines)))
    assert swarm._kinds == {"127.0.0.1:5": "large"}
    assert swarm.kind_of("127.0.0.1:2") is None


def test_swarm_runs_this_echo_tui_whatever_the_working_directory(
    engine, swarm, tmp_path, monkeypatch
) -> None:
    """`python -m` imports from the working directory first: another echo_tui there is not ours."""
    impostor = tmp_path / "echo_tui"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("raise SystemExit('the wrong echo_tui')\n")
    monkeypatch.chdir(tmp_path)
    swarm.start(*engine.address, 1)
    wait_for(lambda: swarm.kind_of(next(iter(swarm._kinds), "")) == "chatty", timeout=10)
