"""Hostile peers at the --listen-ui port: each refused in one line, closed and counted,
while the engine serves its clients and a good viewer watches throughout."""

from __future__ import annotations

import json
import random
import socket

import pytest

from echo_tui.remote.protocol import MAX_VIEWER_FRAME, FrameReader, Refused, parse_frame
from echo_tui.remote.server import MAX_PEERS
from tests.helpers import recv_exactly, wait_for
from tests.remote_helpers import View

TOKEN = "the-right-token"


def hello(**fields: object) -> bytes:
    data = {"protocol": "echo-tui", "version": 1, "token": TOKEN, **fields}
    return json.dumps({"kind": "hello", "data": data}).encode() + b"\n"


HOSTILE = {
    "wrong token": (hello(token="guess"), "token", "a valid token is required"),
    "no token": (hello(token=None), "token", "a valid token is required"),
    "random bytes": (random.Random(21).randbytes(20_000), "garbage", "not an echo-tui frame"),
    "oversized frame": (b'{"kind": "hello", "data": "' + b"x" * MAX_VIEWER_FRAME, "oversized",
                        "a frame over 65,536 bytes"),
    "version mismatch": (hello(version=99), "version", "protocol version 99"),
    "says nothing": (b"", "silent", "no hello within 0.5 s"),
    "bad command": (hello() + b'{"kind": "command", "data": {"id": 1, "name": "rm -rf"}}\n',
                    "bad frame", "unknown command"),
}  # fmt: skip


def refusal(sock: socket.socket) -> Refused | None:
    """The refusal frame the server sent (skipping a welcome), then end of stream; None if none."""
    reader = FrameReader(1 << 26)
    found = None
    while data := sock.recv(1 << 16):
        for line in reader.feed(data):
            frame = parse_frame(line)
            if isinstance(frame, Refused):
                found = frame
    return found


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_peer_is_refused_closed_and_counted(served, connect, name: str) -> None:
    sent, cause, reason = HOSTILE[name]
    server = served(token=TOKEN, hello_timeout=0.5)
    watcher = View(server.attach(TOKEN).channel)
    client = connect(server.engine.address)
    host, port = server.viewers.address
    with socket.create_connection((host, port), timeout=5) as peer:
        peer.sendall(sent)
        client.sendall(b"served")  # meanwhile the engine serves its clients
        assert recv_exactly(client, 6) == b"served"
        refused = refusal(peer)
    assert refused is not None and reason in refused.reason
    wait_for(lambda: server.viewers.refused[cause] == 1)
    assert sum(server.viewers.refused.values()) == 1
    assert any(reason in notice for notice in server.viewers.take_notices())
    seen = wait_for(watcher.update).seq
    wait_for(lambda: watcher.update().seq > seen)  # the good viewer still watches
    client.sendall(b"still")
    assert recv_exactly(client, 5) == b"still"


def test_too_many_connections_are_refused_at_once(served) -> None:
    server = served()
    host, port = server.viewers.address
    peers = [socket.create_connection((host, port), timeout=5) for _ in range(MAX_PEERS + 1)]
    try:
        assert refusal(peers[-1]) == Refused(f"too many connections ({MAX_PEERS})")
        assert server.viewers.refused["too-many"] == 1
    finally:
        for peer in peers:
            peer.close()
