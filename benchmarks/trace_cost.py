"""What the select() trace costs the engine: CPU per message with the trace open vs closed.

    python benchmarks/trace_cost.py [--quick] [--repeats N] [--duration S]

Runs the engine twice side by side, each in its own subprocess with a consumer
thread that does what the dashboard does at 5 Hz (drain the channel, take the
traced calls it shows): once with the trace closed, once open (as while the trace
screen is shown).  Both are driven in turn by `echo-tui load`; for 100 B
messages over 1, 10 and 100 connections it prints the median server CPU per
echoed message and the ratio open / closed (the goal: at most 1.5x).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from harness import PYTHON, exit_status, machine, measure, median_of, rotated, start_server, table

SCENARIOS = {"100x1": (100, 1), "100x10": (100, 10), "100x100": (100, 100)}
MODES = ("closed", "open")
GOAL = 1.5
CONSUMER_HZ = 5.0


def serve(mode: str) -> int:
    """Run an engine on port 0 with the trace `mode` and a dashboard-like consumer."""
    from echo_tui.engine.config import EngineConfig
    from echo_tui.engine.server import EchoEngine
    from echo_tui.ui.screens.trace import SHOWN_PER_TICK

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    engine = EchoEngine(EngineConfig(port=0))
    engine.start()
    if mode == "open":
        engine.trace(True).result(5)
    host, port = engine.address
    print(f"listening on {host}:{port} ({engine.selector_name}, trace {mode})", flush=True)
    try:
        while not stop.wait(1 / CONSUMER_HZ):
            engine.channel.drain()
            engine.channel.take_trace(SHOWN_PER_TICK)
    finally:
        engine.stop()
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.3 s")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # the server side
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve)
    print(f"# select() trace cost: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, median reported\n")
    servers = {
        mode: start_server(mode, command=[PYTHON, __file__, "--serve", mode]) for mode in MODES
    }
    runs: dict[tuple[str, str], list[dict]] = {}
    failures = 0
    try:
        for round_ in range(args.repeats):
            for scenario, (size, connections) in SCENARIOS.items():
                for mode in rotated(MODES, round_):
                    result = measure(servers[mode], connections, size, args.duration)
                    failures += result["mismatches"] + result["errors"]
                    runs.setdefault((scenario, mode), []).append(result)
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for scenario in SCENARIOS:
        closed = median_of(runs[(scenario, "closed")])
        opened = median_of(runs[(scenario, "open")])
        ratio = opened["cpu_us_per_msg"] / closed["cpu_us_per_msg"]
        rows.append([
            scenario,
            f"{closed['messages_per_s']:,.0f}",
            f"{closed['cpu_us_per_msg']:.2f}",
            f"{opened['messages_per_s']:,.0f}",
            f"{opened['cpu_us_per_msg']:.2f}",
            f"{ratio:.2f}x",
            "met" if ratio <= GOAL else f"missed by {(ratio / GOAL - 1) * 100:.0f}%",
        ])  # fmt: skip
    headers = ["scenario", "closed msgs/s", "closed CPU us/msg", "open msgs/s",
               "open CPU us/msg", "open / closed", f"goal <= {GOAL:.1f}x"]  # fmt: skip
    print(table(headers, rows))
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
