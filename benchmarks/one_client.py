"""One client, many short bursts: CPU per message at one connection, finely interleaved.

    python benchmarks/one_client.py [--quick] [--bursts N] [--burst S] [--size B]
                                    [--servers a,b,...] [--baseline DIR]

At one connection every message is a wake-up from select(), so what the engine
does per select() and per message weighs most, and echo_servers.py's runs of a
few seconds each resolve a few per cent only over many rounds.  Here this
process keeps one blocking connection to every server and echoes SIZE-byte
messages (each checked byte for byte) to each in turn, BURST seconds at a time,
in a new random order every cycle.  Each burst's server CPU (all threads, from
/proc) per message is divided by `buffered`'s in the same cycle; the table gives
the median of those ratios with a 95 % bootstrap interval.  `--baseline DIR`
adds the engine of another checkout, as in echo_servers.py.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import time

from harness import (
    REFERENCE_KINDS,
    Server,
    add_baseline_option,
    check_baseline,
    cpu_seconds,
    machine,
    row_label,
    start_compared,
    table,
)

SERVERS = ("echo-tui", *REFERENCE_KINDS)
AGAINST = "buffered"
PER_CHECK = 50  # messages between two looks at the clock


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 bursts of 0.1 s")
    parser.add_argument("--bursts", type=int, default=100, help="bursts per server")
    parser.add_argument("--burst", type=float, default=0.5, help="seconds per burst")
    parser.add_argument("--size", type=int, default=100, help="bytes per message")
    parser.add_argument("--servers", default="echo-tui,buffered,threaded")
    add_baseline_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.bursts, args.burst = 3, 0.1
    args.servers = args.servers.split(",")
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown or AGAINST not in args.servers:
        parser.error(f"unknown server {unknown} (`{AGAINST}` must be included)")
    check_baseline(parser, args.baseline)
    if args.baseline is not None:
        args.servers.insert(1, "baseline")
    return args


def echo_burst(client: socket.socket, message: bytes, seconds: float) -> int:
    """Echo `message` one at a time for `seconds`; the number echoed."""
    view = memoryview(bytearray(len(message)))
    echoed = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(PER_CHECK):
            client.sendall(message)
            got = 0
            while got < len(message):
                received = client.recv_into(view[got:])
                if not received:
                    raise RuntimeError("the server closed the connection")
                got += received
            if view != message:
                raise RuntimeError("echo mismatch")
        echoed += PER_CHECK
    return echoed


def median_interval(values: list[float], rng: random.Random) -> tuple[float, float]:
    """95 % bootstrap interval of the median of `values`."""
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(2000))
    return medians[50], medians[1949]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    message = bytes(i % 251 for i in range(args.size))
    servers: dict[str, Server] = {}
    clients: dict[str, socket.socket] = {}
    try:
        for name in args.servers:
            server = servers[name] = start_compared(name, args.baseline)
            clients[name] = socket.create_connection((server.host, server.port), timeout=10)
            clients[name].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            echo_burst(clients[name], message, 0.2)  # warm up
        order = random.Random(0)
        per_message: dict[str, list[float]] = {name: [] for name in args.servers}
        for _ in range(args.bursts):
            for name in order.sample(args.servers, len(args.servers)):
                before = cpu_seconds(servers[name].pid)
                echoed = echo_burst(clients[name], message, args.burst)
                per_message[name].append((cpu_seconds(servers[name].pid) - before) / echoed)
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    print(f"# one client: {machine()}")
    print(f"{args.bursts} bursts x {args.burst} s per server, {args.size} B messages one at a time")
    print()
    rng = random.Random(1)
    rows = []
    for name in args.servers:
        ratios = [a / b for a, b in zip(per_message[name], per_message[AGAINST], strict=True)]
        low, high = median_interval(ratios, rng)
        rows.append(
            [
                row_label(servers[name]),
                f"{statistics.median(per_message[name]) * 1e6:.2f}",
                f"{statistics.median(ratios):.3f}x",
                f"{low:.3f}-{high:.3f}x",
            ]
        )
    headers = ["server", "CPU us/msg", f"÷ {AGAINST} (median)", "95 % interval"]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
