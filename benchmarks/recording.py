"""What `--record` costs: the server's CPU per message with and without it, and file sizes.

    python benchmarks/recording.py [--quick] [--repeats N] [--duration S]

Two headless servers run side by side, one recording to a gzip file; each round
drives both in turn (in alternating order) with `echo-tui load` at 100 B x 100
and 100 B x 10 connections, and reports the median of the server process's CPU
(all threads: the engine and the recorder's writer) per echoed message, and the
ratio.  Then the size of a recording per minute, plain and gzip, with
`--demo 20` and with 100 busy clients.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import exit_status, machine, measure, rotated, run_load, start_server, table

SCENARIOS = ((100, 100), (100, 10))
GOAL = 1.03


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.3 s")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 1, 0.3
    return args


def cpu_ratio(args: argparse.Namespace, scratch: Path) -> int:
    servers = {
        "plain": start_server("echo-tui"),
        "--record": start_server("echo-tui", "--record", str(scratch / "cpu.jsonl.gz")),
    }
    runs: dict[tuple[int, str], list[float]] = {}
    failures = 0
    try:
        for round_ in range(args.repeats):
            for size, connections in SCENARIOS:
                for name in rotated(list(servers), round_):
                    result = measure(servers[name], connections, size, args.duration)
                    failures += result["mismatches"] + result["errors"]
                    runs.setdefault((connections, name), []).append(result["cpu_us_per_msg"])
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    for size, connections in SCENARIOS:
        plain, recording = runs[(connections, "plain")], runs[(connections, "--record")]
        ratios = [r / p for r, p in zip(recording, plain, strict=True)]
        rows.append([
            f"{size} B x {connections}",
            f"{statistics.median(plain):.2f}",
            f"{statistics.median(recording):.2f}",
            f"{statistics.median(ratios):.3f}x ({min(ratios):.3f}-{max(ratios):.3f})",
        ])  # fmt: skip
    print(f"## Server CPU per message, --record vs not (goal <= {GOAL:.2f}x)\n")
    print(table(["scenario", "plain us/msg", "--record us/msg", "ratio (range)"], rows) + "\n")
    return failures


def sizes(args: argparse.Namespace, scratch: Path) -> None:
    seconds = 2.0 if args.quick else 20.0
    rows = []
    for label, extra in (("--demo 20", ["--demo", "20"]), ("100 busy clients", [])):
        row = [label]
        for suffix in (".jsonl", ".jsonl.gz"):
            path = scratch / f"size-{len(extra)}{suffix}"
            server = start_server("echo-tui", "--record", str(path), *extra)
            try:
                if extra:
                    time.sleep(seconds)
                else:
                    run_load(server.port, 100, 100, seconds)
            finally:
                server.stop()
            row.append(f"{path.stat().st_size / seconds * 60 / 2**20:.1f} MiB")
        rows.append(row)
    print(f"## Recording size per minute ({seconds:g} s recorded each)\n")
    print(table(["session", "plain JSON Lines", "gzip"], rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# --record: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, median reported\n")
    with tempfile.TemporaryDirectory() as scratch:
        failures = cpu_ratio(args, Path(scratch))
        sizes(args, Path(scratch))
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
