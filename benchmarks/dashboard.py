"""The dashboard's cost: its UI thread's CPU by terminal size, and the engine's throughput
with the dashboard live against `echo-tui --headless`.

    python benchmarks/dashboard.py [--quick] [--repeats N] [--duration S]
                                   [--sizes 80x24,...] [--scenarios 100x100,...]
                                   [--baseline DIR]

Every server runs side by side on 127.0.0.1: one dashboard per terminal size,
each in its own pseudo-terminal (the screen is read and thrown away), launched
through `ui_probe.py`, which times the callbacks of the UI thread's event loop,
and one `echo-tui --headless`.  Only the server being measured runs: the others
are stopped (SIGSTOP) in the meantime, so idle dashboards add no noise.  The
runs are interleaved, in a different order every round.

- UI cost by size: 100 B x 100 busy connections (closed loop) against the
  dashboard at each size; the UI thread's CPU (Textual's main thread, from
  /proc/PID/task/PID/schedstat) as a share of one core over the middle of the
  run, and the CPU time of its event-loop callbacks (how long it holds the GIL
  at a time).
- Throughput: each scenario against the dashboard at 200x50 and against the
  headless server in the same round; the ratio is taken per round.
- `--baseline DIR` also runs the dashboards of another checkout (say, the
  commit before a change) at every size, interleaved with this one's, and
  reports the ratio of their UI threads' CPU per round.

Figures are medians over the rounds, with the spread (min-max).  Echo
mismatches and lost connections are failures: the script exits 1.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    HERE,
    PYTHON,
    REPO,
    Server,
    add_baseline_option,
    check_baseline,
    cpu_seconds,
    exit_status,
    machine,
    rotated,
    run_load,
    start_server,
    table,
)

SIZES = {"80x24": (80, 24), "160x45": (160, 45), "250x70": (250, 70)}
SCENARIOS = {"100x1": (100, 1), "100x10": (100, 10), "100x100": (100, 100)}
THROUGHPUT_SIZE = (200, 50)
LOAD = (100, 100)  # message size and connections for the UI cost by size
UI_GOAL = 5.0  # % of a core, at every size
THROUGHPUT_GOAL = ("100x100", 0.95)
SLOW_MS = 5.0  # a callback longer than this holds the GIL past one switch interval


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round of 0.6 s")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median is reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--sizes", default=",".join(SIZES), help="terminal sizes for the UI cost")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="throughput scenarios")
    add_baseline_option(parser, "dashboards")
    args = parser.parse_args(argv)
    check_baseline(parser, args.baseline)
    if args.quick:
        args.repeats, args.duration = 1, 0.6
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in args.sizes if s not in SIZES]
    unknown += [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown size or scenario {unknown}")
    return args


@dataclass
class Dashboard:
    """A dashboard in a pseudo-terminal, and the file its UI probe writes to."""

    server: Server
    probe: Path

    def callbacks_us(self, start: float, end: float) -> list[int]:
        """CPU microseconds of the UI loop's callbacks reported between `start` and `end`."""
        durations: list[int] = []
        with open(self.probe) as lines:
            for line in lines:
                stamp, *values = line.split()
                if start < float(stamp) <= end:
                    durations += map(int, values)
        return durations


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(
    size: tuple[int, int], probe: Path, checkout: Path = REPO, timeout: float = 30.0
) -> Dashboard:
    """Run `checkout`'s dashboard, with the UI probe, in a pseudo-terminal of `size`.

    Returns once it accepts connections.
    """
    columns, rows = size
    port = free_port()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows),
           "PYTHONPATH": str(checkout)}  # fmt: skip
    process = subprocess.Popen(
        [PYTHON, str(HERE / "ui_probe.py"), str(probe), "--port", str(port)],
        stdin=slave, stdout=slave, stderr=slave, cwd=checkout, env=env, start_new_session=True,
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
                process.wait()
                raise RuntimeError(f"the dashboard at {columns}x{rows} did not start") from None
            time.sleep(0.1)
    label = f"UI in a {columns}x{rows} pty"
    return Dashboard(Server(f"{columns}x{rows}", process, "127.0.0.1", port, label), probe)  # type: ignore[arg-type]


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """CPU time used so far by one thread of `pid`."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


@dataclass
class Run:
    """One load run against one server."""

    messages_per_s: float
    cpu_us_per_msg: float  # whole server process
    failures: int  # echo mismatches, errors, or a failed load
    ui_cpu_pct: float = 0.0  # the UI thread's share of a core over the middle of the run
    process_cpu_pct: float = 0.0
    window: float = 0.0  # seconds the CPU shares and callbacks cover
    callbacks_us: list[int] = field(default_factory=list)


def measure(server: Server, size: int, connections: int, duration: float,
            dashboard: Dashboard | None = None) -> Run:  # fmt: skip
    """Drive `server` for `duration` s; sample CPU (and UI callbacks) over the middle of it.

    The load process needs a moment to start and connect: the window starts
    a quarter of the way in (0.8 s at least) and ends when the load is due to.
    """
    pid = server.pid
    result: dict = {}

    def load() -> None:
        try:
            result.update(run_load(server.port, connections, size, duration, host=server.host))
        except RuntimeError as exc:  # mismatches or lost connections make the load exit 1
            result["error"] = str(exc)

    margin = max(0.8, duration * 0.25)
    started_cpu = cpu_seconds(pid)
    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(margin)
    start, ui_start, cpu_start = time.monotonic(), thread_cpu_seconds(pid, pid), cpu_seconds(pid)
    time.sleep(max(0.1, duration - margin))
    end, ui_end, cpu_end = time.monotonic(), thread_cpu_seconds(pid, pid), cpu_seconds(pid)
    loader.join()
    used = cpu_seconds(pid) - started_cpu
    if "error" in result:
        print(f"  load failed against {server.name}: {result['error']}", file=sys.stderr)
        return Run(0.0, 0.0, failures=1)
    window = end - start
    return Run(
        messages_per_s=result["messages_per_s"],
        cpu_us_per_msg=used / max(1, result["messages"]) * 1e6,
        failures=result["mismatches"] + result["errors"],
        ui_cpu_pct=100 * (ui_end - ui_start) / window,
        process_cpu_pct=100 * (cpu_end - cpu_start) / window,
        window=window,
        callbacks_us=dashboard.callbacks_us(start, end) if dashboard else [],
    )


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """Median with the min-max range: '4.1 (3.8-4.6)'."""
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def percentile(values: Sequence[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def pct(value: float) -> str:
    return f"{value:.1f}"


def ms(value: float) -> str:
    return f"{value:.2f}"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


class Servers:
    """The servers under test; only the one being measured runs, the others are stopped."""

    def __init__(self, sizes: list[str], probes: Path, baseline: Path | None) -> None:
        self.dashboards: dict[str, Dashboard] = {}  # by size name, "baseline SIZE", "throughput"
        self.headless: Server | None = None
        try:
            wanted = {name: (SIZES[name], REPO) for name in sizes}
            if baseline is not None:
                wanted |= {f"baseline {name}": (SIZES[name], baseline) for name in sizes}
            wanted["throughput"] = (THROUGHPUT_SIZE, REPO)
            for name, (size, checkout) in wanted.items():
                probe = probes / f"{name.replace(' ', '-')}.probe"
                self.dashboards[name] = start_dashboard(size, probe, checkout.resolve())
            self.headless = start_server("echo-tui")
        except BaseException:
            self.stop()
            raise
        time.sleep(1.0)  # let the first screens render
        for server in self.all():
            os.kill(server.pid, signal.SIGSTOP)

    def all(self) -> list[Server]:
        servers = [dashboard.server for dashboard in self.dashboards.values()]
        return servers + ([self.headless] if self.headless else [])

    def measure(self, server: Server, size: int, connections: int, duration: float,
                dashboard: Dashboard | None = None) -> Run:  # fmt: skip
        os.kill(server.pid, signal.SIGCONT)
        time.sleep(0.5)  # let it catch up on the timers it missed
        try:
            run = measure(server, size, connections, duration, dashboard)
        finally:
            os.kill(server.pid, signal.SIGSTOP)
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited during the run")
        return run

    def stop(self) -> None:
        for server in self.all():
            if server.process.poll() is None:
                os.kill(server.pid, signal.SIGCONT)
            server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# dashboard cost: {machine()}")
    print(f"{args.repeats} rounds x {args.duration:g} s per run, interleaved; "
          "median (min-max) over the rounds\n")  # fmt: skip
    jobs = [("size", name) for name in args.sizes]
    if args.baseline is not None:
        jobs += [("size", f"baseline {name}") for name in args.sizes]
    jobs += [(kind, name) for name in args.scenarios for kind in ("headless", "dashboard")]
    runs: dict[tuple[str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="echo-tui-dashboard-") as probes:
        servers = Servers(args.sizes, Path(probes), args.baseline)
        try:
            for round_ in range(args.repeats):
                for kind, name in rotated(jobs, round_):
                    if kind == "size":
                        dashboard = servers.dashboards[name]
                        run = servers.measure(dashboard.server, *LOAD, args.duration, dashboard)
                        note = f"UI {run.ui_cpu_pct:5.1f}% of a core"
                    else:
                        dashboard = servers.dashboards["throughput"]
                        server = dashboard.server if kind == "dashboard" else servers.headless
                        assert server is not None
                        run = servers.measure(server, *SCENARIOS[name], args.duration)
                        note = f"{run.cpu_us_per_msg:6.2f} us/msg"
                    runs.setdefault((kind, name), []).append(run)
                    print(f"  round {round_ + 1} {kind:>9} {name:>15} "
                          f"{run.messages_per_s:>9,.0f} msg/s  {note}",
                          file=sys.stderr)  # fmt: skip
        finally:
            servers.stop()
    print(report(args, runs))
    failures = sum(run.failures for series in runs.values() for run in series)
    return exit_status(failures)


def per_round(base: list[Run], this: list[Run], field: str) -> list[float]:
    """this / base of one field, round by round (runs of the same round are side by side)."""
    pairs = [(getattr(b, field), getattr(t, field)) for b, t in zip(base, this, strict=True)]
    return [t / b if b else 0.0 for b, t in pairs]


def report(args: argparse.Namespace, runs: dict[tuple[str, str], list[Run]]) -> str:
    """The Markdown tables and the verdicts against the goals."""
    size, connections = LOAD
    out = []
    if args.sizes:
        out.append(f"## UI thread by terminal size ({size} B x {connections} connections, "
                   "closed loop, 5 refreshes/s)\n")  # fmt: skip
        names = list(args.sizes)
        if args.baseline is not None:
            names += [f"baseline {name}" for name in args.sizes]
        rows = []
        for name in names:
            series = runs[("size", name)]
            callbacks = [us for run in series for us in run.callbacks_us]
            seconds = sum(run.window for run in series)
            rows.append([
                name,
                spread([r.ui_cpu_pct for r in series], pct),
                spread([r.process_cpu_pct for r in series], pct),
                spread([r.messages_per_s for r in series], lambda v: f"{v:,.0f}"),
                f"{percentile(callbacks, 0.5) / 1000:.2f}",
                f"{percentile(callbacks, 0.99) / 1000:.2f}",
                f"{max(callbacks, default=0) / 1000:.2f}",
                f"{sum(1 for us in callbacks if us > SLOW_MS * 1000) / max(seconds, 1e-9):.1f}",
            ])  # fmt: skip
        headers = ["terminal", "UI thread % of a core", "process %", "msgs/s",
                   "callback p50 ms", "p99 ms", "max ms", f"> {SLOW_MS:g} ms per s"]  # fmt: skip
        out.append(table(headers, rows))
        if args.baseline is not None:
            ratios = [[name, spread(per_round(runs[("size", f"baseline {name}")],
                                              runs[("size", name)], "ui_cpu_pct"), ratio)]
                      for name in args.sizes]  # fmt: skip
            out.append(f"\nUI thread CPU, this checkout / {args.baseline}, per round:\n")
            out.append(table(["terminal", "UI CPU ratio"], ratios))
        worst = max(statistics.median(r.ui_cpu_pct for r in runs[("size", n)]) for n in args.sizes)
        verdict = "met" if worst <= UI_GOAL else "missed"
        out.append(f"\nGoal: at most {UI_GOAL:g} % of a core at every size: {verdict} "
                   f"(worst median {worst:.1f} %).\n")  # fmt: skip
    if args.scenarios:
        columns, rows_ = THROUGHPUT_SIZE
        out.append(f"## Throughput with the dashboard live ({columns}x{rows_}) / --headless\n")
        rows = []
        for name in args.scenarios:
            bare, live = runs[("headless", name)], runs[("dashboard", name)]
            rows.append([
                name,
                spread([r.messages_per_s for r in bare], lambda v: f"{v:,.0f}"),
                spread([r.messages_per_s for r in live], lambda v: f"{v:,.0f}"),
                spread(per_round(bare, live, "messages_per_s"), ratio),
                spread(per_round(bare, live, "cpu_us_per_msg"), ratio),
            ])  # fmt: skip
        headers = ["scenario", "headless msgs/s", "dashboard msgs/s", "throughput ratio",
                   "CPU/msg ratio"]  # fmt: skip
        out.append(table(headers, rows))
        goal_scenario, goal = THROUGHPUT_GOAL
        if goal_scenario in args.scenarios:
            bare, live = runs[("headless", goal_scenario)], runs[("dashboard", goal_scenario)]
            median = statistics.median(per_round(bare, live, "messages_per_s"))
            verdict = "met" if median >= goal else "missed"
            out.append(f"\nGoal: throughput ratio at least {goal:.2f}x at {goal_scenario}: "
                       f"{verdict} ({median:.2f}x).")  # fmt: skip
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
