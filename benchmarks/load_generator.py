"""`echo-tui load` (one process) against a uvloop reference client, on the C epoll echo server.

    python benchmarks/load_generator.py [--quick] [--repeats N] [--duration S]
                                        [--scenarios 100x10,100x100]
                                        [--reference-python PY] [--bench-dir DIR]

The yardsticks live outside the project, in `shared/bench` beside the checkout
(found by walking up from it, or given with --bench-dir): `c_epoll_echo.c`, a
single-threaded C epoll echo server (built here with `cc -O2` into a temporary
directory), and `loadclient.py`, a closed-loop client on uvloop.  uvloop is not
a dependency of echo-tui: pass --reference-python, a Python that can import it
(`python -m venv "$d/ref" && "$d/ref/bin/pip" install uvloop`); without it the
reference is skipped, with a message, and only `echo-tui load` runs.  Without
a C compiler or the C source, the `buffered` Python reference server stands in.

Both clients drive the same server, closed loop (one message in flight per
connection), one at a time, in a different order every round.  Reported per
scenario: medians over the rounds with the spread (min-max) of messages/s,
client CPU per message, each side's share of a core and p50/p99 latency, and
the ratio of `echo-tui load`'s messages/s to the reference's, taken per round,
and the inverse ratio of their CPU per message: the throughput ratio each would
reach with a core to itself, steadier when other work shares the machine.
`echo-tui load` verifies every echo byte for byte; the reference only counts
bytes.  Mismatches or lost connections make the script exit 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    PYTHON,
    REPO,
    Server,
    cpu_seconds,
    exit_status,
    load_core,
    machine,
    rotated,
    run_load,
    saturated,
    start_server,
    table,
)

SCENARIOS = {"100x10": (100, 10), "100x100": (100, 100)}
GOAL = 0.8  # echo-tui load's messages/s / the reference's, at least
LOAD = "echo-tui load"
REFERENCE = "uvloop reference"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.3 s")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--reference-python", default=PYTHON, help="a Python with uvloop")
    parser.add_argument("--bench-dir", type=Path, default=None, help="where the yardsticks are")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.3
    args.scenarios = args.scenarios.split(",")
    if unknown := [s for s in args.scenarios if s not in SCENARIOS]:
        parser.error(f"unknown scenario {unknown}")
    if args.bench_dir is None:
        found = (parent / "shared" / "bench" for parent in REPO.parents)
        args.bench_dir = next((path for path in found if path.is_dir()), None)
    return args


def start_c_server(source: Path, build_dir: Path, timeout: float = 10.0) -> Server:
    """Build the C epoll echo server and start it on a free port of 127.0.0.1."""
    binary = build_dir / "c_epoll_echo"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(source)], check=True, timeout=60)
    with socket.socket() as probe:  # the C server takes a port number, not 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(binary), str(port)], text=True)
    server = Server("c-epoll", process, "127.0.0.1", port, "C epoll")
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the C echo server did not start on port {port}")


def start_yardstick_server(bench_dir: Path | None, build_dir: Path) -> tuple[Server, str]:
    """The C server if it can be built, else the buffered Python server; and a note why."""
    source = bench_dir / "c_epoll_echo.c" if bench_dir else None
    if source is None or not source.is_file():
        missing = "no shared/bench/c_epoll_echo.c found (see --bench-dir)"
    elif shutil.which("cc") is None:
        missing = "no C compiler (cc)"
    else:
        return start_c_server(source, build_dir), ""
    return start_server("buffered"), f"{missing}: the buffered Python server stands in"


def reference_client(args: argparse.Namespace) -> tuple[Path | None, str]:
    """The reference client's script if it can run here, else None and why not."""
    script = args.bench_dir / "loadclient.py" if args.bench_dir else None
    if script is None or not script.is_file():
        return None, "no shared/bench/loadclient.py found (see --bench-dir)"
    probe = subprocess.run(
        [args.reference_python, "-c", "import uvloop"], capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        return None, (
            f"{args.reference_python} cannot import uvloop; give --reference-python a Python "
            'that can (python -m venv "$d/ref" && "$d/ref/bin/pip" install uvloop)'
        )
    return script, ""


def run_echo_tui_load(server: Server, size: int, connections: int, duration: float) -> dict:
    """One `echo-tui load --processes 1` run."""
    summary = run_load(server.port, connections, size, duration, host=server.host, processes=1)
    return {
        "messages_per_s": summary["messages_per_s"],
        "client_us_per_msg": summary["cpu_s"] / max(1, summary["messages"]) * 1e6,
        "client_core": load_core(summary),
        "duration": summary["duration"],
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "failures": summary["mismatches"] + summary["errors"],
    }


def run_reference(
    python: str, script: Path, server: Server, size: int, connections: int, duration: float
) -> dict:
    """One run of the uvloop reference client, measured from its first message as ours is."""
    command = [python, str(script), "--host", server.host, "--port", str(server.port)]
    command += ["--conns", str(connections), "--size", str(size)]
    command += ["--duration", str(duration), "--warmup", "0", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"reference client failed ({done.returncode}): {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    return {
        "messages_per_s": summary["msgs_per_s"],
        "client_us_per_msg": summary["client_cpu_s"] / max(1, summary["msgs"]) * 1e6,
        "client_core": summary["client_cpu_s"] / max(summary["duration"], 1e-9),
        "duration": summary["duration"],
        "p50_ms": (summary["p50_us"] or 0) / 1000,
        "p99_ms": (summary["p99_us"] or 0) / 1000,
        "failures": summary["errors"] + summary["stalled"],
    }


def run_client(
    client: str, args: argparse.Namespace, reference: Path | None, server: Server, scenario: str
) -> dict:
    """One run of `client` against `server`, with the server's share of a core over it."""
    size, connections = SCENARIOS[scenario]
    before = cpu_seconds(server.pid)
    if client == LOAD:
        result = run_echo_tui_load(server, size, connections, args.duration)
    else:
        assert reference is not None
        result = run_reference(
            args.reference_python, reference, server, size, connections, args.duration
        )
    result["server_core"] = (cpu_seconds(server.pid) - before) / max(result["duration"], 1e-9)
    return result


def spread(values: Sequence[float], form: str) -> str:
    """The median with the range, e.g. `41,000 (37,500-44,100)`."""
    return (
        f"{format(statistics.median(values), form)} "
        f"({format(min(values), form)}-{format(max(values), form)})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reference, why_not = reference_client(args)
    print(f"# echo-tui load against a uvloop client: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, interleaved; median (min-max)\n")
    if reference is None:
        print(f"reference skipped: {why_not}\n")
    clients = [LOAD, REFERENCE] if reference else [LOAD]
    runs: dict[tuple[str, str], list[dict]] = {}
    failures = 0
    with tempfile.TemporaryDirectory() as build_dir:
        server, note = start_yardstick_server(args.bench_dir, Path(build_dir))
        try:
            if note:
                print(f"server: {note}\n")
            for round_ in range(args.repeats):
                for scenario in args.scenarios:
                    for client in rotated(clients, round_):
                        result = run_client(client, args, reference, server, scenario)
                        failures += result["failures"]
                        runs.setdefault((scenario, client), []).append(result)
                        print(f"  round {round_ + 1} {scenario:>7} {client:<16} "
                              f"{result['messages_per_s']:>9,.0f} msg/s "
                              f"client {result['client_core']:4.0%} "
                              f"server {result['server_core']:4.0%}", file=sys.stderr)  # fmt: skip
        finally:
            server.stop()
    print_results(args, server, runs)
    return exit_status(failures)


def print_results(args: argparse.Namespace, server: Server, runs: dict) -> None:
    """Per scenario: both clients side by side, then the per-round ratio against the goal."""
    for scenario in args.scenarios:
        size, connections = SCENARIOS[scenario]
        print(f"## {size} B x {connections} connections, {server.label} server\n")
        rows = []
        for client in (LOAD, REFERENCE):
            if not (results := runs.get((scenario, client))):
                continue
            column = {key: [r[key] for r in results] for key in results[0]}
            median = {key: statistics.median(values) for key, values in column.items()}
            rows.append([
                client,
                spread(column["messages_per_s"], ",.0f"),
                spread(column["client_us_per_msg"], ".2f"),
                f"{median['client_core']:.0%}",
                f"{median['server_core']:.0%}",
                saturated(median["client_core"], median["server_core"]),
                f"{median['p50_ms']:.3f}",
                f"{median['p99_ms']:.3f}",
            ])  # fmt: skip
        headers = ["client", "msgs/s", "client CPU us/msg", "client CPU", "server CPU",
                   "saturated", "p50 ms", "p99 ms"]  # fmt: skip
        print(table(headers, rows) + "\n")
        if (scenario, REFERENCE) in runs:
            pairs = list(zip(runs[(scenario, LOAD)], runs[(scenario, REFERENCE)], strict=True))
            rates = [ours["messages_per_s"] / max(theirs["messages_per_s"], 1e-9)
                     for ours, theirs in pairs]  # fmt: skip
            costs = [theirs["client_us_per_msg"] / max(ours["client_us_per_msg"], 1e-9)
                     for ours, theirs in pairs]  # fmt: skip
            verdict = "met" if statistics.median(rates) >= GOAL else "missed"
            print(
                f"- echo-tui load / reference msgs/s, per round: {spread(rates, '.2f')}x "
                f"(goal >= {GOAL}x: {verdict})"
            )
            print(
                f"- reference / echo-tui load client CPU per message, per round: "
                f"{spread(costs, '.2f')}x (the msgs/s ratio if each had a core of its own)\n"
            )


if __name__ == "__main__":
    sys.exit(main())
