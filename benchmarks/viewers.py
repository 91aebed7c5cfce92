"""The cost of --listen-ui: engine CPU per message with no viewer and with one attached.

    python benchmarks/viewers.py [--quick] [--rounds N] [--duration S]
                                 [--connections N] [--size B]

Three `echo-tui --headless` servers run side by side on 127.0.0.1: a plain one,
one with `--listen-ui` and no viewer, and one with `--listen-ui` and one viewer
attached (a process of its own that drains what it receives 5 times a second,
as the dashboard does).  Each round loads every server in turn (`echo-tui load`,
CONNECTIONS x SIZE bytes, closed loop), in a new random order, the others
stopped (SIGSTOP) meanwhile; a server's CPU time (all threads) per echoed
message is divided by the plain server's in the same round, and the one-viewer
server's by the no-viewer one's.  Figures: medians over the rounds and their
spread.  `--viewer URL` is the viewer's own mode.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import PYTHON, REPO, Server, machine, measure, start_server, table

VIEWER_HZ = 5


def run_viewer(url: str) -> None:
    """Attach to `url` and drain the channel VIEWER_HZ times a second, until killed."""
    from echo_tui.remote.viewer import RemoteSource, connect

    source = RemoteSource(url, connect(url, None))
    source.start()
    print("attached", flush=True)
    while True:
        time.sleep(1 / VIEWER_HZ)
        source.channel.drain()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 1 s")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--size", type=int, default=100, help="bytes per message")
    parser.add_argument("--viewer", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.viewer:
        run_viewer(args.viewer)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="echo-tui-viewers-"))
    sockets = {name: scratch / f"{name}.sock" for name in ("no viewer", "one viewer")}
    servers: dict[str, Server] = {"plain": start_server("echo-tui")}
    viewer = None
    try:
        for name, path in sockets.items():
            servers[name] = start_server("echo-tui", "--listen-ui", f"unix:{path}")
        viewer = subprocess.Popen(
            [PYTHON, __file__, "--viewer", f"unix:{sockets['one viewer']}"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if viewer.stdout.readline().strip() != "attached":  # type: ignore[union-attr]
            raise RuntimeError("the viewer did not attach")
        ratios: dict[str, list[float]] = {"no viewer": [], "one viewer": [], "viewer cost": []}
        for _ in range(args.rounds):
            cpu = {}
            order = list(servers)
            random.shuffle(order)
            for name in order:
                for other, server in servers.items():
                    server.process.send_signal(signal.SIGCONT if other == name else signal.SIGSTOP)
                result = measure(servers[name], args.connections, args.size, args.duration)
                if result["mismatches"] or result["errors"]:
                    raise RuntimeError(f"{name}: echo failures {result}")
                cpu[name] = result["cpu_us_per_msg"]
            for server in servers.values():
                server.process.send_signal(signal.SIGCONT)
            ratios["no viewer"].append(cpu["no viewer"] / cpu["plain"])
            ratios["one viewer"].append(cpu["one viewer"] / cpu["plain"])
            ratios["viewer cost"].append(cpu["one viewer"] / cpu["no viewer"])
        print(machine())
        print(
            f"{args.connections} connections x {args.size} B, closed loop, "
            f"{args.rounds} rounds of {args.duration:g} s; engine CPU per message"
        )
        rows = [
            [label, f"{statistics.median(values):.3f}x", f"{min(values):.3f}-{max(values):.3f}"]
            for label, values in (
                ("--listen-ui, no viewer / plain", ratios["no viewer"]),
                ("--listen-ui, one viewer / plain", ratios["one viewer"]),
                ("one viewer / no viewer", ratios["viewer cost"]),
            )
        ]
        print(table(["servers", "median", "spread"], rows))
    finally:
        if viewer is not None:
            viewer.kill()
            viewer.wait()
        for server in servers.values():
            server.process.send_signal(signal.SIGCONT)
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
