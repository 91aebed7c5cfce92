"""The `--demo N` client swarm: simulated clients of mixed behaviour, in a separate process.

`DemoSwarm().start(host, port, clients)` launches `python -m echo_tui.tools.demo`, an
asyncio process that runs the clients forever; `stop()` ends it and leaves no
process behind.  The swarm also exits by itself when its parent goes away: it
watches its stdin (a pipe from the parent) for end-of-file and polls its parent
pid.

Behaviours, dealt round-robin in this order: chatty (steady small lines, now
and then with escape sequences and invalid UTF-8), bursty (pipelined bursts,
then a pause), slow reader (sends far more than it reads, so the server's
buffer and backpressure show), large (big messages), idle (connects and
waits), churner (connects, talks, leaves, comes back).  A client whose
connection is closed by the server (kicked, say) comes back a few seconds later.

The swarm tells its parent which client is which: a line on its stdout per
connect (`127.0.0.1:40352 slow reader`) and per close (`127.0.0.1:40352 -`),
the address being the client's own, as the server names its peer.  The
dashboard's Kind column reads it through `DemoSwarm.kind_of`, never from what a
client sends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from echo_tui.engine.connection import format_peer
from echo_tui.portable import detached_child_options, raise_fd_limit

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # where this echo_tui is imported from
COMEBACK_DELAY = 3.0  # seconds before a client the server dropped reconnects
PARENT_POLL = 0.5  # seconds between checks that the parent is still there

PHRASES = (
    "hello",
    "is this thing on?",
    "ping",
    "the quick brown fox jumps over the lazy dog",
    "GET / HTTP/1.1",
    "42",
    "héllo wörld ✓",
)
ODD_BYTES = (
    b"\x1b[31mred?\x1b[0m \x07bell",
    b"\xff\xfe not utf-8 \xc3\x28",
    b"[bold]not markup[/bold] \x00nul",
    b"\xe2\x80\xaeright-to-left override",
)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> None:
    """Send `data` and read its echo at the same time (never deadlocks on big messages)."""

    async def send() -> None:
        writer.write(data)
        await writer.drain()

    await _both(send(), reader.readexactly(len(data)))


async def _both(*aws: Awaitable[object]) -> None:
    """Run the awaitables together; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def chatty(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """Steady small lines, one echo awaited each time; sometimes hostile bytes."""
    count = 0
    while True:
        count += 1
        if rng.random() < 0.1:
            line = rng.choice(ODD_BYTES) + b"\n"
        else:
            line = f"{rng.choice(PHRASES)} #{count}\n".encode()
        await _exchange(reader, writer, line)
        await asyncio.sleep(rng.uniform(0.2, 1.2))


async def bursty(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """Bursts of tens of pipelined messages, then a few seconds of quiet."""
    while True:
        burst = b"".join(
            bytes([rng.randrange(97, 123)]) * rng.randrange(20, 400) + b"\n"
            for _ in range(rng.randrange(20, 60))
        )
        await _exchange(reader, writer, burst)
        await asyncio.sleep(rng.uniform(2.0, 5.0))


async def slow_reader(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """Sends much more than it reads; every so often catches up, so the buffer rises and falls."""
    chunk = bytes(rng.randrange(256) for _ in range(256)) * 256  # 64 KiB

    async def send() -> None:
        while True:
            writer.write(chunk)
            await writer.drain()  # blocks while the server applies backpressure
            await asyncio.sleep(0.05)

    async def read() -> None:
        while True:
            for _ in range(int(rng.uniform(40, 60))):  # slow: ~16 KiB/s
                if not await reader.read(4096):
                    raise ConnectionResetError("server closed the connection")
                await asyncio.sleep(0.25)
            loop = asyncio.get_running_loop()
            catch_up_until = loop.time() + 2.0
            while loop.time() < catch_up_until:
                if not await reader.read(256 * 1024):
                    raise ConnectionResetError("server closed the connection")

    await _both(send(), read())


async def large(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """A message of 128 KiB to 1 MiB every few seconds."""
    while True:
        size = rng.randrange(128, 1024) * 1024
        await _exchange(reader, writer, bytes([rng.randrange(256)]) * size)
        await asyncio.sleep(rng.uniform(2.0, 5.0))


async def idle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """Says hello once, then waits until the server closes the connection."""
    await _exchange(reader, writer, b"hi, I will just sit here\n")
    while await reader.read(4096):
        pass


async def churner(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> float:
    """Talks for a moment and leaves; returns how long to stay away."""
    for count in range(rng.randrange(2, 8)):
        await _exchange(reader, writer, f"churn {count}\n".encode())
        await asyncio.sleep(rng.uniform(0.1, 0.5))
    return rng.uniform(1.0, 4.0)


Behaviour = Callable[..., Awaitable[object]]
BEHAVIOURS: tuple[Behaviour, ...] = (chatty, bursty, slow_reader, large, idle, churner)


# So the server's buffer fills soon, not after megabytes.
SMALL_RCVBUF: dict[Behaviour, int] = {slow_reader: 8192}


def behaviour_for(index: int) -> Behaviour:
    """The behaviour of client `index` (round-robin over BEHAVIOURS)."""
    return BEHAVIOURS[index % len(BEHAVIOURS)]


def kind_name(behaviour: Behaviour) -> str:
    """How the dashboard names a behaviour: "slow reader" for slow_reader."""
    return behaviour.__name__.replace("_", " ")


KINDS = frozenset(kind_name(b) for b in BEHAVIOURS)
GONE = "-"  # the kind reported when a client's connection closes
MAX_PEER = 64  # characters of a reported address; longer lines are ignored


def _report(peer: str, kind: str) -> None:
    """Tell the parent (our stdout) that `peer` is now a `kind` client, or GONE."""
    with contextlib.suppress(OSError, ValueError):  # the parent stopped listening
        sys.stdout.write(f"{peer} {kind}\n")
        sys.stdout.flush()


async def _connect(
    host: str, port: int, rcvbuf: int | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """open_connection, with SO_RCVBUF set before connecting when `rcvbuf` is given."""
    if rcvbuf is None:
        return await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    family, kind, proto, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def run_client(host: str, port: int, index: int) -> None:
    """One simulated client, forever: connect, behave, and come back after a drop."""
    rng = random.Random(index)
    behaviour = behaviour_for(index)
    await asyncio.sleep(rng.uniform(0.0, 0.5))
    while True:
        away = COMEBACK_DELAY
        try:
            reader, writer = await _connect(host, port, SMALL_RCVBUF.get(behaviour))
        except OSError:
            await asyncio.sleep(away)
            continue
        peer = format_peer(writer.get_extra_info("sockname"))
        _report(peer, kind_name(behaviour))
        try:
            result = await behaviour(reader, writer, rng)
            if isinstance(result, float):
                away = result
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            _report(peer, GONE)
        await asyncio.sleep(away)


async def run_swarm(host: str, port: int, clients: int) -> None:
    """Every client, plus a watch on the parent process; returns when the parent is gone."""
    parent = os.getppid()

    async def watch_parent() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(PARENT_POLL)

    tasks = [asyncio.ensure_future(run_client(host, port, i)) for i in range(clients)]
    try:
        await watch_parent()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _exit_on_stdin_eof() -> None:
    """Block until the parent closes our stdin (or dies), then exit at once."""
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(4096):
            pass
    os._exit(0)


class DemoSwarm:
    """Runs the swarm in a child process; safe to stop more than once."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._kinds: dict[str, str] = {}  # peer -> kind, of the connected demo clients
        self._max_kinds = 0
        self._reader: threading.Thread | None = None

    def kind_of(self, peer: str) -> str | None:
        """The behaviour of the demo client at `peer` ("host:port"), None if not one of ours."""
        return self._kinds.get(peer)

    def _read_kinds(self, stream: IO[bytes]) -> None:
        """Keep `_kinds` up to date from the swarm's reports (see the module docstring)."""
        kinds = self._kinds
        with contextlib.suppress(OSError, ValueError):
            for raw in stream:
                peer, _, kind = raw.decode("ascii", "replace").strip().partition(" ")
                if len(peer) > MAX_PEER:
                    continue
                if kind == GONE:
                    kinds.pop(peer, None)
                elif kind in KINDS:
                    kinds.pop(peer, None)  # re-inserted last: the oldest go first below
                    kinds[peer] = kind
                    while len(kinds) > self._max_kinds:  # a missed close must not pile up
                        del kinds[next(iter(kinds))]

    @property
    def pid(self) -> int | None:
        """The swarm process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, host: str, port: int, clients: int) -> None:
        """Launch `clients` simulated clients against host:port in a new process."""
        if self._process is not None:
            raise RuntimeError("the demo swarm is already started")
        command = [sys.executable, "-m", "echo_tui.tools.demo", host, str(port), str(clients)]
        self._process = process = subprocess.Popen(
            command,
            cwd=PACKAGE_ROOT,  # `-m` imports from the working directory first: our echo_tui
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            **detached_child_options(),  # terminal signals (Ctrl-C) go to the parent only
        )
        self._max_kinds = 2 * clients
        self._reader = threading.Thread(
            target=self._read_kinds, args=(process.stdout,), name="demo-kinds", daemon=True
        )
        self._reader.start()

    def stop(self, timeout: float = 2.0) -> None:
        """End the swarm process and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:  # the swarm is gone, so its stdout is at end of file
            self._reader.join(timeout)
            self._reader = None
        with contextlib.suppress(OSError):
            process.stdout.close()  # type: ignore[union-attr]
        self._kinds = {}  # a reader still at work (say a slow machine) fills the old one

    def __enter__(self) -> DemoSwarm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the swarm process: `python -m echo_tui.tools.demo HOST PORT CLIENTS`."""
    parser = argparse.ArgumentParser(prog="python -m echo_tui.tools.demo")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("clients", type=int)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit(args.clients + 64)
    threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    asyncio.run(run_swarm(args.host, args.port, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
