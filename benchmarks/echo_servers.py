"""echo-tui's engine (headless) against reference echo servers, side by side.

    python benchmarks/echo_servers.py [--quick] [--repeats N] [--duration S]
                                      [--servers a,b,...] [--scenarios 100x10,...]

Every server runs as its own subprocess on 127.0.0.1 (port 0); each is driven
in turn by `echo-tui load` (its own processes), in a different order every
round.  For every scenario (message size x connections) it prints the median
over the rounds of messages/s, server CPU microseconds per echoed message (the
server process's own CPU time, all threads, from /proc), p50 and p99 latency,
and echo-tui's CPU per message as a ratio of each other server's.
"""

from __future__ import annotations

import argparse
import sys

from harness import (
    REFERENCE_KINDS,
    SATURATION_HEADERS,
    machine,
    measure,
    median_of,
    rotated,
    saturation_rows,
    start_server,
    table,
)

SCENARIOS = {"100x1": (100, 1), "100x10": (100, 10), "100x100": (100, 100),
             "1Kx10": (1024, 10), "10Kx10": (10240, 10)}  # fmt: skip
SERVERS = ("echo-tui", *REFERENCE_KINDS)
HEADLINE = (("100x100", "buffered"), ("100x100", "protocol"),
            ("1Kx10", "buffered"), ("1Kx10", "protocol"))  # fmt: skip
GOAL = 1.10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.3 s")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.3
    args.servers = args.servers.split(",")
    args.scenarios = args.scenarios.split(",")
    unknown = [s for s in args.servers if s not in SERVERS]
    unknown += [s for s in args.scenarios if s not in SCENARIOS]
    if unknown or "echo-tui" not in args.servers:
        parser.error(f"unknown server or scenario {unknown} (echo-tui must be included)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# echo servers: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, median reported\n")
    servers = {name: start_server(name) for name in args.servers}
    runs: dict[tuple[str, str], list[dict]] = {}
    failures = 0
    try:
        for round_ in range(args.repeats):
            for scenario in args.scenarios:
                size, connections = SCENARIOS[scenario]
                for name in rotated(args.servers, round_):
                    result = measure(servers[name], connections, size, args.duration)
                    failures += result["mismatches"] + result["errors"]
                    runs.setdefault((scenario, name), []).append(result)
                    print(f"  round {round_ + 1} {scenario:>7} {name:<9} "
                          f"{result['messages_per_s']:>9,.0f} msg/s "
                          f"{result['cpu_us_per_msg']:6.2f} us/msg", file=sys.stderr)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    medians = {key: median_of(value) for key, value in runs.items()}
    for scenario in args.scenarios:
        size, connections = SCENARIOS[scenario]
        print(f"## {size} B x {connections} connection{'s' if connections > 1 else ''}\n")
        engine = medians[(scenario, "echo-tui")]
        rows = []
        for name in args.servers:
            m = medians[(scenario, name)]
            rows.append([
                f"{name} ({servers[name].label})" if name != "echo-tui" else name,
                f"{m['messages_per_s']:,.0f}",
                f"{m['cpu_us_per_msg']:.2f}",
                f"{engine['cpu_us_per_msg'] / m['cpu_us_per_msg']:.2f}x",
                f"{m['p50_ms']:.3f}",
                f"{m['p99_ms']:.3f}",
            ])  # fmt: skip
        headers = ["server", "msgs/s", "CPU us/msg", "echo-tui CPU ratio", "p50 ms", "p99 ms"]
        print(table(headers, rows) + "\n")
    print(f"## echo-tui engine CPU per message vs references (goal <= {GOAL:.2f}x)\n")
    rows = []
    for scenario, name in HEADLINE:
        if (scenario, name) in medians and (scenario, "echo-tui") in medians:
            ratio = (medians[(scenario, "echo-tui")]["cpu_us_per_msg"]
                     / medians[(scenario, name)]["cpu_us_per_msg"])  # fmt: skip
            verdict = "met" if ratio <= GOAL else f"missed by {(ratio / GOAL - 1) * 100:.0f}%"
            rows.append([scenario, name, f"{ratio:.2f}x", verdict])
    if rows:
        print(table(["scenario", "against", "ratio", "goal"], rows))
    print("\n## Saturation: share of a core over each run (median)\n")
    print(table(SATURATION_HEADERS, saturation_rows(medians)))
    if failures:
        print(f"\n{failures} mismatches/errors during the runs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
