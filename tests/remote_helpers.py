"""Serving an engine to viewers in tests: the engine, its viewer server and attached sources."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import EventChannel, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.remote.protocol import FrameReader, hello_frame, parse_frame
from echo_tui.remote.server import ViewerServer
from echo_tui.remote.viewer import RemoteSource, connect
from echo_tui.timeline import fold


@dataclass
class Served:
    """A started engine and its started viewer server."""

    engine: EchoEngine
    viewers: ViewerServer
    sources: list[RemoteSource] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.viewers.url

    def attach(self, token: str | None = None) -> RemoteSource:
        """A RemoteSource attached to the viewer server, started (stopped by the fixture)."""
        source = RemoteSource(self.url, connect(self.url, token), token)
        source.start()
        self.sources.append(source)
        return source

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        self.engine.stop()
        self.viewers.stop()


def serve(address: str | tuple[str, int] = ("127.0.0.1", 0), **options: object) -> Served:
    """Start an engine on 127.0.0.1:0 and a viewer server at `address` with `options`."""
    engine = EchoEngine(EngineConfig(port=0))
    viewers = ViewerServer(engine, address, **options)  # type: ignore[arg-type]
    engine.start()
    try:
        viewers.start()
    except BaseException:
        engine.stop()
        raise
    return Served(engine, viewers)


class View:
    """What a consumer of `channel` knows: every snapshot folded, the events in order."""

    def __init__(self, channel: EventChannel) -> None:
        self.channel = channel
        self.state: Snapshot | None = None
        self.events: list[object] = []

    def update(self) -> Snapshot | None:
        events, snapshot, _ = self.channel.drain()
        self.events += events
        if snapshot is not None:
            self.state = fold(self.state, snapshot)
        return self.state


def raw_viewer(url: str, token: str | None = None) -> tuple[socket.socket, object]:
    """A bare socket past its hello, and the server's first frame."""
    host, port = url.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(hello_frame(token, "test"))
    return sock, first_frame(sock)


def first_frame(sock: socket.socket) -> object:
    """The first frame `sock` receives, decoded."""
    reader = FrameReader(1 << 26)
    while True:
        data = sock.recv(65536)
        assert data, "closed before a frame"
        frames = reader.feed(data)
        if frames:
            return parse_frame(frames[0])
