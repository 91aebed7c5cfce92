"""The dashboard's cost: the same load against `echo-tui` with the full UI in a pseudo-terminal
and against `echo-tui --headless`.

    python benchmarks/dashboard.py [--quick] [--repeats N] [--duration S] [--scenarios ...]

Both run side by side on 127.0.0.1; the UI one renders into a 120x40 pty whose
output is read and discarded.  Reported per scenario: messages/s and CPU
microseconds per echoed message of the whole echo-tui process (engine thread
plus UI), medians over the rounds, and the UI/headless ratios.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

from harness import PYTHON, REPO, Server, machine, measure, median_of, rotated, start_server, table

SCENARIOS = {"100x10": (100, 10), "100x100": (100, 100), "1Kx10": (1024, 10)}
COLUMNS, ROWS = 120, 40


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.5 s")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.5
    args.scenarios = args.scenarios.split(",")
    if any(s not in SCENARIOS for s in args.scenarios):
        parser.error(f"unknown scenario in {args.scenarios}")
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(timeout: float = 20.0) -> Server:
    """Run `echo-tui` with its UI in a pseudo-terminal; wait until it accepts connections."""
    port = free_port()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    process = subprocess.Popen(
        [PYTHON, "-m", "echo_tui", "--port", str(port)],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)

    def drain() -> None:  # the terminal's screen: read and thrown away
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass
        finally:
            os.close(master)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the dashboard did not start listening") from None
            time.sleep(0.1)
    time.sleep(1.0)  # let the first screens render
    return Server("dashboard", process, "127.0.0.1", port, "UI in a pty")  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# dashboard cost: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, median reported\n")
    servers = {"headless": start_server("echo-tui"), "dashboard": start_dashboard()}
    runs: dict[tuple[str, str], list[dict]] = {}
    failures = 0
    try:
        for round_ in range(args.repeats):
            for scenario in args.scenarios:
                size, connections = SCENARIOS[scenario]
                for name in rotated(list(servers), round_):
                    result = measure(servers[name], connections, size, args.duration)
                    runs.setdefault((scenario, name), []).append(result)
                    failures += result["mismatches"] + result["errors"]
                    if servers[name].process.poll() is not None:
                        raise RuntimeError(f"{name} exited during the run")
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for scenario in args.scenarios:
        ui = median_of(runs[(scenario, "dashboard")])
        bare = median_of(runs[(scenario, "headless")])
        rows.append([
            scenario,
            f"{bare['messages_per_s']:,.0f}",
            f"{ui['messages_per_s']:,.0f}",
            f"{ui['messages_per_s'] / bare['messages_per_s']:.2f}x",
            f"{bare['cpu_us_per_msg']:.2f}",
            f"{ui['cpu_us_per_msg']:.2f}",
            f"{ui['cpu_us_per_msg'] / bare['cpu_us_per_msg']:.2f}x",
        ])  # fmt: skip
    headers = ["scenario", "headless msgs/s", "UI msgs/s", "throughput ratio",
               "headless CPU us/msg", "UI CPU us/msg", "CPU ratio"]  # fmt: skip
    print(table(headers, rows))
    if failures:
        print(f"\n{failures} mismatches/errors during the runs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
