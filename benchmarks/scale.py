"""Memory and CPU with many idle connections: echo-tui's engine (headless) against references.

    python benchmarks/scale.py [--quick] [--counts 1000,10000] [--idle S] [--servers a,b,...]

For each count, each server is started fresh, a separate client process opens
that many connections (each echoes one byte, so the server has accepted and
served every one) and then holds them idle.  Reported: RSS before and with the
connections, KiB per connection, server CPU per accepted connection, and the
server's CPU use while the connections sit idle.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from harness import (
    HERE,
    PYTHON,
    REFERENCE_KINDS,
    cpu_seconds,
    machine,
    rss_kib,
    start_server,
    table,
)

SERVERS = ("echo-tui", "buffered", "protocol", "streams")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 200 connections, 0.5 s")
    parser.add_argument("--counts", default="1000,10000", help="connection counts")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement")
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.idle = "200", 0.5
    args.counts = [int(c) for c in args.counts.split(",")]
    args.servers = args.servers.split(",")
    if any(s not in ("echo-tui", *REFERENCE_KINDS) for s in args.servers):
        parser.error(f"unknown server in {args.servers}")
    return args


def raise_fd_limit() -> None:
    """Servers and clients inherit this process's open-file limit: raise it to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(name: str, count: int, idle: float) -> list[str]:
    extra = ("--max-clients", str(count + 100)) if name == "echo-tui" else ()
    server = start_server(name, *extra)
    client = None
    try:
        time.sleep(0.5)  # let the server finish starting up
        rss_before, cpu_before = rss_kib(server.pid), cpu_seconds(server.pid)
        client = subprocess.Popen(
            [PYTHON, str(HERE / "idle_clients.py"), server.host, str(server.port), str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        ready = client.stdout.readline().split()  # type: ignore[union-attr]
        if not ready or ready[0] != "ready":
            raise RuntimeError(f"{name}: the idle clients failed: {ready}")
        cpu_connected = cpu_seconds(server.pid)
        time.sleep(idle)
        cpu_idle = cpu_seconds(server.pid) - cpu_connected
        rss_after = rss_kib(server.pid)
        return [
            name,
            f"{count:,}",
            f"{rss_before / 1024:.1f}",
            f"{rss_after / 1024:.1f}",
            f"{(rss_after - rss_before) / count:.2f}",
            f"{(cpu_connected - cpu_before) / count * 1e6:.0f}",
            f"{cpu_idle / idle * 100:.2f}",
            f"{float(ready[2]):.2f}",
        ]
    finally:
        if client is not None:
            client.stdin.close()  # type: ignore[union-attr]
            client.wait(30)
            client.stdout.close()  # type: ignore[union-attr]
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    print(f"# scale: {machine()}\n")
    headers = ["server", "connections", "RSS before MiB", "RSS with them MiB",
               "KiB/conn", "CPU us/conn (accept+echo)", "idle CPU %", "connect s"]  # fmt: skip
    rows = [measure(name, count, args.idle) for count in args.counts for name in args.servers]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
