"""Reference echo servers that echo-tui's engine is measured against.

    python benchmarks/reference_servers.py KIND [--host H] [--port P]

KIND is one of:

- `buffered`: a correct, uninstrumented `selectors` echo with a per-client
  output buffer and write interest only while data is pending (the engine
  without counters, limits, snapshots or a command inbox);
- `threaded`: `buffered` run in a worker thread while the main thread waits,
  as echo-tui runs its engine: what a second thread alone costs a process;
- `protocol`: an `asyncio.Protocol` echo (`transport.write(data)`);
- `streams`: an asyncio streams echo (`reader.read` / `writer.write` / `drain`);
- `classic`: the selectors example from the Python documentation as published:
  `recv(1000)` and an unchecked `send(data)  # Hope it won't block`.

Each prints `listening on HOST:PORT (Name)` as its first stdout line, like
`echo-tui --headless`, then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import selectors
import socket
import sys
import threading

READ_SIZE = 64 * 1024


def announce(sock: socket.socket, name: str) -> None:
    """Print the first line benchmarks wait for."""
    host, port = sock.getsockname()[:2]
    print(f"listening on {host}:{port} ({name})", flush=True)


def listener(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking socket."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve_buffered(host: str, port: int, label: str = "buffered") -> None:
    """Correct selectors echo: buffer what send() did not take, write interest only then."""
    sel = selectors.DefaultSelector()
    server = listener(host, port)
    announce(server, f"{label} {type(sel).__name__}")
    sel.register(server, selectors.EVENT_READ, None)
    pending: dict[socket.socket, bytearray] = {}
    high_water = 2 * 1024 * 1024

    def close(sock: socket.socket) -> None:
        sel.unregister(sock)
        pending.pop(sock, None)
        sock.close()

    while True:
        for key, mask in sel.select():
            sock = key.fileobj
            if key.data is None:
                try:
                    conn, _ = server.accept()
                except (BlockingIOError, ConnectionAbortedError):
                    continue
                except OSError:  # out of fds: stop here, the next select retries
                    continue
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ, True)
                continue
            if mask & selectors.EVENT_WRITE:
                buf = pending[sock]
                try:
                    sent = sock.send(buf)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    close(sock)
                    continue
                del buf[:sent]
                if not buf:
                    del pending[sock]
                    sel.modify(sock, selectors.EVENT_READ, True)
                elif len(buf) < high_water // 4 and not key.events & selectors.EVENT_READ:
                    sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, True)
            if mask & selectors.EVENT_READ:
                try:
                    data = sock.recv(READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError:
                    close(sock)
                    continue
                if not data:
                    close(sock)
                    continue
                buf = pending.get(sock)
                if buf is None:
                    try:
                        sent = sock.send(data)
                    except BlockingIOError:
                        sent = 0
                    except OSError:
                        close(sock)
                        continue
                    if sent == len(data):
                        continue
                    buf = pending[sock] = bytearray(data[sent:])
                else:
                    buf += data
                events = selectors.EVENT_WRITE
                if len(buf) < high_water:
                    events |= selectors.EVENT_READ
                sel.modify(sock, events, True)


def serve_buffered_in_thread(host: str, port: int) -> None:
    """`buffered` in a worker thread; the main thread only waits for it, as echo-tui's does."""
    worker = threading.Thread(
        target=serve_buffered, args=(host, port, "buffered in a thread"), daemon=True
    )
    worker.start()
    while worker.is_alive():
        worker.join(1.0)


class EchoProtocol(asyncio.Protocol):
    """asyncio Protocol echo: write back whatever arrives."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _serve_protocol(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, host, port, backlog=1024)
    announce(server.sockets[0], "asyncio Protocol")
    await server.serve_forever()


async def _echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve_streams(host: str, port: int) -> None:
    server = await asyncio.start_server(_echo_stream, host, port, backlog=1024)
    announce(server.sockets[0], "asyncio streams")
    await server.serve_forever()


def serve_classic(host: str, port: int) -> None:
    """The documentation's selectors example, as published (plus an announced port)."""
    sel = selectors.DefaultSelector()

    def accept(sock, mask):
        conn, _addr = sock.accept()  # Should be ready
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ, read)

    def read(conn, mask):
        data = conn.recv(1000)  # Should be ready
        if data:
            conn.send(data)  # Hope it won't block
        else:
            sel.unregister(conn)
            conn.close()

    sock = socket.socket()
    sock.bind((host, port))
    sock.listen(100)
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, accept)
    announce(sock, f"classic {type(sel).__name__}")
    while True:
        events = sel.select()
        for key, mask in events:
            callback = key.data
            callback(key.fileobj, mask)


SERVERS = {
    "buffered": serve_buffered,
    "threaded": serve_buffered_in_thread,
    "protocol": lambda host, port: asyncio.run(_serve_protocol(host, port)),
    "streams": lambda host, port: asyncio.run(_serve_streams(host, port)),
    "classic": serve_classic,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(SERVERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        SERVERS[args.kind](args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
