"""The viewer protocol's frames: round trips, the recording's records as they are, and refusals."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

import pytest

from echo_tui.engine.events import (
    CLIENT,
    LISTENER,
    CommandResult,
    Connected,
    ConnectionStats,
    Inspected,
    InterestChange,
    LoopStats,
    ReadyKey,
    SelectCall,
    Snapshot,
    Totals,
)
from echo_tui.recordings.records import FORMAT_VERSION, Header, Record, record_line
from echo_tui.remote.protocol import (
    MAX_VIEWER_FRAME,
    VERSION,
    Ack,
    Command,
    FrameReader,
    FrameTooLong,
    Hello,
    ProtocolError,
    Refused,
    Reply,
    Trace,
    Welcome,
    ack_frame,
    command_frame,
    frame,
    hello_frame,
    parse_frame,
    record_frame,
    refused_frame,
    reply_frame,
    trace_frame,
    welcome_frame,
)

STATS = ConnectionStats(7, "127.0.0.1:5000", 1.0, 2.0, 10, 10, 1, 1, 0, "reading", 1, 0)
SNAPSHOT = Snapshot(
    seq=3,
    at=1795860180.0,
    monotonic=50.0,
    started_at=1795860170.0,
    address=("127.0.0.1", 1234),
    selector="EpollSelector",
    max_clients=10,
    open_count=1,
    totals=Totals(accepted=1, closed=MappingProxyType({"kicked": 2}), bytes_in=10),
    loop=LoopStats(selects=4),
    changed=MappingProxyType({7: STATS}),
    closed=frozenset({5}),
    events_dropped=0,
)
HEADER = Header(FORMAT_VERSION, "0.1.0", 1795860170.0, ("127.0.0.1", 1234), "EpollSelector", {})


def one(data: bytes) -> object:
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    return parse_frame(data[:-1])


def test_a_record_on_the_wire_is_the_recordings_line() -> None:
    """One decoder reads both: the same bytes, whichever side wrote them."""
    for item in (SNAPSHOT, Connected(7, "127.0.0.1:5000", 1795860171.0)):
        assert record_frame(10.5, item) == record_line(10.5, item).encode() + b"\n"
        assert one(record_frame(10.5, item)) == Record(10.5, item)


def test_a_snapshot_carries_its_inspected_client_and_preview_bytes() -> None:
    inspected = Inspected(7, "<socket>", (InterestChange(1.0, "modify", 3, "why"),), b"\x1b]0\x00")
    snapshot = replace(SNAPSHOT, inspected=inspected)
    assert one(record_frame(1.0, snapshot)) == Record(1.0, snapshot)


def test_hellos_commands_replies_acks_round_trip() -> None:
    welcome = Welcome(VERSION, "echo-tui", 42, "box", ("kick", "trace"), False, HEADER)
    result = CommandResult("kick", True, "kicked #7", 7, 1, 5.0)
    assert one(hello_frame("secret", "attach")) == Hello(VERSION, "secret", "attach")
    assert one(welcome_frame(welcome)) == welcome
    probe = replace(welcome, reasons=(("mute", "the probe does not touch the program's reads"),))
    assert one(welcome_frame(probe)) == probe
    assert one(refused_frame("no")) == Refused("no")
    assert one(command_frame(3, "kick_ids", conn_ids=[1, 2])) == Command(
        3, "kick_ids", {"conn_ids": [1, 2]}
    )
    assert one(reply_frame(3, result)) == Reply(3, result)
    assert one(ack_frame(9)) == Ack(9)


def test_traced_calls_round_trip() -> None:
    keys = (
        ReadyKey(5, 1, LISTENER, accepted=((9, "127.0.0.1:1"),), rejected=1),
        ReadyKey(9, 1, CLIENT, 7, received=3, sent=3, commands=("kicked #1",)),
    )
    call = SelectCall(4, 1.5, None, 0.25, 3, "EpollSelector", True, keys)
    assert one(trace_frame([call])) == Trace((call,))


def test_a_version_mismatch_is_refused_in_one_line() -> None:
    line = json.dumps({"kind": "hello", "data": {"protocol": "echo-tui", "version": VERSION + 1}})
    with pytest.raises(ProtocolError, match=f"version {VERSION + 1}.*speaks version {VERSION}"):
        parse_frame(line.encode())


@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe garbage",
        b"GET / HTTP/1.1",
        b"[1, 2]",
        b'{"kind": "hello"}',
        b'{"kind": "hello", "data": {"protocol": "other", "version": 1}}',
        b'{"kind": "command", "data": {"id": 1, "name": "exec", "args": {}}}',
        b'{"kind": "Snapshot", "data": {}}',
        b'{"t": 1, "kind": "Nonsense", "data": {}}',
    ],
)
def test_garbage_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(line)


def test_the_reader_splits_frames_across_reads() -> None:
    reader = FrameReader(100)
    assert reader.feed(b"ab") == []
    assert reader.feed(b"c\nde\n\nf") == [b"abc", b"de", b""]
    assert reader.feed(b"g\n") == [b"fg"]


def test_an_oversized_frame_is_refused_before_it_is_whole() -> None:
    reader = FrameReader(MAX_VIEWER_FRAME)
    chunk = b"x" * 4096
    with pytest.raises(FrameTooLong, match="65,536 bytes"):
        for _ in range(MAX_VIEWER_FRAME // len(chunk) + 1):
            reader.feed(chunk)  # never a newline: refused as soon as the bound is passed
    with pytest.raises(FrameTooLong):  # also when the newline comes in the same read
        FrameReader(10).feed(b"y" * 11 + b"\nz\n")
    assert FrameReader(10).feed(b"y" * 10 + b"\n") == [b"y" * 10]


def test_frames_are_one_line_whatever_their_text() -> None:
    assert frame("refused", {"reason": "a\nb\u2028"}).count(b"\n") == 1
