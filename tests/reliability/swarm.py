"""Client side of the reliability tests, run in its own process so it never shares the GIL.

    python -m tests.reliability.swarm hold HOST PORT COUNT
        Opens COUNT connections (non-blocking, in waves), checks one echo on each, prints one
        JSON line {"connected", "echoed", "seconds"}, then holds them until a line (or EOF)
        arrives on stdin, closes them all and prints {"closed": COUNT}.

    python -m tests.reliability.swarm churn HOST PORT CYCLES PARALLEL
        CYCLES connect / one-byte echo / close cycles, PARALLEL at a time; every second close
        is an RST (SO_LINGER 0).  Prints {"cycles", "rst", "seconds"}.

Exits 1 with a one-line reason on stderr when a connection fails or an echo is wrong.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import struct
import sys
import time

from echo_tui.portable import raise_fd_limit

WAVE = 500  # connects in flight at once (well under the listen backlog)
DEADLINE = 60.0  # seconds any one phase may take
RST_LINGER = struct.pack("ii", 1, 0)


class SwarmError(Exception):
    """A connection failed or an echo was wrong."""


def _start_connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        raise SwarmError(f"connect failed: {errno.errorcode.get(code, code)}")
    return sock


def _roundtrip_wave(
    selector: selectors.BaseSelector, socks: list[socket.socket], tag: bytes
) -> None:
    """Finish connecting `socks`, send each its 8-byte token, and check each echo."""
    expected = {}
    for index, sock in enumerate(socks):
        expected[sock] = tag + index.to_bytes(4, "big")
        selector.register(sock, selectors.EVENT_WRITE)
    waiting = len(socks)
    got: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + DEADLINE
    while waiting:
        if time.monotonic() > deadline:
            raise SwarmError(f"{waiting} connections did not echo in time")
        for key, mask in selector.select(1.0):
            sock = key.fileobj
            if mask & selectors.EVENT_WRITE:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise SwarmError(f"connect failed: {errno.errorcode.get(code, code)}")
                sock.send(expected[sock])
                selector.modify(sock, selectors.EVENT_READ)
                continue
            data = got.get(sock, b"") + sock.recv(64)
            if not data:
                raise SwarmError("connection closed before its echo")
            got[sock] = data
            if len(data) >= 8:
                if data != expected[sock]:
                    raise SwarmError(f"wrong echo {data!r}, expected {expected[sock]!r}")
                selector.unregister(sock)
                waiting -= 1


def hold(address: tuple[str, int], count: int) -> None:
    raise_fd_limit(count + 64)
    started = time.monotonic()
    socks: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        for first in range(0, count, WAVE):
            wave = [_start_connect(address) for _ in range(min(WAVE, count - first))]
            socks.extend(wave)
            _roundtrip_wave(selector, wave, first.to_bytes(4, "big"))
    print(
        json.dumps(
            {
                "connected": len(socks),
                "echoed": len(socks),
                "seconds": round(time.monotonic() - started, 3),
            }
        ),
        flush=True,
    )
    sys.stdin.readline()
    for sock in socks:
        sock.close()
    print(json.dumps({"closed": len(socks)}), flush=True)


def churn(address: tuple[str, int], cycles: int, parallel: int) -> None:
    started = time.monotonic()
    deadline = started + DEADLINE
    done = rst = begun = 0
    with selectors.DefaultSelector() as selector:

        def begin() -> None:
            nonlocal begun
            sock = _start_connect(address)
            selector.register(sock, selectors.EVENT_WRITE, begun)
            begun += 1

        for _ in range(min(parallel, cycles)):
            begin()
        while done < cycles:
            if time.monotonic() > deadline:
                raise SwarmError(f"only {done} of {cycles} cycles in {DEADLINE}s")
            for key, mask in selector.select(1.0):
                sock = key.fileobj
                if mask & selectors.EVENT_WRITE:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        raise SwarmError(f"connect failed: {errno.errorcode.get(code, code)}")
                    sock.send(b"x")
                    selector.modify(sock, selectors.EVENT_READ, key.data)
                    continue
                if sock.recv(1) != b"x":
                    raise SwarmError("wrong or missing echo")
                selector.unregister(sock)
                if key.data % 2:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_LINGER)
                    rst += 1
                sock.close()
                done += 1
                if begun < cycles:
                    begin()
    seconds = time.monotonic() - started
    print(json.dumps({"cycles": done, "rst": rst, "seconds": round(seconds, 3)}), flush=True)


def main(argv: list[str]) -> int:
    mode, host, port, *numbers = argv
    address = (host, int(port))
    try:
        if mode == "hold":
            hold(address, int(numbers[0]))
        elif mode == "churn":
            churn(address, int(numbers[0]), int(numbers[1]))
        else:
            raise SwarmError(f"unknown mode {mode!r}")
    except (SwarmError, OSError) as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
