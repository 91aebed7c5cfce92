"""The replay Timeline: a real recording in small blocks and keyframes plays back exactly.

The reference is what replay did before it had blocks and keyframes: every
record of the file decoded, sorted by `t`, folded from the start.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import socket
import threading
import time
from pathlib import Path

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import EngineError, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.playback import ReplayChannel
from echo_tui.recordings.recording import Record, Recorder, open_recording
from echo_tui.recordings.timeline import LOG_AFTER_SEEK, Timeline, fold, in_time_order
from echo_tui.replay import replay_headless
from tests.helpers import recv_exactly, wait_for

SMALL = {"block_bytes": 2048, "keyframe_every": 0.0}  # many blocks, a keyframe whenever it pays


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clients come, echo for a while and go, in phases: states that differ along the file.

    Over 200 lifecycle events, so a keyframe's log of the last events is full.
    """
    path = tmp_path_factory.mktemp("timeline") / "phases.jsonl"
    engine = EchoEngine(EngineConfig(port=0, tick=0.02))
    recorder = Recorder(engine, path)
    engine.start()
    recorder.start()
    opened: list[socket.socket] = []
    kept: list[socket.socket] = []  # clients that stay into the next phases
    try:
        wait_for(lambda: recorder.channel.latest)
        for phase in range(6):
            clients = [socket.create_connection(engine.address, timeout=5) for _ in range(25)]
            opened += clients
            busy_until = recorder.channel.latest.seq + 15  # type: ignore[union-attr]
            deadline = time.monotonic() + 20
            while recorder.channel.latest.seq < busy_until:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the engine published no snapshots"
                for n, client in enumerate(clients):  # the kept ones stay idle
                    message = b"%d.%d " % (phase, n) * (n + 1)
                    client.sendall(message)
                    assert recv_exactly(client, len(message)) == message
            kept.append(clients.pop())
            if phase % 2:
                clients.append(kept.pop(0))
            for client in clients:
                client.close()
    finally:
        for client in opened:
            client.close()
        engine.stop()
        recorder.stop()
    return path


def reference(path: Path) -> list[Record]:
    return sorted((record for record, _ in open_recording(path).records), key=lambda r: r.t)


def state_at(records: list[Record], position: float) -> tuple[list, Snapshot | None, object]:
    """What a seek to `position` must hand the dashboard: folded from the start."""
    events, state, error = [], None, None
    for record in records:
        if record.t > position:
            break
        match record.item:
            case Snapshot() as snapshot:
                state = fold(state, snapshot)
            case EngineError() as failure:
                error = failure
            case str():
                pass
            case event:
                events.append(event)
    return events[-LOG_AFTER_SEEK:], state, error


def test_small_blocks_and_keyframes_hold_every_record_in_time_order(recording: Path) -> None:
    timeline = Timeline(recording, **SMALL)
    records = reference(recording)
    assert len(timeline.blocks) > 5 and len(timeline.keyframes) > 5
    assert list(timeline.records()) == records
    assert timeline.count == len(records) and timeline.duration == records[-1].t
    assert list(timeline.records(7, 30)) == records[7:30]
    for position in (0.0, records[10].t, records[-1].t / 2, records[-1].t):
        assert timeline.index_at(position) == sum(r.t <= position for r in records)
    assert timeline.index_at(-1.0) == 0


def test_seeking_back_and_forth_across_keyframes_is_exact(recording: Path) -> None:
    timeline = Timeline(recording, **SMALL)
    records = reference(recording)
    assert sum(isinstance(r.item, Snapshot) for r in records) > 10
    assert sum(not isinstance(r.item, Snapshot | str) for r in records) > LOG_AFTER_SEEK
    positions = sorted({r.t for r in records})
    random.Random(11).shuffle(positions)
    channel = ReplayChannel(timeline, clock=lambda: 0.0)  # a clock that stands still
    states = set()
    for position in [*positions[:80], 0.0, timeline.duration]:
        channel.seek(position)
        events, state, error = channel.drain()
        assert channel.rebuilt
        assert (events, state, error) == state_at(records, position)
        states.add(state.open_count if state else None)
    assert len(states) > 3  # the positions saw different clients


def test_playing_on_after_a_seek_follows_the_recording_exactly(recording: Path) -> None:
    timeline = Timeline(recording, **SMALL)
    records = reference(recording)
    now = [0.0]
    channel = ReplayChannel(timeline, clock=lambda: now[0])
    channel.seek(timeline.duration / 3)
    _, state, _ = channel.drain()
    step = timeline.duration / 40  # several records, and block ends, at each step
    while not channel.at_end:
        now[0] += step
        _, delta, _ = channel.drain()
        assert not channel.rebuilt
        if delta is not None:
            state = fold(state, delta)
        assert state == state_at(records, channel.position)[1]
    assert state == state_at(records, timeline.duration)[1]


def test_headless_replay_streams_the_blocks_to_the_same_lines(recording: Path) -> None:
    outputs = []
    for timeline in (Timeline(recording), Timeline(recording, **SMALL)):
        out = io.StringIO()
        assert replay_headless(timeline, 0.05, True, 0, threading.Event(), out) == 0
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 5


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_file_cut_short_plays_up_to_the_cut(
    recording: Path, tmp_path: Path, compressed: bool
) -> None:
    whole = recording.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(gzip.compress(whole)[:-30] if compressed else whole[: len(whole) * 2 // 3])
    timeline = Timeline(cut, **SMALL)
    assert timeline.warning and "cut short" in timeline.warning
    records = reference(cut)
    assert records and list(timeline.records()) == records
    channel = ReplayChannel(timeline, clock=lambda: 0.0)
    channel.seek(timeline.duration)
    assert channel.drain() == state_at(records, timeline.duration)


def test_a_record_written_later_than_the_window_plays_where_it_was_read() -> None:
    lines = [(Record(t, f"note {t}"), f"line {t}") for t in (1.0, 0.99, 5.0, 2.0, 9.0, 1.5)]
    ordered = list(in_time_order(lines, window=2.0))
    assert [line for _, line in ordered] == [
        "line 0.99", "line 1.0", "line 2.0", "line 5.0", "line 1.5", "line 9.0",
    ]  # fmt: skip
    assert [record.t for record, _ in ordered] == [0.99, 1.0, 2.0, 5.0, 5.0, 9.0]


def test_connections_are_read_by_the_header_s_field_names(recording: Path, tmp_path: Path) -> None:
    """Another writer's order, and a field this version does not know: the same records."""
    header, *lines = recording.read_text().splitlines()
    data = json.loads(header)
    data["connection_fields"] = ["future", *reversed(data["connection_fields"])]
    rewritten = [json.dumps(data)]
    for line in lines:
        record = json.loads(line)
        if record["kind"] == "Snapshot":
            changed = record["data"]["changed"]
            record["data"]["changed"] = [[0, *reversed(values)] for values in changed]
        rewritten.append(json.dumps(record))
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(rewritten) + "\n")
    assert list(Timeline(other, **SMALL).records()) == reference(recording)
