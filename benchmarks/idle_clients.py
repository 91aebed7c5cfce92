"""Open N connections to an echo server, check each echoes one byte, then sit idle.

    python benchmarks/idle_clients.py HOST PORT COUNT

Prints `ready COUNT SECONDS` once every connection has echoed, then holds them
open until stdin closes.  Used by scale.py (the client side in its own process).
"""

from __future__ import annotations

import resource
import socket
import sys
import time


def main(argv: list[str]) -> int:
    host, port, count = argv[0], int(argv[1]), int(argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 64), hard))
    started = time.monotonic()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=30)
        sock.sendall(b"x")
        sockets.append(sock)
    for sock in sockets:
        if sock.recv(1) != b"x":
            print("error: a connection did not echo", flush=True)
            return 1
    print(f"ready {len(sockets)} {time.monotonic() - started:.3f}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
