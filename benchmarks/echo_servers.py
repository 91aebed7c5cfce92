"""echo-tui's engine (headless) against reference echo servers, side by side.

    python benchmarks/echo_servers.py [--quick] [--repeats N] [--duration S]
                                      [--servers a,b,...] [--scenarios 100x10,...]
                                      [--baseline DIR]

Every server runs as its own subprocess on 127.0.0.1 (port 0); each is driven
in turn by `echo-tui load` (its own processes), in a different order every
round.  For every scenario (message size x connections) it prints the median
over the rounds of messages/s, server CPU microseconds per echoed message (the
server process's own CPU time, all threads, from /proc), p50 and p99 latency.
The closing table divides echo-tui's CPU per message and p99 by the `buffered`
server's within each round (the two ran minutes apart at most) and reports the
median of those ratios with their spread; then by `threaded`'s (the same server
in a worker thread, as the engine runs) and `threaded`'s by `buffered`'s, which
is what the second thread alone costs.  `--baseline DIR` adds the engine of
another checkout (e.g. `git worktree add /tmp/before main`) as server
`baseline`, for a before/after comparison in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from harness import (
    REFERENCE_KINDS,
    SATURATION_HEADERS,
    add_baseline_option,
    check_baseline,
    exit_status,
    machine,
    measure,
    median_of,
    rotated,
    row_label,
    saturation_rows,
    start_compared,
    table,
)

SCENARIOS = {"100x1": (100, 1), "100x10": (100, 10), "100x100": (100, 100),
             "1Kx10": (1024, 10), "10Kx10": (10240, 10)}  # fmt: skip
SERVERS = ("echo-tui", *REFERENCE_KINDS)
AGAINST = "buffered"  # the uninstrumented server the engine's goals are set against
THREADED = "threaded"  # the same server in a worker thread, as the engine runs
CPU_GOAL = 1.05  # engine CPU per message / buffered's
P99_GOAL = 1.20  # engine p99 latency / buffered's


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.3 s")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    add_baseline_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.3
    args.servers = args.servers.split(",")
    args.scenarios = args.scenarios.split(",")
    unknown = [s for s in args.servers if s not in SERVERS]
    unknown += [s for s in args.scenarios if s not in SCENARIOS]
    if unknown or "echo-tui" not in args.servers:
        parser.error(f"unknown server or scenario {unknown} (echo-tui must be included)")
    check_baseline(parser, args.baseline)
    if args.baseline is not None:
        args.servers.insert(1, "baseline")
    return args


def spread(values: list[float]) -> str:
    """Median and range of per-round values, e.g. `1.03x (0.98-1.10)`."""
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def verdict(values: list[float], goal: float) -> str:
    middle = statistics.median(values)
    return "met" if middle <= goal else f"missed by {(middle / goal - 1) * 100:.0f}%"


def ratio_table(
    runs: dict[tuple[str, str], list[dict]], scenarios: list[str], pairs: list[tuple[str, str]]
) -> str:
    """Per scenario and (server, reference) pair: CPU/msg and p99 divided by the
    reference's from the same round."""
    rows = []
    for scenario in scenarios:
        for name, against in pairs:
            rounds = list(zip(runs[(scenario, name)], runs[(scenario, against)], strict=True))
            cpu = [e["cpu_us_per_msg"] / r["cpu_us_per_msg"] for e, r in rounds]
            p99 = [e["p99_ms"] / r["p99_ms"] for e, r in rounds if r["p99_ms"] > 0]
            rows.append([
                scenario, f"{name} ÷ {against}",
                spread(cpu), verdict(cpu, CPU_GOAL),
                spread(p99) if p99 else "-", verdict(p99, P99_GOAL) if p99 else "-",
            ])  # fmt: skip
    headers = ["scenario", "ratio", "CPU/msg", f"goal <= {CPU_GOAL:.2f}x",
               "p99", f"goal <= {P99_GOAL:.2f}x"]  # fmt: skip
    return table(headers, rows)


def ratio_pairs(servers: list[str]) -> list[tuple[str, str]]:
    """The ratios worth printing among `servers`: the engine (and a baseline) against
    `buffered` (the goals), and against `threaded`, which shows how much of the
    difference a second thread alone makes (buffered in a thread ÷ buffered)."""
    engines = [name for name in ("echo-tui", "baseline") if name in servers]
    pairs = [(name, AGAINST) for name in engines if AGAINST in servers]
    if THREADED in servers:
        pairs += [(name, THREADED) for name in engines]
        pairs += [(THREADED, AGAINST)] if AGAINST in servers else []
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# echo servers: {machine()}")
    print(
        f"{args.repeats} rounds x {args.duration:g} s per run, servers in a different order "
        "every round; medians over the rounds\n"
    )
    servers = {}
    try:
        for name in args.servers:
            servers[name] = start_compared(name, args.baseline)
        runs: dict[tuple[str, str], list[dict]] = {}
        failures = 0
        for round_ in range(args.repeats):
            for scenario in args.scenarios:
                size, connections = SCENARIOS[scenario]
                for name in rotated(args.servers, round_):
                    result = measure(servers[name], connections, size, args.duration)
                    failures += result["mismatches"] + result["errors"]
                    runs.setdefault((scenario, name), []).append(result)
                    print(f"  round {round_ + 1} {scenario:>7} {name:<9} "
                          f"{result['messages_per_s']:>9,.0f} msg/s "
                          f"{result['cpu_us_per_msg']:6.2f} us/msg "
                          f"p99 {result['p99_ms']:.3f} ms", file=sys.stderr)  # fmt: skip
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
                row_label(servers[name]),
                f"{m['messages_per_s']:,.0f}",
                f"{m['cpu_us_per_msg']:.2f}",
                f"{engine['cpu_us_per_msg'] / m['cpu_us_per_msg']:.2f}x",
                f"{m['p50_ms']:.3f}",
                f"{m['p99_ms']:.3f}",
            ])  # fmt: skip
        headers = ["server", "msgs/s", "CPU us/msg", "echo-tui CPU ratio", "p50 ms", "p99 ms"]
        print(table(headers, rows) + "\n")
    pairs = ratio_pairs(args.servers)
    if pairs:
        print(f"## Ratios per round: median (min-max) of {args.repeats} rounds\n")
        print(ratio_table(runs, args.scenarios, pairs))
    print("\n## Saturation: share of a core over each run (median)\n")
    print(table(SATURATION_HEADERS, saturation_rows(medians)))
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
