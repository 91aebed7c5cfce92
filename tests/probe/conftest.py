"""The probe installed for one test, and a docs-style echo server on a probed selector."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from echo_tui import probe


@pytest.fixture
def installed() -> Iterator[None]:
    probe.install()
    yield
    probe.uninstall()


class DocsServer:
    """The Python docs' selectors echo server, in a thread, on whatever DefaultSelector is."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, self.accept)
        self.stopping = False
        self.served: list[int] = []  # the fd of each read, in the order the loop served them
        self.thread = threading.Thread(target=self.run, name="docs-loop")
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()

    def accept(self, sock: socket.socket, mask: int) -> None:
        conn, _ = sock.accept()
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, self.read)

    def read(self, conn: socket.socket, mask: int) -> None:
        self.served.append(conn.fileno())
        data = conn.recv(4096)
        if data:
            conn.sendall(data)
        else:
            self.selector.unregister(conn)
            conn.close()

    def run(self) -> None:
        while not self.stopping:
            for key, mask in self.selector.select(0.05):
                key.data(key.fileobj, mask)

    def stop(self) -> None:
        self.stopping = True
        self.selector.loop.release()  # type: ignore[attr-defined]
        self.thread.join(5)
        assert not self.thread.is_alive()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


@pytest.fixture
def docs_server(installed: None) -> Iterator[Callable[[], DocsServer]]:
    servers: list[DocsServer] = []

    def start() -> DocsServer:
        servers.append(DocsServer())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
