"""Shared pieces of the benchmark scripts: servers as subprocesses, CPU/RSS probes, load runs."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
LISTENING = re.compile(r"^listening on \[?(.+?)\]?:(\d+) \((.+)\)$")

ENGINE_COMMAND = [PYTHON, "-m", "echo_tui", "--headless", "--port", "0"]
REFERENCE_KINDS = ("buffered", "threaded", "protocol", "streams", "classic")
# One load process: it keeps up with a uvloop client (load_generator.py), and on
# two cores it leaves the other one to the server.
LOAD_PROCESSES = 1
SATURATED = 0.9  # share of a core from which a process is taken as saturated


def add_baseline_option(parser: argparse.ArgumentParser, what: str = "engine") -> None:
    """--baseline DIR: another checkout, run beside this one for a before/after."""
    parser.add_argument(
        "--baseline", type=Path, help=f"also run the {what} of this checkout, as `baseline`"
    )


def check_baseline(parser: argparse.ArgumentParser, baseline: Path | None) -> None:
    """Refuse a --baseline that holds no echo_tui package."""
    if baseline is not None and not (baseline / "echo_tui" / "__main__.py").is_file():
        parser.error(f"--baseline {baseline}: no echo_tui package there")


def start_compared(name: str, baseline: Path | None) -> Server:
    """Start server `name`: a reference kind, "echo-tui", or "baseline" (the engine of
    the --baseline checkout)."""
    if name == "baseline":
        checkout = baseline.resolve()  # type: ignore[union-attr]
        return start_server(name, cwd=checkout, command=server_command("echo-tui"))
    return start_server(name)


def row_label(server: Server) -> str:
    """A server's name in result tables: reference servers say what they run."""
    return f"{server.name} ({server.label})" if server.name in REFERENCE_KINDS else server.name


def server_command(name: str, *extra: str) -> list[str]:
    """The command that starts server `name` ("echo-tui" or a reference kind) on port 0."""
    if name == "echo-tui":
        return [*ENGINE_COMMAND, *extra]
    if name in REFERENCE_KINDS:
        return [PYTHON, str(HERE / "reference_servers.py"), name, "--port", "0", *extra]
    raise ValueError(f"unknown server {name!r}")


@dataclass
class Server:
    """A running server subprocess and the address it announced."""

    name: str
    process: subprocess.Popen[str]
    host: str
    port: int
    label: str  # what the server called itself, e.g. "EpollSelector"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Terminate and reap the server."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    name: str,
    *extra: str,
    timeout: float = 15.0,
    cwd: Path = REPO,
    command: list[str] | None = None,
) -> Server:
    """Start server `name` (or run `command`, named `name`) and wait for its
    `listening on HOST:PORT (...)` line.

    `cwd` is where `python -m echo_tui` imports echo-tui from: another checkout
    runs that version of the engine.
    """
    process = subprocess.Popen(
        command or server_command(name, *extra), stdout=subprocess.PIPE, text=True, cwd=cwd
    )
    lines: list[str] = []
    got_line = threading.Event()

    def drain() -> None:  # read the first line, then keep the pipe from filling up
        for line in process.stdout:  # type: ignore[union-attr]
            if not lines:
                lines.append(line.strip())
                got_line.set()
        got_line.set()

    threading.Thread(target=drain, daemon=True).start()
    if not got_line.wait(timeout) or not lines or not (match := LISTENING.match(lines[0])):
        process.kill()
        process.wait()
        raise RuntimeError(f"{name} did not announce its address: {lines[:1]}")
    return Server(name, process, match[1], int(match[2]), match[3])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by every thread of `pid`, ns resolution."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return total / 1e9


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def run_load(
    port: int,
    connections: int,
    size: int,
    duration: float,
    host: str = "127.0.0.1",
    processes: int = LOAD_PROCESSES,
) -> dict:
    """Run `echo-tui load --json` in its own process(es) and return its summary."""
    command = [PYTHON, "-m", "echo_tui.tools.load", "--host", host, "--port", str(port)]
    command += ["--connections", str(connections), "--size", str(size)]
    command += ["--duration", str(duration), "--processes", str(processes), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=duration + 60)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"load failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def measure(server: Server, connections: int, size: int, duration: float) -> dict:
    """One load run against `server`: its CPU time per echoed message, and who was saturated.

    `load_core` and `server_core` are the share of one core each process used over
    the run (CPU seconds / the run's duration); see `saturated`.
    """
    before = cpu_seconds(server.pid)
    summary = run_load(server.port, connections, size, duration, host=server.host)
    used = cpu_seconds(server.pid) - before
    messages = max(1, summary["messages"])
    return {
        "messages_per_s": summary["messages_per_s"],
        "cpu_us_per_msg": used / messages * 1e6,
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "load_core": load_core(summary),
        "server_core": used / max(summary["duration"], 1e-9),
        "mismatches": summary["mismatches"],
        "errors": summary["errors"],
    }


def load_core(summary: dict) -> float:
    """The share of one core each load process used, from `echo-tui load --json`'s summary."""
    return summary["cpu_s"] / max(summary["duration"], 1e-9) / summary["processes"]


def saturated(load_core: float, server_core: float) -> str:
    """Which side ran out of CPU: a process at SATURATED of a core or more is the bottleneck.

    "neither" means both waited: on a shared machine, other work had the cores.
    """
    sides = [name for name, core in (("server", server_core), ("load", load_core))
             if core >= SATURATED]  # fmt: skip
    return " and ".join(sides) or "neither"


def saturation_rows(medians: dict[tuple[str, str], dict]) -> list[list[str]]:
    """Table rows per (scenario, server): each side's share of a core and which one saturated."""
    return [
        [scenario, name, f"{m['load_core']:.0%}", f"{m['server_core']:.0%}",
         saturated(m["load_core"], m["server_core"])]
        for (scenario, name), m in medians.items()
    ]  # fmt: skip


SATURATION_HEADERS = ["scenario", "server", "load generator CPU", "server CPU", "saturated"]


def median_of(runs: Sequence[dict]) -> dict:
    """Per-field median of several runs."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def rotated(names: Sequence[str], round_: int) -> list[str]:
    """`names` in a different order each round: rotated, and reversed every other round."""
    shift = round_ % len(names)
    order = [*names[shift:], *names[:shift]]
    return order[::-1] if round_ % 2 else order


def machine() -> str:
    """One line naming the date, CPU, core count, kernel and Python."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return (
        f"{time.strftime('%Y-%m-%d')}, {model}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: first column left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = (str(c) for c in cells)
        padded = [first.ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "-" * (widths[0] + 2) + "|" + "|".join("-" * (w + 1) + ":" for w in widths[1:])
    return "\n".join([line(headers), rule + "|", *(line(row) for row in rows)])


def exit_status(failures: int) -> int:
    """A script's exit status: 0, or 1 after saying how many mismatches and errors there were."""
    if failures:
        print(f"\n{failures} mismatches/errors during the runs", file=sys.stderr)
        return 1
    return 0
