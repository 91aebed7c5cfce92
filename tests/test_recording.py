"""--record and `echo-tui replay`: real sessions recorded, then played back headless and live."""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import LoopStats, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplaySource
from echo_tui.recordings.recording import FORMAT_VERSION, Recorder, open_recording
from echo_tui.recordings.records import decode, encode
from echo_tui.recordings.timeline import Timeline
from echo_tui.ui.app import EchoTuiApp
from tests.helpers import recv_exactly, wait_for
from tests.pty_app import ENTER_ALT_SCREEN
from tests.ui.helpers import screen_text, until

COMMAND = [sys.executable, "-m", "echo_tui"]
STOP_WITHIN = 2.0  # seconds from a stop signal to the exit
HIDE_CURSOR, SHOW_CURSOR = b"\x1b[?25l", b"\x1b[?25h"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout)


def load(port: int, connections: int, size: int) -> dict:
    result = run(
        "load", "--port", str(port), "--connections", str(connections),
        "--size", str(size), "--duration", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def record_headless(path: Path, *extra: str) -> tuple[dict, dict, str]:
    """Record a headless session under `echo-tui load`: (load's result, live summary, stderr)."""
    server = subprocess.Popen(
        [*COMMAND, "--headless", "--json", "--port", "0", "--interval", "0.2",
         "--record", str(path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        listening = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        result = load(listening["port"], connections=4, size=100)
    finally:
        server.send_signal(signal.SIGTERM)
        out, errors = server.communicate(timeout=10)
    assert server.returncode == 0, errors
    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary"
    return result, summary, errors


def replay_json(path: Path, *extra: str) -> list[dict]:
    result = run("replay", str(path), "--headless", "--json", "--speed", "0", *extra)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("name", ["session.jsonl", "session.jsonl.gz"])
def test_a_headless_session_replays_to_the_totals_the_load_sent(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    result, live_summary, _ = record_headless(path)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")

    lines = replay_json(path, "--interval", "0.2")
    summary = lines[-1]
    assert summary["bytes_in"] == summary["bytes_out"] == result["messages"] * 100
    assert summary["accepted"] == 4
    assert summary == live_summary  # the replay ends where the live server did
    assert summary["iterations_timed"] > 0 and summary["iteration_seconds"]["max"] > 0
    assert all(line["event"] == "stats" for line in lines[:-1]) and len(lines) >= 5
    assert [line["time"] for line in lines[:-1]] == sorted(line["time"] for line in lines[:-1])


def test_a_dashboard_session_in_a_real_terminal_replays_exactly(pty_app, tmp_path) -> None:
    from tests.reliability.procs import free_port

    path, port = tmp_path / "dashboard.jsonl.gz", free_port()
    app = pty_app("--port", str(port), "--record", str(path), command=COMMAND)
    assert app.read_until(b"127.0.0.1", timeout=15), bytes(app.output[-2000:])
    result = load(port, connections=3, size=1000)
    app.write(b"q")
    assert app.wait_exit(timeout=10) == 0
    summary = replay_json(path)[-1]
    assert summary["accepted"] == 3
    assert summary["bytes_in"] == result["messages"] * 1000


def test_cut_short_bogus_and_future_files(tmp_path: Path) -> None:
    path = tmp_path / "whole.jsonl"
    record_headless(path)
    whole = path.read_bytes()

    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(whole[: len(whole) - 40])  # mid-way through the last record
    replayed = run("replay", str(cut), "--headless", "--json", "--speed", "0")
    assert replayed.returncode == 0
    assert "cut short" in replayed.stderr and len(replayed.stderr.splitlines()) == 1
    assert json.loads(replayed.stdout.splitlines()[-1])["event"] == "summary"

    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(whole)[:-30])  # no end of stream
    replayed = run("replay", str(gz), "--headless", "--json", "--speed", "0")
    assert replayed.returncode == 0
    assert "cut short" in replayed.stderr and len(replayed.stderr.splitlines()) == 1

    bogus = tmp_path / "bogus.jsonl"
    bogus.write_bytes(os.urandom(3000))
    bogus_gz = tmp_path / "bogus.jsonl.gz"
    bogus_gz.write_bytes(gzip.compress(b"not json\n"))
    header, _, rest = whole.partition(b"\n")
    future = tmp_path / "future.jsonl"
    version = f'"version": {FORMAT_VERSION}'.encode()
    future.write_bytes(header.replace(version, b'"version": 99') + b"\n" + rest)
    for bad, says in [
        (bogus, "not an echo-tui recording"),
        (bogus_gz, "not an echo-tui recording"),
        (future, "newer than this echo-tui reads"),
        (tmp_path / "missing.jsonl", "cannot read"),
    ]:
        replayed = run("replay", str(bad), "--headless")
        assert replayed.returncode == 2, replayed
        assert says in replayed.stderr and len(replayed.stderr.splitlines()) == 1
        assert str(bad) in replayed.stderr  # which file, when several are tried
        assert "Traceback" not in replayed.stderr


def repeated(recording: Path, path: Path, times: int, gap: float = 0.0) -> Path:
    """`recording` played `times` times back to back (a longer session), at `path`.

    `gap`: recorded seconds of silence between the repetitions.
    """
    header, *lines = recording.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    span = max(record["t"] for record in records) + 0.1 + gap
    with path.open("w") as out:
        out.write(header + "\n")
        for repetition in range(times):
            for record in records:
                shifted = {**record, "t": round(record["t"] + repetition * span, 6)}
                out.write(json.dumps(shifted, separators=(",", ":")) + "\n")
    return path


def test_reading_a_long_recording_shows_its_progress_and_can_be_interrupted(
    pty_app, tmp_path: Path
) -> None:
    """On a terminal, a transient bar shows how much of the file has been read (an hour
    of busy clients takes seconds); Ctrl-C or SIGTERM then stops it with one line and
    the cursor shown again, exit 130."""
    session = tmp_path / "session.jsonl"
    record_headless(session)
    long = repeated(session, tmp_path / "long.jsonl", times=max(1, 2**20 // session.stat().st_size))
    app = pty_app(command=[*COMMAND, "replay", str(long)])
    assert app.read_until_text("replay reading", timeout=15), bytes(app.output[-2000:])
    assert app.read_until_text("REPLAY", timeout=30), "the dashboard never opened"
    app.write(b"q")
    assert app.wait_exit(timeout=10) == 0

    huge = repeated(session, tmp_path / "huge.jsonl", times=40 * 2**20 // session.stat().st_size)
    for signum in (signal.SIGINT, signal.SIGTERM):
        app = pty_app(command=[*COMMAND, "replay", str(huge)])
        assert app.read_until_text("replay reading", timeout=15), bytes(app.output[-2000:])
        app.process.send_signal(signum)  # reading 40 MiB takes seconds
        assert app.wait_exit(timeout=STOP_WITHIN) == 130
        assert app.read_until_text("echo-tui replay: interrupted", timeout=5)
        assert app.output.rfind(SHOW_CURSOR) > app.output.rfind(HIDE_CURSOR) >= 0
        assert b"Traceback" not in app.output and ENTER_ALT_SCREEN not in app.output


def test_a_headless_replay_at_full_speed_stops_on_a_signal(tmp_path: Path) -> None:
    """--speed 0 never waits between lines; a stop signal must still end it at once."""
    session = tmp_path / "session.jsonl"
    record_headless(session)
    days = repeated(session, tmp_path / "days.jsonl", times=2, gap=7 * 86400)  # a week idle
    replay = subprocess.Popen(
        [*COMMAND, "replay", str(days), "--headless", "--json", "--speed", "0",
         "--interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert json.loads(replay.stdout.readline())["event"] == "stats"  # type: ignore[union-attr]
        replay.send_signal(signal.SIGTERM)
        _, errors = replay.communicate(timeout=STOP_WITHIN)  # a week of lines would take minutes
    finally:
        replay.kill()
    assert replay.returncode == 0, errors
    assert errors == ""


def test_an_existing_file_is_kept_unless_overwrite_is_given(tmp_path: Path) -> None:
    path = tmp_path / "kept.jsonl"
    path.write_text("precious\n")
    refused = run("--headless", "--port", "0", "--record", str(path))
    assert refused.returncode == 2
    assert "--record-overwrite" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert path.read_text() == "precious\n"
    record_headless(path, "--record-overwrite")
    assert open_recording(path).header.version == FORMAT_VERSION


def test_record_max_stops_the_recording_and_not_the_server(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    result, summary, errors = record_headless(path, "--record-max", "4000")
    assert summary["accepted"] == 4 and summary["bytes_in"] == result["messages"] * 100
    assert "recording stopped: --record-max 4,000 bytes reached" in errors
    assert path.stat().st_size < 4000 + 300  # the bound plus the note saying so
    timeline = Timeline(path)
    assert timeline.warning is None
    assert "recording stopped" in list(timeline.records())[-1].item


def first_line_within(stream, timeout: float) -> str:  # type: ignore[no-untyped-def]
    """The next line of a subprocess's pipe, or "" if none comes within `timeout` s."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


@pytest.mark.parametrize(
    ("target", "says"),
    [
        # A bound below the header's size: the file keeps its header and the note.
        ("small.jsonl", "recording stopped: --record-max 1 bytes reached; the server goes on"),
        ("/dev/full", "recording to /dev/full stopped: [Errno 28]"),  # the disk is full at once
    ],
    ids=["record-max", "disk-full"],
)
def test_headless_says_when_recording_stops_as_it_happens(
    tmp_path: Path, target: str, says: str
) -> None:
    if target.startswith("/dev/") and not os.path.exists(target):
        pytest.skip(f"no {target} on this platform")
    path = tmp_path / target if not target.startswith("/") else Path(target)
    server = subprocess.Popen(
        [*COMMAND, "--headless", "--json", "--port", "0", "--interval", "0.2",
         "--record", str(path), "--record-max", "1", "--record-overwrite"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = json.loads(server.stdout.readline())["port"]  # type: ignore[union-attr]
        notice = first_line_within(server.stderr, timeout=15)
        assert notice.startswith(f"echo-tui: {says}"), notice
        assert server.poll() is None  # said while the server runs, and it goes on serving
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"still here")
            assert recv_exactly(client, 10) == b"still here"
    finally:
        server.send_signal(signal.SIGTERM)
        out, errors = server.communicate(timeout=10)
    assert server.returncode == 0, errors
    # Said once, not again at exit, and no traceback; then what the file holds, if anything.
    if target == "small.jsonl":
        assert re.fullmatch(rf"echo-tui: recorded \d+\.\d s, \d+ B to {path}\n", errors), errors
    else:
        assert errors == ""
    assert all(json.loads(line) for line in out.splitlines())  # stdout stays JSON lines
    if path.is_file():
        timeline = Timeline(path)
        assert timeline.warning is None and timeline.header.version == FORMAT_VERSION
        assert list(timeline.records())[-1].item.startswith("recording stopped")  # type: ignore[union-attr]


class StuckDisk:
    """A file whose writes, after the header, wait until `released` is set: a stuck disk."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        self.released = threading.Event()
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes > 1:
            assert self.released.wait(60)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def test_a_stuck_disk_neither_blocks_the_engine_nor_grows_memory(tmp_path: Path, connect) -> None:
    path = tmp_path / "stuck.jsonl"
    disk = StuckDisk(path)
    engine = EchoEngine(EngineConfig(port=0, tick=0.02))
    recorder = Recorder(engine, path, stream=disk, capacity=32)  # type: ignore[arg-type]
    engine.start()
    recorder.start()
    try:
        wait_for(lambda: disk.writes > 1)  # the writer thread is stuck in a write now
        for n in range(150):  # 300 lifecycle events, ten times what the recorder holds
            sock = connect(engine.address)
            sock.sendall(b"%d" % n)
            assert recv_exactly(sock, len(b"%d" % n)) == b"%d" % n
            sock.close()
            assert len(recorder.channel) <= 32
    finally:
        disk.released.set()
        engine.stop()
        recorder.stop()
    snapshots = [r.item for r in Timeline(path).records() if isinstance(r.item, Snapshot)]
    last = snapshots[-1]
    assert last.totals.accepted == 150  # merged snapshots keep the totals exact
    assert last.totals.bytes_in == sum(len(b"%d" % n) for n in range(150))
    assert last.events_dropped > 0  # the recording says what it lost


async def test_the_dashboard_replays_what_the_live_one_showed(tmp_path: Path, connect) -> None:
    path = tmp_path / "live.jsonl"
    engine = EchoEngine(EngineConfig(port=0))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    live = EchoTuiApp(engine, engine)
    async with live.run_test(size=(120, 40)) as pilot:
        clients = [connect(engine.address) for _ in range(3)]
        for n, sock in enumerate(clients):
            sock.sendall(b"x" * (n + 1) * 100)
            recv_exactly(sock, (n + 1) * 100)
        await until(
            pilot, lambda: sum(c.stats.bytes_in for c in live.model.clients.values()) == 600
        )
        seen_at = live.snapshot.seq  # type: ignore[union-attr]
        seen = {cid: client.stats for cid, client in live.model.clients.items()}
        clients[0].close()
        await until(pilot, lambda: len(live.model.clients) == 2)
    recorder.stop()

    timeline = Timeline(path)
    moment = next(
        r.t for r in timeline.records() if isinstance(r.item, Snapshot) and r.item.seq == seen_at
    )
    source = ReplaySource(timeline)
    replay = EchoTuiApp(source, clock=source.wall_clock, playback=source.channel)
    async with replay.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")  # pause
        assert source.channel.paused
        source.channel.seek(moment)
        replay.tick()
        assert {cid: c.stats for cid, c in replay.model.clients.items()} == seen
        await pilot.press("end")  # the engine's last snapshot: it stopped, closing everyone
        assert source.channel.position == timeline.duration and not replay.model.clients
        await pilot.press("home")
        assert not replay.model.clients and source.channel.position == 0
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert source.channel.speed == 4
        await pilot.press("right")
        assert source.channel.position == min(10, timeline.duration)
        await pilot.press("left")
        assert source.channel.position == max(0, min(10, timeline.duration) - 10)
        assert "REPLAY" in replay.status_header.text.plain
        assert not replay.check_action("kick", ()) and not replay.check_action("mute", ())


async def test_a_seek_clears_the_traffic_history_on_screen_at_once(tmp_path: Path) -> None:
    """Rates, sparklines and peaks belong to the moment they were measured: after a seek
    they must not show until the next window, nor the peak of a moment not reached yet.

    Playback follows a clock the test moves, a fifth of a second per UI tick, so the
    rate windows close as they would at 1x whatever the machine's speed.
    """
    path = tmp_path / "busy.jsonl"
    record_headless(path)
    timeline = Timeline(path)
    clock = [0.0]
    source = ReplaySource(timeline, clock=lambda: clock[0])
    replay = EchoTuiApp(source, clock=source.wall_clock, playback=source.channel)
    async with replay.run_test(size=(120, 40)) as pilot:
        panel = replay.traffic_panel
        while not source.channel.at_end:
            clock[0] += 0.2
            replay.tick()
        await pilot.pause()
        assert any(panel.spark_in.data) and "peak in" in screen_text(replay)
        await pilot.press("home")
        await pilot.pause()
        assert panel.spark_in.data == panel.spark_out.data == ()
        shown = screen_text(replay)
        assert "peak in" not in shown
        assert re.search(r"in +0 B/s +0 recv/s", shown), shown


def recorded_lines(path: Path) -> list[dict]:
    """The whole records (not the header) a file cut short at any byte holds."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = zlib.decompressobj(wbits=31).decompress(data)
    return [json.loads(line) for line in data.split(b"\n")[1:-1]]  # after the header


@pytest.mark.parametrize("name", ["killed.jsonl", "killed.jsonl.gz"])
def test_a_kill_9_loses_at_most_the_last_half_second(tmp_path: Path, name: str) -> None:
    """Clients connect one after another, each making sure the server has it (an echo);
    after SIGKILL the file holds every one that connected up to 0.5 s before the kill."""
    path = tmp_path / name
    server = subprocess.Popen(
        [*COMMAND, "--headless", "--json", "--port", "0", "--record", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    clients: list[tuple[str, float]] = []  # (peer, when the server had surely accepted it)
    sockets: list[socket.socket] = []
    try:
        port = json.loads(server.stdout.readline())["port"]  # type: ignore[union-attr]
        started = time.monotonic()
        for number in range(100):  # one every 20 ms
            time.sleep(max(0.0, started + number * 0.02 - time.monotonic()))  # pacing
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(client)
            client.sendall(b"here")
            assert recv_exactly(client, 4) == b"here"
            clients.append(("{}:{}".format(*client.getsockname()), time.monotonic()))
        killed_at = time.monotonic()
        server.kill()
        server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
        for client in sockets:
            client.close()
    recorded = {r["data"]["peer"] for r in recorded_lines(path) if r["kind"] == "Connected"}
    due = [peer for peer, at in clients if at <= killed_at - 0.5]
    assert len(due) > 20
    missing = [peer for peer in due if peer not in recorded]
    assert not missing, f"{len(missing)} of {len(due)} clients lost: {missing[:3]}"


def test_snapshots_of_older_files_replay_without_loop_health(make_engine) -> None:
    """A version-2 snapshot has no iteration times nor loop delays: they read as zero."""
    engine = make_engine()
    snapshot = wait_for(lambda: engine.channel.latest)
    kind, data = encode(snapshot)
    for name in ("housekeeping_events", "iterations", "iteration_max", "iteration_sum"):
        del data["loop"][name]
    for name in ("loop_delays", "loop_delay_max", "loop_delay_sum"):
        del data["loop"][name]
    older = decode(kind, json.loads(json.dumps(data)))
    assert isinstance(older, Snapshot)
    assert older.loop.iterations == LoopStats().iterations and older.loop.iteration_max == 0
    assert older.loop.selects == snapshot.loop.selects
    newer = decode(kind, json.loads(json.dumps(encode(snapshot)[1])))
    assert isinstance(newer, Snapshot) and newer.loop == snapshot.loop
