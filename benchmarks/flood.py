"""A bystander's echo while 300 clients flood the engine and never read.

    python benchmarks/flood.py [--quick] [--runs N] [--duration S] [--senders N]
                               [--baseline DIR]

The flood of tests/reliability/test_memory_bound.py, as a benchmark: a fresh
`echo-tui --headless` with every limit at its default, SENDERS clients (4 KiB
receive buffers) that send 64 KiB chunks as fast as their sockets take them
and never read, and one bystander that sends 1 KiB and waits for its echo
between two rounds of the flood.  The server works hardest while the senders'
echo buffers fill (up to --max-buffer each, until --max-total-buffer stops the
reading: "filled at", the flood's last accepted bytes); after that it serves
the bystander alone, and what its echo waits is the machine's doing.  Printed
per run: the bystander's worst round trip, its worst while the buffers fill
and after, its p99; the server's longest select() round in thread CPU and in
wall-clock time (it runs under select_probe.py), the flood it took and its
CPU; then per engine the median and range over the runs.  `--baseline DIR`
alternates runs with the engine of another checkout.  This process's garbage
collector is off while it times.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    ENGINE_COMMAND,
    HERE,
    PYTHON,
    REPO,
    Server,
    add_baseline_option,
    check_baseline,
    cpu_seconds,
    machine,
    start_server,
    table,
)

CHUNK = b"\x5a" * 65536
MESSAGE_SIZE = 1024
MIB = 1024 * 1024
SUMMARY = ("worst", "while_filling", "longest_cpu", "p99")  # per engine, over the runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 20 senders for 1 s")
    parser.add_argument("--runs", type=int, default=3, help="runs per engine")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of flood per run")
    parser.add_argument("--senders", type=int, default=300, help="never-reading clients")
    add_baseline_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.senders = 1, 1.0, 20
    check_baseline(parser, args.baseline)
    args.servers = ["echo-tui"] if args.baseline is None else ["echo-tui", "baseline"]
    return args


def client(address: tuple[str, int], **options: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for option, value in options.items():  # buffer sizes count only before connecting
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
    sock.settimeout(5)
    sock.connect(address)
    return sock


def push(senders: list[socket.socket]) -> int:
    """One round of the flood: each sender sends until its socket takes no more; bytes sent."""
    sent = 0
    for sock in senders:
        try:
            while taken := sock.send(CHUNK):
                sent += taken
        except BlockingIOError:
            continue
    return sent


def echo(bystander: socket.socket, message: bytes) -> float:
    """Seconds for one round trip of `message`, checked byte for byte."""
    started = time.perf_counter()
    bystander.sendall(message)
    got = bytearray()
    while len(got) < len(message):
        chunk = bystander.recv(len(message) - len(got))
        if not chunk:
            raise RuntimeError("the server closed the bystander")
        got += chunk
    if got != message:
        raise RuntimeError("echo mismatch")
    return time.perf_counter() - started


def start_probed(name: str, baseline: Path | None, probe: Path) -> Server:
    """echo-tui's engine, or the --baseline checkout's, with its select() rounds timed."""
    checkout = REPO if name == "echo-tui" else baseline.resolve()  # type: ignore[union-attr]
    command = [PYTHON, str(HERE / "select_probe.py"), str(probe), *ENGINE_COMMAND[3:]]
    return start_server(name, cwd=checkout, command=command)


def run(name: str, args: argparse.Namespace) -> dict:
    """One flood against a fresh server `name`."""
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "rounds.json"
        result = flood(start_probed(name, args.baseline, probe), args)
        return result | json.loads(probe.read_text())


def flood(server: Server, args: argparse.Namespace) -> dict:
    """The flood and the bystander's round trips against `server`, which is stopped then."""
    sockets: list[socket.socket] = []
    try:
        address = (server.host, server.port)
        bystander = client(address)
        bystander.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sockets.append(bystander)
        senders = [client(address, SO_RCVBUF=4096, SO_SNDBUF=65536) for _ in range(args.senders)]
        sockets += senders
        for sock in senders:
            sock.setblocking(False)
        trips: list[float] = []
        filled_at = 0.0
        flooded = filling = 0  # filling: round trips up to the flood's last accepted bytes
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        deadline = started + args.duration
        gc.collect()
        gc.disable()  # a collection here is no server latency
        try:
            while time.monotonic() < deadline:
                pushed = push(senders)
                if pushed:
                    flooded += pushed
                    filling, filled_at = len(trips) + 1, time.monotonic() - started
                message = len(trips).to_bytes(4, "big") * (MESSAGE_SIZE // 4)
                trips.append(echo(bystander, message))
        finally:
            gc.enable()
        cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.stop()  # first: its rounds then count no teardown of the flood
        for sock in sockets:
            sock.close()
    while_filling, after = max(trips[:filling], default=0.0), max(trips[filling:], default=0.0)
    trips.sort()
    return {
        "worst": trips[-1],
        "while_filling": while_filling,
        "filled_at": filled_at,
        "after": after,
        "p99": trips[int(len(trips) * 0.99)],
        "flooded": flooded,
        "server_core": cpu / args.duration,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def spread(values: list[float]) -> str:
    """Milliseconds: the median (min-max)."""
    return f"{ms(statistics.median(values))} ({ms(min(values))}-{ms(max(values))})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, list[dict]] = {name: [] for name in args.servers}
    for round_ in range(args.runs):
        for name in args.servers if round_ % 2 == 0 else args.servers[::-1]:
            results[name].append(run(name, args))
    print(f"# flood: {machine()}")
    print(
        f"{args.senders} never-reading senders for {args.duration:g} s per run, every limit at "
        f"its default; the bystander echoes {MESSAGE_SIZE} B between rounds of the flood"
    )
    print()
    rows = [
        [name, str(i + 1), ms(r["worst"]), ms(r["while_filling"]), f"{r['filled_at']:.1f}",
         ms(r["after"]), ms(r["p99"]), ms(r["longest_cpu"]), ms(r["longest_wall"]),
         f"{r['rounds']:,}", f"{r['flooded'] / MIB:,.0f}", f"{r['server_core']:.0%}"]
        for name, runs in results.items()
        for i, r in enumerate(runs)
    ]  # fmt: skip
    headers = ["server", "run", "worst ms", "while filling ms", "filled at s", "after ms",
               "p99 ms", "longest round CPU ms", "wall ms", "rounds", "flood MiB",
               "server CPU"]  # fmt: skip
    print(table(headers, rows))
    print()
    summary = [
        [name, *(spread([r[key] for r in runs]) for key in SUMMARY)]
        for name, runs in results.items()
    ]
    headers = ["server", "worst ms", "worst while filling ms", "longest round CPU ms", "p99 ms"]
    print("Median (range) over the runs:")
    print(table(headers, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
