"""Serving an engine to viewers in tests: the engine, its viewer server and attached sources."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import EventChannel, Snapshot
from echo_tui.engine.server import EchoEngine
from echo_tui.recordings.timeline import fold
from echo_tui.remote.protocol import FrameReader, hello_frame, parse_frame
from echo_tui.remote.server import ViewerServer
from echo_tui.remote.viewer import RemoteSource, connect


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


class Relay:
    """A TCP relay to `target` on 127.0.0.1: cut() drops its connections and refuses new
    ones until mend(): a network that fails between a viewer and its server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.open = threading.Event()
        self.open.set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                near.close()
                continue
            far = socket.create_connection(self.target, timeout=5)
            self._pairs.append((near, far))
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open.clear()
        for pair in self._pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._pairs.clear()

    def mend(self) -> None:
        self.open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()
