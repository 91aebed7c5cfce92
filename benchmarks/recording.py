"""What `--record` costs: the server's CPU per message with and without it, and file sizes.

    python benchmarks/recording.py [--quick] [--repeats N] [--duration S]

Two headless servers run side by side, one recording to a gzip file; each round
drives both in turn (in alternating order) with `echo-tui load` at 100 B x 100
and 100 B x 10 connections, and reports the median of the server process's CPU
(all threads: the engine and the recorder's writer) per echoed message, and the
ratio.  Then the size of a recording per minute, plain and gzip, with
`--demo 20` and with 100 busy clients; and the memory a replay of 10 minutes
of those busy clients takes (the recording repeated to that length).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    PYTHON,
    REPO,
    exit_status,
    machine,
    measure,
    rotated,
    run_load,
    start_server,
    table,
)

SCENARIOS = ((100, 100), (100, 10))
GOAL = 1.03
REPLAY_MINUTES = 10
# A replay process: read the recording, seek about, play it all through; its peak RSS.
REPLAY_PROBE = """
import resource, sys, time
from echo_tui.recordings.playback import ReplayChannel
from echo_tui.recordings.timeline import Timeline
timeline = Timeline(sys.argv[1])
now = [0.0]
channel = ReplayChannel(timeline, clock=lambda: now[0])
seeks = []
for share in (0.9, 0.3, 0.6, 1.0, 0.05):
    channel.seek(timeline.duration * share)
    started = time.perf_counter()
    channel.drain()
    seeks.append(time.perf_counter() - started)
while not channel.at_end:
    now[0] += 1.0
    channel.drain()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, max(seeks))
"""


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


def sizes(args: argparse.Namespace, scratch: Path) -> Path:
    """Print the sizes; return the plain recording of the busy clients."""
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
    print(table(["session", "plain JSON Lines", "gzip"], rows) + "\n")
    return scratch / "size-0.jsonl"


def replay_memory(recording: Path, minutes: float, scratch: Path) -> None:
    """The peak RSS a replay of `minutes` of `recording` (repeated) adds to an empty one's."""
    header, *lines = recording.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    span = max(record["t"] for record in records) + 0.1
    generated, empty = scratch / "replay.jsonl", scratch / "empty.jsonl"
    empty.write_text(header + "\n")
    with generated.open("w") as out:
        out.write(header + "\n")
        for repeat in range(int(minutes * 60 / span) + 1):
            for record in records:
                record = {**record, "t": round(record["t"] + repeat * span, 6)}
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
    (base, _), (peak, seek) = (probe(empty), probe(generated))
    size = generated.stat().st_size / 2**20
    print(f"## Replay memory ({minutes:g} min of 100 busy clients: {size:.0f} MiB of JSON Lines)\n")
    print(f"replay-memory: +{(peak - base) / 1024:.1f} MiB peak RSS over an empty replay")
    print(f"(empty: {base / 1024:.1f} MiB); slowest of 5 seeks {seek * 1000:.0f} ms")


def probe(recording: Path) -> tuple[int, float]:
    """A replay process's peak RSS (KiB) and its slowest seek (s)."""
    result = subprocess.run(
        [PYTHON, "-c", REPLAY_PROBE, str(recording)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    peak, seek = result.stdout.split()
    return int(peak), float(seek)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# --record: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, median reported\n")
    with tempfile.TemporaryDirectory() as scratch:
        failures = cpu_ratio(args, Path(scratch))
        busy = sizes(args, Path(scratch))
        replay_memory(busy, 1 if args.quick else REPLAY_MINUTES, Path(scratch))
    return exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())
